"""Real boards through the same commands: full-clock set-up (register sequences checked against a
model of the peripherals, the timeout fallback on QEMU), portable PlatformIO projects, `tiny flash`
env choice, and --port end to end with QEMU standing in for a flashed board behind socket://."""
from __future__ import annotations

import dataclasses
import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import models
from tests.device.fixtures.board_helpers import FIXTURES, runtime_sources
from tests.unit.test_cli import tiny
from tiny import paths
from tiny.boards import get_board, list_boards
from tiny.build.project import compile_elf, write_board_files, write_project
from tiny.ir import TinyError

REAL = [b for b in list_boards() if not b.emulated and not b.is_host]
FW = Path(paths.FIRMWARE)


# -- clock set-up against a register model --------------------------------------------------------
def _clock_log(board: str, tmp: Path, *args: str) -> tuple[list[tuple[int, int, int]], list[str], int, int]:
    """Run the board's clock init on the host against tests/device/fixtures/clock_sim.c.
    Returns (writes (addr, old, new) in order, event lines, core Hz, UART clock Hz)."""
    b = get_board(board)
    d = write_board_files(b, tmp / board)
    src = FW / "src" / "boards" / ("nrf52/uart.c" if b.family == "nrf52" else "stm32/clock.c")
    exe = d / "clock_sim"
    subprocess.run(["gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", f"-I{d}", f"-I{FW / 'include'}",
                    "-DTINY_REG(a)=(*sim_reg(a))", "-include", "stdint.h",
                    "-include", str(FIXTURES / "clock_sim.h"), str(FIXTURES / "clock_sim.c"), str(src),
                    "-o", str(exe)], check=True, capture_output=True, text=True)
    out = subprocess.run([str(exe), *args], check=True, capture_output=True, text=True).stdout.split("\n")
    writes = [tuple(int(v, 16) for v in ln.split()[1:]) for ln in out if ln.startswith("W ")]
    core = int(next(ln for ln in out if ln.startswith("core ")).split()[1])
    uart = int(next(ln for ln in out if ln.startswith("uart ")).split()[1])
    return writes, out, core, uart


def _first(writes, addr: int, pred=lambda old, new: True) -> int:
    """Index of the first write to addr satisfying pred(old, new)."""
    return next(i for i, (a, o, n) in enumerate(writes) if a == addr and pred(o, n))


def _bits(v: int, hi: int, lo: int) -> int:
    return (v >> lo) & ((1 << (hi - lo + 1)) - 1)


@pytest.mark.parametrize("board,core_hz,uart_hz", [("nucleo_f746zg", 216_000_000, 54_000_000),
                                                   ("disco_f746ng", 216_000_000, 108_000_000),
                                                   ("nucleo_f411re", 100_000_000, 50_000_000)])
def test_stm32f4_f7_clock_sequence(board: str, core_hz: int, uart_hz: int, tmp_path: Path) -> None:
    RCC_CR, PLLCFGR, CFGR, PWR_CR, ACR = 0x40023800, 0x40023804, 0x40023808, 0x40007000, 0x40023C00
    w, out, core, uart = _clock_log(board, tmp_path)
    assert (core, uart) == (core_hz, uart_hz)
    c = get_board(board).clock
    vos = _first(w, PWR_CR, lambda o, n: _bits(n, 15, 14) == 3)          # scale 1 ...
    pllon = _first(w, RCC_CR, lambda o, n: n >> 24 & 1)
    assert vos < pllon                                                   # ... while the PLL is off
    cfg = w[_first(w, PLLCFGR)][2]
    assert (_bits(cfg, 5, 0), _bits(cfg, 14, 6), _bits(cfg, 17, 16), _bits(cfg, 22, 22), _bits(cfg, 27, 24)) == \
        (c.pll_m, c.pll_n, c.pll_p // 2 - 1, 0, c.pll_q)
    assert cfg >> 29 & 1                                                 # reserved reset bit kept
    latency = _first(w, ACR, lambda o, n: n & 0xF == c.flash_wait_states)
    prescale = _first(w, CFGR, lambda o, n: _bits(n, 12, 10) == {1: 0, 2: 4, 4: 5}[c.apb1_div])
    switch = _first(w, CFGR, lambda o, n: n & 3 == 2)
    assert pllon < latency < switch and prescale < switch                # slow flash / buses first
    if c.overdrive:                                                      # F7 over-drive: ODEN, then ODSWEN
        oden = _first(w, PWR_CR, lambda o, n: n >> 16 & 1)
        odsw = _first(w, PWR_CR, lambda o, n: n >> 17 & 1)
        assert pllon < oden < odsw < latency
    if get_board(board).family == "stm32f7":
        assert w[latency][2] >> 9 & 1 and out.index("C caches") > 0      # ART + M7 caches after
    else:
        assert _bits(w[latency][2], 10, 8) == 7                          # prefetch + I/D caches


@pytest.mark.parametrize("rev,core_hz,n", [("revv", 480_000_000, 60), ("revy", 400_000_000, 50)])
def test_stm32h7_clock_sequence(rev: str, core_hz: int, n: int, tmp_path: Path) -> None:
    CR3, D3CR, PWRCR, DIVR, RCC_CR, CFGR, ACR, D1CFGR = (0x5802480C, 0x58024818, 0x5800042C, 0x58024430,
                                                        0x58024400, 0x58024410, 0x52002000, 0x58024418)
    w, out, core, uart = _clock_log("nucleo_h743zi", tmp_path, "lock", rev)
    assert (core, uart) == (core_hz, core_hz // 4)                       # AHB /2, APB1 /2
    supply = _first(w, CR3)
    assert w[supply][2] & 7 == 0b010                                     # LDO, SCUEN cleared
    vos1 = _first(w, D3CR, lambda o, nv: _bits(nv, 15, 14) == 3)
    divr = _first(w, DIVR)
    assert (_bits(w[divr][2], 8, 0) + 1, _bits(w[divr][2], 15, 9) + 1) == (n, 2)
    pllon = _first(w, RCC_CR, lambda o, nv: nv >> 24 & 1)
    latency = _first(w, ACR, lambda o, nv: nv & 0xF == 4 and _bits(nv, 5, 4) == 2)
    hpre = _first(w, D1CFGR, lambda o, nv: nv & 0xF == 8)
    switch = _first(w, CFGR, lambda o, nv: nv & 7 == 3)
    assert supply < vos1 < divr < pllon < latency < hpre < switch
    if rev == "revv":                                                    # VOS0 = VOS1 + SYSCFG over-drive
        assert vos1 < _first(w, PWRCR, lambda o, nv: nv & 1) < pllon
    else:
        assert not any(a == PWRCR for a, _, _ in w)
    assert "C caches" in out


@pytest.mark.parametrize("board,reset_hz", [("nucleo_f746zg", 16_000_000), ("nucleo_h743zi", 64_000_000)])
def test_pll_that_never_locks_falls_back_to_the_reset_clock(board: str, reset_hz: int, tmp_path: Path) -> None:
    w, out, core, uart = _clock_log(board, tmp_path, "nolock")
    assert (core, uart) == (reset_hz, reset_hz)
    flash_acr = 0x40023C00 if board != "nucleo_h743zi" else 0x52002000
    assert not any(a == flash_acr for a, _, _ in w)                      # never slowed the flash down
    rcc_cr = 0x40023800 if board != "nucleo_h743zi" else 0x58024400
    assert [n >> 24 & 1 for a, _, n in w if a == rcc_cr] == [1, 0]       # PLL started, then stopped


def test_nrf52_hfxo_and_baud(tmp_path: Path) -> None:
    w, out, core, uart = _clock_log("nano33ble", tmp_path)
    assert (core, uart) == (64_000_000, 16_000_000)
    assert (0x40000000, 0, 1) in w and (0x4001E540, 0, 1) in w           # HFCLKSTART, ICACHECNF
    _, _, core, _ = _clock_log("nano33ble", tmp_path, "nolock")          # no crystal: HFINT, still 64 MHz
    assert core == 64_000_000


def test_pll_code_on_qemu_times_out_to_the_reset_clock(tmp_path: Path) -> None:
    """QEMU 7.2's netduinoplus2 (STM32F405) has no RCC model: the F4 PLL code, forced on, must
    give up and keep working at the reset clock, which INFO reports."""
    from tiny.device.connect import open_qemu_session
    q, n = get_board("qemu-f405"), get_board("nucleo_f411re")
    b = dataclasses.replace(q, clock=n.clock, clock_hz=n.clock_hz, reset_clock_hz=16_000_000,
                            max_clock_hz=n.max_clock_hz)
    elf = compile_elf(b, [FIXTURES / "board_layers_model.c", *runtime_sources()], tmp_path / "pll.elf",
                      defines=["TINY_CLOCK_PLL=1"])
    from tiny.device.connect import QemuTransport
    from tiny.device.qemu import launch
    from tiny.device.session import Session
    t = QemuTransport(launch(b, elf))          # the guest starts when we connect ...
    time.sleep(1.0)                            # ... and polls the absent RCC before its UART is on
    with Session(t, board_name=b.name, timeout=10) as s:
        assert s.info()["clock_hz"] == 16_000_000
        s.ping()
    with open_qemu_session(q, compile_elf(q, [FIXTURES / "board_layers_model.c", *runtime_sources()],
                                          tmp_path / "plain.elf")) as s:
        assert s.info()["clock_hz"] == 168_000_000                       # emulated: as before


@pytest.mark.parametrize("board", REAL, ids=lambda b: b.name)
def test_real_board_elf_has_the_clock_code(board, tmp_path: Path) -> None:
    elf = compile_elf(board, [FIXTURES / "board_layers_model.c", *runtime_sources()], tmp_path / "f.elf",
                      opt=["-O2", "-Wextra", "-Werror"])
    syms = subprocess.run(["arm-none-eabi-nm", "-S", str(elf)], capture_output=True, text=True, check=True).stdout
    size = int(re.search(r"^\S+ (\S+) T tiny_board_clock_init$", syms, re.M).group(1), 16)
    assert size > (16 if board.family == "nrf52" else 200), size
    if board.core == "cortex-m7":
        assert " tiny_cm7_caches_on" in syms


# -- projects and flash -------------------------------------------------------------------------
def test_platformio_ini_is_portable_and_flash_picks_the_board_env(tmp_path: Path) -> None:
    from tiny.build.pio import flash_env
    from tiny.build.provision import core_dir
    out = write_project(tmp_path / "p", {"model.c": (FIXTURES / "board_stub_model.c").read_text()},
                        [get_board("nucleo_f746zg"), get_board("qemu-m4-256k"), get_board("nano33ble")],
                        {"arena_bytes": 32, "weights_bytes": 0, "io_bytes": 32})
    ini = (out / "platformio.ini").read_text()
    assert str(core_dir()) not in ini and str(Path.home()) not in ini and "symlink:///" not in ini
    envs = dict(re.findall(r"^\[env:(\S+)\]\n((?:.+\n)+)", ini, re.M))
    assert "platform = ststm32" in envs["nucleo_f746zg"] and "upload_protocol = stlink" in envs["nucleo_f746zg"]
    assert "platform = nordicnrf52" in envs["nano33ble"]
    assert "${tiny.platform}" in envs["tiny-nucleo_f746zg"] and "${tiny.platform}" in envs["qemu-m4-256k"]
    assert flash_env(out, "nucleo_f746zg") == "nucleo_f746zg"          # the upload env, not tiny-...
    assert flash_env(out, "qemu-m4-256k") == "qemu-m4-256k"
    with pytest.raises(TinyError, match="several boards.*--board"):
        flash_env(out)
    with pytest.raises(TinyError, match="no firmware for board 'nucleo_h743zi'"):
        flash_env(out, "nucleo_h743zi")
    one = write_project(tmp_path / "one", {"model.c": ""}, [get_board("nucleo_f411re")],
                        {"arena_bytes": 32, "weights_bytes": 0, "io_bytes": 32})
    assert flash_env(one) == "nucleo_f411re"


def test_real_board_without_a_port_names_the_usual_one() -> None:
    r = tiny("validate", str(models.tiny_cnn()), "--board", "nucleo_f746zg", "--samples", "1")
    assert r.returncode == 2 and "/dev/ttyACM0" in r.stderr and "--port" in r.stderr
    assert "Traceback" not in r.stderr


# -- end to end: QEMU behind socket:// stands in for a flashed board ---------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(project: Path, url: str) -> subprocess.Popen:
    """`tiny flash DIR --port socket://...` in the background, once its UART listens."""
    p = subprocess.Popen([sys.executable, "-m", "tiny.cli", "flash", str(project), "--port", url],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = p.stdout.readline()
    assert "UART at " + url in line, line + (p.stdout.read() if p.poll() is not None else "")
    time.sleep(0.2)
    return p


def _cached_project(model: str, train: str | None = None) -> Path:
    """The model's project in tiny's cache (what `tiny compile -o` writes; shared with the other
    QEMU tests, so its firmware build is incremental)."""
    from tiny.pipeline import load_model
    from tiny.workflow import compile_for, project_dir_for, write_project as write
    g = load_model(model)
    if train:
        from tiny.train.api import compile_train
        from tiny.train.config import load_config
        c = compile_train(g, "qemu-m4-256k", load_config(train), "layer")
    else:
        c = compile_for(g, "qemu-m4-256k")
    return write(c, "qemu-m4-256k", project_dir_for(c, "qemu-m4-256k"))


@pytest.mark.qemu
def test_validate_and_bench_reach_a_board_behind_a_socket_url() -> None:
    m = str(models.tiny_cnn())
    url = f"socket://127.0.0.1:{_free_port()}"
    q = _serve(_cached_project(m), url)
    try:
        r = tiny("validate", m, "--board", "qemu-m4-256k", "--port", url, "--samples", "3", "--json")
        assert r.returncode == 0, r.stderr
        v = json.loads(r.stdout)
        assert v["bit_exact"] and v["samples"] == 3
        r = tiny("bench", m, "--board", "qemu-m4-256k", "--port", url, "--json")   # same QEMU, reconnected
        assert r.returncode == 0, r.stderr
        b = json.loads(r.stdout)
        assert b["clock_hz"] == 25_000_000 and b["cycles"] == 0 and b["ms"] is None   # QEMU: no DWT
        assert b["port"] == url and len(b["cycles_runs"]) == 5
    finally:
        q.terminate()
        q.wait(timeout=10)


@pytest.mark.qemu
@pytest.mark.slow
def test_train_reaches_a_board_behind_a_socket_url(tmp_path: Path) -> None:
    from tiny.train.data import base_model
    tm = str(base_model("v1"))
    url = f"socket://127.0.0.1:{_free_port()}"
    q = _serve(_cached_project(tm, "sparse"), url)
    try:
        r = tiny("train", tm, "--board", "qemu-m4-256k", "--port", url, "--steps", "3",
                 "--eval-samples", "4", "-o", str(tmp_path / "out"), "--json")
        assert r.returncode == 0, r.stderr
        t = json.loads(r.stdout)
        assert t["steps"] == 3 and t["resumes"] == 0 and t["instructions_per_step"] is None
        r = tiny("validate", tm, "--board", "qemu-m4-256k", "--port", url, "--samples", "1")
        assert r.returncode == 2 and "hash" in r.stderr                  # a different model's firmware
    finally:
        q.terminate()
        q.wait(timeout=10)
