"""PlatformIO projects for generated models, per-board linker scripts and headers, memory budget.

Project layout written by write_project():
    platformio.ini            one env per emulated board; two per real board:
                              `tiny-<board>` (local platform, builds offline) and `<board>`
                              (PlatformIO's ststm32 / nordicnrf52 + upload tools, needs internet)
    tiny_flags.py             pre-script: tiny's CPU / link flags for every env
    test/                     firmware unit tests: `pio test -e <emulated board>` runs them on QEMU
    src/                      the model files (model.c, model.h, ...)
    lib/tiny/                 the C runtime (copy of firmware/) + library.json
    board/<name>/link.ld      SRAM / flash regions cut to the board's real sizes
    board/<name>/tiny_board.h board config for the runtime's board layer
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterable

import jinja2

from tiny import paths
from tiny.boards import Board
from tiny.ir import TinyError

OPT_FLAGS = ["-O2", "-g"]
C_FLAGS = ["-std=gnu11", "-ffunction-sections", "-fdata-sections", "-Wall"]
LINK_FLAGS = ["-Wl,--gc-sections", "-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs",
              "-Wl,--no-warn-rwx-segments"]
# Rough sizes of what the runtime adds around the model, for the pre-link budget check.
RUNTIME_STATICS_BYTES = 4096   # protocol rx/tx buffers (2 x ~1.1 KB) + board state + newlib
RUNTIME_CODE_BYTES = 32768     # protocol, board layer, kernels, newlib-nano pieces
_UART_DEFINE = {"cmsdk": "CMSDK", "stm32-usart-v1": "STM32_V1", "stm32-usart-v2": "STM32_V2",
                "nrf52-uart": "NRF52"}


def _jinja() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(paths.CODEGEN)),
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              trim_blocks=True, lstrip_blocks=True)


def parse_pin(name: str) -> tuple[int, int]:
    """'PD8' -> (3, 8) (STM32 port letter), 'P1.03' -> (1, 3) (nRF52 port.pin), '' -> (0, 0)."""
    if not name:
        return 0, 0
    m = re.fullmatch(r"P([A-K])(\d{1,2})", name)
    if m:
        return ord(m.group(1)) - ord("A"), int(m.group(2))
    m = re.fullmatch(r"P(\d)\.(\d{1,2})", name)
    if m:
        return int(m.group(1)), int(m.group(2))
    raise TinyError(f"cannot parse pin name {name!r}")


def _check_arm(board: Board) -> None:
    if board.is_host:
        raise TinyError("the host board is built with tiny.build.host, not as a PlatformIO env")
    if board.uart.kind not in _UART_DEFINE:
        raise TinyError(f"board {board.name}: unknown uart kind {board.uart.kind!r}")


def _check_clock(board: Board) -> None:
    """A [clock] table whose PLL does not produce clock_hz is a typo that would run the board at
    the wrong speed (and the UART at the wrong baud): refuse it here."""
    c = board.clock
    if not c.pll or board.emulated:
        return
    if not (c.source_hz and c.pll_m and c.pll_n and c.pll_p):
        raise TinyError(f"board {board.name}: [clock] pll = true needs source_hz, pll_m, pll_n, pll_p")
    got = c.source_hz // c.pll_m * c.pll_n // c.pll_p
    if got != board.clock_hz:
        raise TinyError(f"board {board.name}: [clock] gives {c.source_hz} / {c.pll_m} * {c.pll_n} / "
                        f"{c.pll_p} = {got} Hz but clock_hz = {board.clock_hz}")
    if board.max_clock_hz and got > board.max_clock_hz:
        raise TinyError(f"board {board.name}: [clock] gives {got} Hz, above max_clock_hz "
                        f"{board.max_clock_hz}")


def watchdog_ms(board: Board) -> int:
    """The firmware watchdog's timeout for `board` (0 = none): its TOML's [watchdog] timeout_ms, or
    $TINY_WATCHDOG_MS when set (tests use a short one; 0 turns the watchdog off)."""
    if not board.watchdog.enabled:
        return 0
    env = os.environ.get("TINY_WATCHDOG_MS")
    if env is not None and env.strip():
        try:
            ms = int(env)
        except ValueError:
            raise TinyError(f"TINY_WATCHDOG_MS={env!r}: a number of milliseconds") from None
        if ms < 0:
            raise TinyError(f"TINY_WATCHDOG_MS={env!r}: a number of milliseconds")
        return ms
    return board.watchdog.timeout_ms


def render_board_header(board: Board) -> str:
    _check_arm(board)
    _check_clock(board)
    return _jinja().get_template("tiny_board.h.j2").render(
        wd_kind=board.watchdog.kind.upper().replace("-", "_"), wd_ms=watchdog_ms(board),
        b=board, c=board.clock, uart_apb=2 if board.uart.bus == "apb2" else 1,
        uart_kind=_UART_DEFINE[board.uart.kind],
        tx=parse_pin(board.uart.tx), rx=parse_pin(board.uart.rx))


def render_linker_script(board: Board) -> str:
    _check_arm(board)
    return _jinja().get_template("link.ld.j2").render(b=board)


def write_board_files(board: Board, dest: Path) -> Path:
    """Write link.ld and tiny_board.h for `board` into dest (created). Returns dest."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "link.ld").write_text(render_linker_script(board))
    (dest / "tiny_board.h").write_text(render_board_header(board))
    return dest


def board_sources() -> list[Path]:
    """The Cortex-M board layer (all families: each file compiles to nothing unless selected)."""
    root = Path(paths.FIRMWARE) / "src" / "boards"
    return sorted(p for p in root.rglob("*.c") if p.parent.name != "host")


def compile_elf(board: Board, sources: Iterable[Path], out: Path, *,
                include_dirs: Iterable[Path] = (), defines: Iterable[str] = (),
                opt: Iterable[str] = OPT_FLAGS) -> Path:
    """Build an ELF with arm-none-eabi-gcc directly (one command, no pio): fast path for tests
    and tools. `sources` are added to the board layer; the same flags and linker script as the
    PlatformIO project are used."""
    _check_arm(board)
    out.parent.mkdir(parents=True, exist_ok=True)
    bdir = write_board_files(board, out.parent / f"board-{board.name}")
    cmd = ["arm-none-eabi-gcc", *board.cpu_flags(), *opt, *C_FLAGS, *LINK_FLAGS,
           f"-I{bdir}", f"-I{Path(paths.FIRMWARE) / 'include'}",
           *(f"-I{d}" for d in include_dirs), *(f"-D{d}" for d in defines),
           "-T", str(bdir / "link.ld"), f"-Wl,-Map,{out.with_suffix('.map')}",
           *map(str, board_sources()), *map(str, sources), "-o", str(out), "-lc", "-lm", "-lgcc"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise TinyError(f"arm-none-eabi-gcc failed for {board.name}:\n{r.stderr[-4000:]}")
    return out


def check_budget(board: Board, summary: dict[str, Any]) -> dict[str, int]:
    """Fail before linking when the model cannot fit the board. Returns the estimate."""
    arena = int(summary.get("arena_bytes", 0))
    io = int(summary.get("io_bytes", 0))
    weights = int(summary.get("weights_bytes", 0))
    stack = int(summary.get("stack_bytes", board.stack_bytes))
    statics = int(summary.get("runtime_statics_bytes", RUNTIME_STATICS_BYTES))
    code = int(summary.get("code_bytes", RUNTIME_CODE_BYTES))
    sram_need = arena + io + stack + statics
    flash_need = weights + code
    est = {"sram_needed": sram_need, "sram_available": board.sram_bytes,
           "flash_needed": flash_need, "flash_available": board.flash_bytes}
    problems = []
    if sram_need > board.sram_bytes:
        problems.append(
            f"SRAM: needs {sram_need} bytes (arena {arena} + I/O {io} + stack {stack} + runtime "
            f"{statics}) but {board.name} has {board.sram_bytes} "
            f"({sram_need - board.sram_bytes} bytes over); try --schedule patch to shrink the "
            f"arena, or a board with more SRAM")
    if flash_need > board.flash_bytes:
        problems.append(
            f"flash: needs {flash_need} bytes (weights {weights} + code ~{code}) but {board.name} "
            f"has {board.flash_bytes} ({flash_need - board.flash_bytes} bytes over); the "
            f"weights do not fit (--schedule patch does not shrink them): use a smaller model or "
            f"a board with more flash")
    if problems:
        raise TinyError(f"model does not fit board {board.name}:\n  " + "\n  ".join(problems))
    return est


def env_names(board: Board) -> list[str]:
    """PlatformIO env names of a board: offline env first."""
    if board.emulated:
        return [board.name]
    return [f"tiny-{board.name}", board.name]


def offline_env(board: Board) -> str:
    return env_names(board)[0]


def _real_platform(board: Board) -> str:
    return "nordicnrf52" if board.family == "nrf52" else "ststm32"


def _copy_runtime(dest: Path) -> None:
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(paths.FIRMWARE, dest, ignore=shutil.ignore_patterns(
        "__pycache__", "*.o", "*.so", "*.elf", ".pio", "library.json"))


def write_project(out_dir: Path, model_files: dict[str, str], boards: list[Board],
                  summary: dict[str, Any]) -> Path:
    """Write a complete PlatformIO project for `boards` into out_dir. Returns out_dir.
    Raises TinyError (before anything is linked) if the model does not fit a board."""
    boards = [b for b in boards if not b.is_host]  # host: tiny.build.host compiles src/ natively
    for b in boards:
        check_budget(b, summary)
    out_dir = Path(out_dir)
    (out_dir / "src").mkdir(parents=True, exist_ok=True)
    for name, text in model_files.items():
        (out_dir / "src" / name).write_text(text)
    if not boards:
        return out_dir  # host only: no PlatformIO project needed
    _copy_runtime(out_dir / "lib" / "tiny")
    j = _jinja()
    (out_dir / "lib" / "tiny" / "library.json").write_text(
        j.get_template("library.json.j2").render(exclude=["boards/host/", "train/"]))  # training: copied into src/ per model
    envs = []
    for b in boards:
        bdir = write_board_files(b, out_dir / "board" / b.name)
        rel = bdir.relative_to(out_dir).as_posix()
        common = {"board": b, "ldscript": f"{rel}/link.ld", "include": rel,
                  "cpu_flags": " ".join(b.cpu_flags())}
        if b.emulated:
            envs.append({**common, "env": b.name, "local": True, "pio_board": b.local_board_id,
                         "upload": "qemu"})
        else:
            envs.append({**common, "env": f"tiny-{b.name}", "local": True,
                         "pio_board": b.local_board_id, "upload": "none"})
            envs.append({**common, "env": b.name, "local": False, "pio_board": b.pio_board,
                         "platform": _real_platform(b), "upload": b.upload})
    (out_dir / "platformio.ini").write_text(j.get_template("platformio.ini.j2").render(
        envs=envs, default_envs=[e["env"] for e in envs if e["local"]],
        opt_flags=" ".join(OPT_FLAGS), c_flags=" ".join(C_FLAGS),
        link_flags=" ".join(LINK_FLAGS)))
    (out_dir / "tiny_flags.py").write_text(j.get_template("tiny_flags.py.j2").render())
    # firmware unit tests for `pio test -e <emulated board>` (runner + tests, no Unity needed)
    shutil.copytree(Path(paths.CODEGEN) / "test", out_dir / "test", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    return out_dir
