"""Board descriptions: one boards/<name>.toml per board (memory map, core, UART, QEMU machine)."""
from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from tiny import paths
from tiny.ir import TinyError

DEFAULT_BOARD = "qemu-m4-256k"


@dataclass(frozen=True)
class Uart:
    kind: str = "none"          # cmsdk | stm32-usart-v1 | stm32-usart-v2 | nrf52-uart | none
    peripheral: str = ""
    base: int = 0
    baud: int = 115200
    tx: str = ""                # pin names: "PD8" (STM32), "P1.03" (nRF52)
    rx: str = ""
    af: int = 0                 # STM32 alternate function number


@dataclass(frozen=True)
class Board:
    name: str
    core: str                   # cortex-m4 | cortex-m7 | cortex-m33 | cortex-m3 | host
    arch: str
    family: str                 # mps2 | stm32f4 | stm32f7 | stm32h7 | nrf52 | host
    sram_bytes: int
    flash_bytes: int
    emulated: bool
    fpu: str = "none"           # none | fpv4-sp-d16 | fpv5-d16 | fpv5-sp-d16
    dsp: bool = False
    clock_hz: int = 0           # the clock the firmware runs at (SysTick / baud source)
    max_clock_hz: int = 0
    ram_origin: int = 0x20000000
    flash_origin: int = 0
    stack_bytes: int = 8192     # stack reserved at the top of SRAM (budget + linker check)
    qemu_machine: str = ""
    pio_board: str = ""         # PlatformIO board id of a real board
    upload: str = "none"        # qemu | stlink | sam-ba | none
    mcu: str = ""
    description: str = ""
    preload_origin: int = 0     # emulated boards: RAM outside the board's SRAM for preloaded data
    preload_bytes: int = 0
    uart: Uart = field(default_factory=Uart)

    @property
    def is_host(self) -> bool:
        return self.family == "host"

    @property
    def ident(self) -> str:
        """A C/PlatformIO-safe form of the name (qemu-m4-256k -> qemu_m4_256k)."""
        return re.sub(r"[^A-Za-z0-9_]", "_", self.name)

    @property
    def local_board_id(self) -> str:
        """Board id in the local PlatformIO platform (boards/platform/boards/<id>.json)."""
        return f"tiny_{self.ident}"

    def cpu_flags(self) -> list[str]:
        """GCC target flags (empty for the host)."""
        if self.is_host:
            return []
        flags = [f"-mcpu={self.core}", "-mthumb"]
        if self.fpu != "none":
            flags += [f"-mfpu={self.fpu}", "-mfloat-abi=hard"]
        else:
            flags += ["-mfloat-abi=soft"]
        return flags

    def as_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["uart"] = asdict(self.uart)
        return d


def _board_from_toml(path: Path) -> Board:
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise TinyError(f"{path}: {e}") from e
    uart = Uart(**data.pop("uart", {}))
    known = set(Board.__dataclass_fields__)
    unknown = set(data) - known
    if unknown:
        raise TinyError(f"{path}: unknown keys {sorted(unknown)}")
    try:
        return Board(uart=uart, **data)
    except TypeError as e:
        raise TinyError(f"{path}: {e}") from e


@lru_cache(maxsize=1)
def _load_all() -> tuple[Board, ...]:
    boards = [_board_from_toml(p) for p in sorted(Path(paths.BOARDS).glob("*.toml"))]
    for b, p in zip(boards, sorted(Path(paths.BOARDS).glob("*.toml"))):
        if b.name != p.stem:
            raise TinyError(f"{p}: name {b.name!r} differs from the file name")
    return tuple(boards)


def list_boards() -> list[Board]:
    """All boards, the default one first, then emulated, then real, then host."""
    def key(b: Board) -> tuple[int, str]:
        rank = 0 if b.name == DEFAULT_BOARD else 1 if b.emulated else 3 if b.is_host else 2
        return rank, b.name
    return sorted(_load_all(), key=key)


def get_board(name: str) -> Board:
    for b in _load_all():
        if b.name == name:
            return b
    names = ", ".join(b.name for b in list_boards())
    raise TinyError(f"unknown board {name!r}; known boards: {names}")
