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
WATCHDOG_KINDS = ("none", "cmsdk", "stm32-iwdg", "nrf52-wdt")


@dataclass(frozen=True)
class Uart:
    kind: str = "none"          # cmsdk | stm32-usart-v1 | stm32-usart-v2 | nrf52-uart | none
    peripheral: str = ""
    base: int = 0
    baud: int = 115200
    tx: str = ""                # pin names: "PD8" (STM32), "P1.03" (nRF52)
    rx: str = ""
    af: int = 0                 # STM32 alternate function number
    port: str = ""              # the usual serial port of the board on Linux (real boards)
    usb_ids: tuple[str, ...] = ()   # "vid:pid" of its USB serial device (ST-LINK VCP)
    bus: str = ""               # STM32: the APB bus clocking the USART (apb1 | apb2)

    def __post_init__(self) -> None:
        object.__setattr__(self, "usb_ids", tuple(self.usb_ids))


@dataclass(frozen=True)
class Clock:
    """How a real board reaches full speed (the reset clock feeds a PLL). Values straight from
    the family's reference manual clock tree; the firmware falls back to the reset clock when an
    oscillator, the PLL or the regulator does not become ready in time."""
    pll: bool = False           # False: the firmware stays on the reset clock
    source: str = "hsi"         # PLL input: hsi (STM32), hfxo (nRF52: crystal, no PLL)
    source_hz: int = 0          # frequency of the PLL input oscillator
    pll_m: int = 0              # input divider
    pll_n: int = 0              # VCO multiplier
    pll_p: int = 0              # system clock divider
    pll_q: int = 0              # 48 MHz-domain divider (kept in range, unused)
    pll_n_rev_y: int = 0        # STM32H743 revision Y (no VOS0): multiplier for 400 MHz
    ahb_div: int = 1
    apb1_div: int = 1           # H7: D2PPRE1 and also D1PPRE/D3PPRE
    apb2_div: int = 1           # H7: D2PPRE2
    flash_wait_states: int = 0
    vos: int = 0                # regulator scale (1 = highest performance; H7: 0 = VOS0)
    overdrive: bool = False     # STM32F7 over-drive (above 180 MHz)
    caches: bool = False        # Cortex-M7 I/D caches, STM32 ART / flash caches, nRF52 I-cache


@dataclass(frozen=True)
class Watchdog:
    """The firmware watchdog (README "Robustness"): started at boot, fed by the request loop and
    after every op, so a board that stops answering resets itself within `timeout_ms`."""
    kind: str = "none"          # cmsdk (MPS2: CMSDK APB watchdog) | stm32-iwdg | nrf52-wdt | none
    base: int = 0               # peripheral base address
    clock_hz: int = 0           # the watchdog counter's clock (CMSDK WDOGCLK, the STM32/nRF52 LSI / LFCLK)
    timeout_ms: int = 0         # reset this long after the last feed (0 = no watchdog)

    @property
    def enabled(self) -> bool:
        return self.kind != "none" and self.timeout_ms > 0


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
    reset_clock_hz: int = 0     # the clock out of reset (real boards: the fallback)
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
    clock: Clock = field(default_factory=Clock)
    watchdog: Watchdog = field(default_factory=Watchdog)

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
        d["uart"]["usb_ids"] = list(self.uart.usb_ids)
        d["clock"] = asdict(self.clock)
        d["watchdog"] = asdict(self.watchdog)
        return d


def _board_from_toml(path: Path) -> Board:
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise TinyError(f"{path}: {e}") from e
    try:
        uart = Uart(**data.pop("uart", {}))
        clock = Clock(**data.pop("clock", {}))
        watchdog = Watchdog(**data.pop("watchdog", {}))
    except TypeError as e:
        raise TinyError(f"{path}: [uart]/[clock]/[watchdog]: {e}") from e
    if watchdog.kind not in WATCHDOG_KINDS:
        raise TinyError(f"{path}: [watchdog] kind {watchdog.kind!r}: one of {', '.join(WATCHDOG_KINDS)}")
    if watchdog.enabled and not (watchdog.base and watchdog.clock_hz):
        raise TinyError(f"{path}: [watchdog] {watchdog.kind} needs base and clock_hz")
    known = set(Board.__dataclass_fields__)
    unknown = set(data) - known
    if unknown:
        raise TinyError(f"{path}: unknown keys {sorted(unknown)}")
    try:
        return Board(uart=uart, clock=clock, watchdog=watchdog, **data)
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
