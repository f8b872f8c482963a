"""Kernel selection: which C function runs an op on a given board (optimized or portable).

Op modules (tiny/reference/<op>.py) always emit the portable call (`tiny_conv2d_s8(...)`);
emit_call(), used by compile_graph and emit_stage for every op, renames it to the in-place
portable kernel or to an optimized variant with the same signature (firmware/src/kernels/arm/,
declared in tiny/kernels_arm.h) when

  * kernels == "opt" and the board has the DSP extension (Armv7E-M / Armv8-M + DSP: Cortex-M4,
    M7, M33); Cortex-M3/M0+ and the host board keep the portable kernels;
  * the op's prepared parameters are on the variant's fast path (decided here at generation time:
    kernel size, stride, grouping, depth multiplier, dilation, broadcasting, weight zero point).

Each optimized kernel re-checks its fast-path conditions at run time and hands other calls (e.g.
patch windows whose geometry differs) to the portable kernel, so a selection is never wrong, only
possibly not faster. `scratch` is the extra planned scratch the variant needs beyond the portable
kernel's (its `_get_buffer_size` companion evaluated in Python): all current variants keep their
temporaries in registers or in a small fixed stack buffer, so it is 0 today; compile_graph adds it
to the op's planned scratch anyway, so a variant that needs more only has to say so here.

The element-wise activations HARD_SWISH and LOGISTIC (LUT_OPS) are one function of an int8 input:
under the same rule they run as tiny_lut_s8 over the op's 256 results, computed here by the
reference module's table() (bit-exact with TFLM by construction) and emitted as a 256-byte const
table. That call has its own signature, so emit_call writes it instead of renaming.
"""
from __future__ import annotations

import contextlib
import contextvars
import re
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Iterator

import numpy as np

from tiny.emit.ctx import EmitCtx

KERNEL_SETS = ("opt", "ref")
IM2COL_MAX = 160        # TINY_CONV_IM2COL_MAX in firmware/src/kernels/arm/conv2d_s8_rgb.c
DW_MAX_TAPS = 64        # TINY_DW_MAX_TAPS in depthwise_conv2d_s8_dsp.c
LUT = "tiny_lut_s8"     # firmware/src/kernels/arm/lut_s8.c
LUT_OPS = ("HARD_SWISH", "LOGISTIC")

_kernels: contextvars.ContextVar[str] = contextvars.ContextVar("tiny_kernels", default="opt")


@contextlib.contextmanager
def kernel_set(kernels: str) -> Iterator[None]:
    """Make compile_graph calls inside the block use `kernels` ("opt" | "ref") by default."""
    if kernels not in KERNEL_SETS:
        from tiny.ir import TinyError
        raise TinyError(f"unknown kernel set '{kernels}': use opt or ref")
    tok = _kernels.set(kernels)
    try:
        yield
    finally:
        _kernels.reset(tok)


def current_kernel_set() -> str:
    return _kernels.get()


@dataclass(frozen=True)
class Choice:
    portable: str           # the function the op module emitted
    function: str           # the function to call
    scratch: int = 0        # extra planned scratch bytes (beyond the portable kernel's)

    @property
    def optimized(self) -> bool:
        return self.function != self.portable


def _mcu_board(board: Any) -> Any:
    """The Board object for a name or Board; None for no board or the host board."""
    if board is None:
        return None
    if isinstance(board, str):
        from tiny.boards import get_board
        board = get_board(board)
    return None if getattr(board, "is_host", False) else board


def board_has_dsp(board: Any) -> bool:
    b = _mcu_board(board)
    return b is not None and bool(getattr(b, "dsp", False))


def board_has_fpu(board: Any) -> bool:
    """A hardware single-precision FPU (the training backward kernels' condition)."""
    b = _mcu_board(board)
    return b is not None and getattr(b, "fpu", "none") not in ("none", "", None)


def board_from_options(options: str) -> str | None:
    m = re.search(r"(?:^|;)board=([^;]+)", options or "")
    return m.group(1) if m else None


def _portable(op_type: str, inplace: bool) -> str:
    return {"CONV_2D": "tiny_conv2d_s8", "FULLY_CONNECTED": "tiny_fully_connected_s8", "ADD": "tiny_add_s8",
            "DEPTHWISE_CONV_2D": "tiny_depthwise_conv2d_s8_inplace" if inplace else "tiny_depthwise_conv2d_s8",
            "HARD_SWISH": "tiny_hard_swish_s8", "LOGISTIC": "tiny_logistic_s8",
            }.get(op_type, "")


def select(op_type: str, p: dict[str, Any], board: Any, kernels: str = "opt", inplace: bool = False) -> Choice:
    """The kernel to call for an op with prepared params `p` on `board`."""
    port = _portable(op_type, inplace)
    keep = Choice(port, port, 0)
    if not port or kernels != "opt" or not board_has_dsp(board):
        return keep
    if op_type == "CONV_2D":       # by the generation-time cost model (tiny/emit/cost.py)
        from tiny.emit.cost import best_conv
        e = best_conv(p)
        return Choice(port, e.function, e.scratch)
    if op_type == "DEPTHWISE_CONV_2D":
        _, kh, kw, _ = p["filter_shape"]
        if p.get("depth_multiplier", 1) != 1 or p.get("dilation_h", 1) != 1 or p.get("dilation_w", 1) != 1 \
                or kh * kw > DW_MAX_TAPS or p["in_shape"][0] != 1:
            return keep
        from tiny.emit.cost import dw_variant
        return Choice(port, f"{port}_{dw_variant(p)}")
    if op_type == "FULLY_CONNECTED":
        if int(p.get("filter_offset", 0)) != 0 or not -32768 <= int(p["input_offset"]) <= 32767:
            return keep
        return Choice(port, "tiny_fully_connected_s8_dsp")
    if op_type == "ADD":
        dims = p.get("dims")
        if dims is not None and any(tuple(d) != tuple(dims[-1]) for d in dims):
            return keep            # broadcasting: the portable kernel
        return Choice(port, "tiny_add_s8_dsp")
    if op_type in LUT_OPS:
        return Choice(port, LUT)
    return keep


def apply(call: str, choice: Choice, emitted: str | None = None) -> str:
    """Rename the first call of `emitted` (default: choice.portable) in emitted C to the chosen one."""
    emitted = emitted or choice.portable
    if not emitted or emitted == choice.function:
        return call
    return call.replace(f"{emitted}(", f"{choice.function}(", 1)


def lut_table(mod: ModuleType, p: dict[str, Any]) -> np.ndarray:
    """The op's 256 results indexed by the input's raw byte: lut[v & 0xff] = op(v) (tiny_lut_s8)."""
    lut = np.empty(256, dtype=np.int8)
    lut[np.arange(-128, 128) & 0xFF] = mod.table(p)     # table() is indexed by v + 128
    return lut


def emit_call(mod: ModuleType, op_type: str, p: dict[str, Any], e: EmitCtx, choice: Choice) -> str:
    """The C call running one op: the module's portable call renamed to the chosen kernel (the
    in-place depthwise kernel, an optimized variant), or the tiny_lut_s8 call with its table."""
    if choice.function == LUT:
        sym = e.const("lut", lut_table(mod, p), "int8_t", comment=f"{op_type} of each int8 input, by its raw byte")
        return f"{LUT}({sym}, {e.size(p['out_shape'])}, {e.inp(0)}, {e.out()});"
    # Modules emit the out-of-place portable name; choice.portable may be the in-place one.
    return apply(mod.emit(p, e).strip(), choice, _portable(op_type, False))


__all__ = ["Choice", "KERNEL_SETS", "LUT", "LUT_OPS", "apply", "board_from_options", "board_has_dsp", "board_has_fpu",
           "current_kernel_set", "emit_call", "kernel_set", "lut_table", "select"]
