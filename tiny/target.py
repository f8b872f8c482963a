"""What a compile is for: board, kernel set, schedule and SRAM budget, passed explicitly."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from tiny.ir import TinyError

KERNEL_SETS = ("opt", "ref")
SCHEDULES = ("layer", "patch", "auto")


@dataclass(frozen=True)
class Target:
    """board: a board name (tiny/boards.py); kernels: "opt" (optimized variants where the board has
    the DSP extension) or "ref" (portable kernels only); schedule: layer | patch | auto;
    sram_budget: bytes the arena must fit (None: the board's usable SRAM for auto, lowest peak for patch)."""
    board: str = "host"
    kernels: str = "opt"
    schedule: str = "layer"
    sram_budget: int | None = None

    def __post_init__(self) -> None:
        if self.kernels not in KERNEL_SETS:
            raise TinyError(f"unknown kernel set '{self.kernels}': use {' or '.join(KERNEL_SETS)}")
        if self.schedule not in SCHEDULES:
            raise TinyError(f"unknown schedule '{self.schedule}': use {', '.join(SCHEDULES)}")

    @cached_property
    def info(self) -> Any:
        """The Board record (tiny/boards.py)."""
        from tiny.boards import get_board
        return get_board(self.board)

    @property
    def mcu(self) -> bool:
        return not getattr(self.info, "is_host", False)

    @property
    def dsp(self) -> bool:
        """Armv7E-M / Armv8-M DSP extension (Cortex-M4, M7, M33); never on the host board."""
        return self.mcu and bool(getattr(self.info, "dsp", False))

    @property
    def fpu(self) -> bool:
        """A hardware single-precision FPU (the training backward kernels' condition)."""
        return self.mcu and getattr(self.info, "fpu", "none") not in ("none", "", None)

    @property
    def optimized(self) -> bool:
        """Whether optimized (DSP) kernel variants may be chosen."""
        return self.kernels == "opt" and self.dsp

    def key(self) -> str:
        """What of the target changes the generated C (part of the model hash)."""
        k = f"board={self.board};schedule={self.schedule}"
        if self.sram_budget is not None:
            k += f";budget={self.sram_budget}"
        if self.kernels != "opt" and self.dsp:
            k += f";kernels={self.kernels}"
        return k


def as_target(board: Any = None, kernels: str = "opt") -> Target:
    """A Target from a board name, a Board record or a Target (None: the host board)."""
    if isinstance(board, Target):
        return board
    if board is None:
        return Target(kernels=kernels)
    return Target(board=board if isinstance(board, str) else board.name, kernels=kernels)
