"""Kernel selection: which C function runs an op on a target (optimized or portable).

Each OpDef lists its kernel variants (tiny/ops/<op>.py), most specialised first, each with its
selection predicate on (params, target) and its scratch need. A DSP variant (firmware/src/kernels/
arm/, same signature as the portable kernel, declared in tiny/kernels_arm.h) is only considered
when target.optimized: kernels "opt" on a board with the DSP extension (Armv7E-M / Armv8-M + DSP:
Cortex-M4, M7, M33); Cortex-M3/M0+ and the host board keep the portable kernels.

Each optimized kernel re-checks its fast-path conditions at run time and hands other calls (e.g.
patch windows whose geometry differs) to the portable kernel, so a selection is never wrong, only
possibly not faster. A variant's `scratch` is the extra planned scratch it needs beyond the portable
kernel's (its `_get_buffer_size` companion evaluated in Python); compile_graph adds it to the op's
planned scratch.
"""
from __future__ import annotations

from typing import Any

from tiny import ops
from tiny.ir import Graph, Op
from tiny.ops.base import LUT, Params, Variant
from tiny.target import Target, as_target


def select(g: Graph, op: Op, p: Params, target: Target, inplace: bool = False) -> Variant:
    """The kernel variant running `op` (prepared params `p`) on `target`."""
    return ops.opdef(op).select(p, target, inplace)


def portable(op: Op, p: Params, inplace: bool = False) -> Variant:
    """The portable kernel of `op` (the one every target can run)."""
    return ops.opdef(op).portable(p, inplace)


def board_has_dsp(board: Any) -> bool:
    return as_target(board).dsp


def board_has_fpu(board: Any) -> bool:
    """A hardware single-precision FPU (the training backward kernels' condition)."""
    return as_target(board).fpu


__all__ = ["LUT", "board_has_dsp", "board_has_fpu", "portable", "select"]
