"""Board descriptions, linker scripts, memory budget, and offline PlatformIO builds of every
real board (the right memory map in the ELF)."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tiny import paths
from tiny.boards import DEFAULT_BOARD, get_board, list_boards
from tiny.build.pio import build, project_envs
from tiny.build.project import (check_budget, compile_elf, render_linker_script, write_project)
from tiny.build.provision import board_json
from tiny.ir import TinyError
from tests.device.fixtures.board_helpers import FIXTURES

REAL = [b for b in list_boards() if not b.emulated and not b.is_host]
ARM = [b for b in list_boards() if not b.is_host]


def test_boards_load() -> None:
    boards = list_boards()
    names = [b.name for b in boards]
    assert names[0] == DEFAULT_BOARD and len(set(names)) == len(names)
    for want in ("qemu-m4-256k", "qemu-f746", "qemu-f405", "qemu-m33", "qemu-m3", "nucleo_f746zg",
                 "nucleo_h743zi", "disco_f746ng", "nucleo_f411re", "nano33ble", "host"):
        assert want in names
    for b in boards:
        j = b.as_json()
        assert {"name", "core", "sram_bytes", "flash_bytes", "emulated"} <= set(j)
        json.dumps(j)
        if not b.is_host:
            assert b.fpu in ("none", "fpv4-sp-d16", "fpv5-d16", "fpv5-sp-d16")
            assert (b.qemu_machine != "") == b.emulated
            assert b.emulated or b.pio_board
    assert get_board("qemu-m4-256k").sram_bytes == 256 * 1024
    assert get_board("qemu-f405").sram_bytes == 128 * 1024


def test_unknown_board_lists_names() -> None:
    with pytest.raises(TinyError, match="qemu-m4-256k.*nucleo_f746zg"):
        get_board("no-such-board")


def test_platform_board_jsons_match_tomls() -> None:
    for b in ARM:
        path = Path(paths.BOARDS) / "platform" / "boards" / f"{b.local_board_id}.json"
        assert json.loads(path.read_text()) == board_json(b), (
            f"{path} is stale: python -m tiny.build.provision --write-board-jsons")


@pytest.mark.parametrize("board", ARM, ids=lambda b: b.name)
def test_linker_regions_match_toml(board) -> None:
    ld = render_linker_script(board)
    assert f"FLASH (rx)  : ORIGIN = 0x{board.flash_origin:08X}, LENGTH = {board.flash_bytes}" in ld
    assert f"RAM   (rwx) : ORIGIN = 0x{board.ram_origin:08X}, LENGTH = {board.sram_bytes}" in ld


def test_budget_error_message() -> None:
    b = get_board("nucleo_f411re")
    est = check_budget(b, {"arena_bytes": 50_000, "weights_bytes": 100_000, "io_bytes": 1000})
    assert est["sram_needed"] < est["sram_available"]
    with pytest.raises(TinyError) as e:
        check_budget(b, {"arena_bytes": 200_000, "weights_bytes": 10_000, "io_bytes": 1000})
    msg = str(e.value)
    assert "131072" in msg and "--schedule patch" in msg and "nucleo_f411re" in msg
    assert re.search(r"needs \d+ bytes", msg)
    with pytest.raises(TinyError, match="flash: needs .* has 524288"):
        check_budget(b, {"arena_bytes": 1000, "weights_bytes": 600_000, "io_bytes": 0})


def test_write_project_checks_budget_first(tmp_path: Path) -> None:
    with pytest.raises(TinyError, match="does not fit"):
        write_project(tmp_path / "p", {"model.c": ""}, [get_board("qemu-m3")],
                      {"arena_bytes": 10**6, "weights_bytes": 0, "io_bytes": 0})
    assert not (tmp_path / "p" / "platformio.ini").exists()


def test_linker_rejects_sram_overflow(tmp_path: Path) -> None:
    b = get_board("nucleo_f411re")
    src = [FIXTURES / "board_echo_main.c", FIXTURES / "board_big_bss.c"]
    flags = ["-O2", "-Wl,--undefined=tiny_big_bss"]
    compile_elf(b, src, tmp_path / "ok.elf", defines=["BIG_BYTES=100000"], opt=flags)
    with pytest.raises(TinyError, match="SRAM overflow"):
        compile_elf(b, src, tmp_path / "big.elf", defines=["BIG_BYTES=125000"], opt=flags)


@pytest.fixture(scope="module")
def real_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("real-boards")
    model = (FIXTURES / "board_stub_model.c").read_text()
    return write_project(out, {"model.c": model}, REAL,
                         {"arena_bytes": 32, "weights_bytes": 0, "io_bytes": 32})


def _sections(elf: Path) -> dict[str, tuple[int, int]]:
    out = subprocess.run(["arm-none-eabi-readelf", "-SW", str(elf)], capture_output=True,
                         text=True, check=True).stdout
    secs = {}
    for m in re.finditer(r"\]\s+(\.\S+)\s+\S+\s+([0-9a-f]{8})\s+[0-9a-f]+\s+([0-9a-f]+)", out):
        secs[m.group(1)] = (int(m.group(2), 16), int(m.group(3), 16))
    return secs


def test_real_boards_build_offline(real_project: Path) -> None:
    envs = project_envs(real_project)
    for b in REAL:
        assert f"tiny-{b.name}" in envs and b.name in envs
    ini = (real_project / "platformio.ini").read_text()
    assert "platform = ststm32" in ini and "platform = nordicnrf52" in ini
    # One pio invocation for all offline envs (the project's default_envs).
    build(real_project, None)
    for b in REAL:
        elf = real_project / ".pio" / "build" / f"tiny-{b.name}" / "firmware.elf"
        assert elf.exists(), b.name
        s = _sections(elf)
        assert s[".isr_vector"][0] == b.flash_origin, b.name
        text_end = s[".text"][0] + s[".text"][1]
        assert b.flash_origin <= s[".text"][0] and text_end <= b.flash_origin + b.flash_bytes
        assert s[".bss"][0] >= b.ram_origin
        stack_addr, stack_size = s[".stack"]
        assert stack_size == b.stack_bytes
        assert stack_addr + stack_size == b.ram_origin + b.sram_bytes, b.name
        attrs = subprocess.run(["arm-none-eabi-readelf", "-A", str(elf)], capture_output=True,
                               text=True, check=True).stdout
        assert "Tag_ABI_VFP_args: VFP registers" in attrs, b.name  # hard-float ABI
