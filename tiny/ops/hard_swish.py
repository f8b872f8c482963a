"""HARD_SWISH (int8), bit-exact with TFLite Micro: x * relu6(x + 3) / 6.

TFLM works in int16 fixed point: the input is moved to a "hi-res" scale s_in / 128, a
"reluish" factor in [0, 1] is derived with a saturating int16 multiplier, and the product is taken
with a *truncating* doubling high multiply. Both multipliers come from float32 scale ratios
(hires_scale / s_out and hires_scale / (3 / 32768)) passed through QuantizeMultiplier and rounded
down to int16. The converter fuses keras' `x * relu6(x + 3) / 6` (MobileNetV3) into this op.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tiny.emit.ctx import EmitCtx
from tiny.ir import Graph, Op
from tiny.reference.fixedpoint_ext import (op_error, per_tensor_int8, quantize_multiplier,
                                           rounding_divide_by_pot16, saturating_left_shift16, sdhm16,
                                           srdhm16, wrap16)

from tiny.ops.base import OpDef, Params, Variant, elementwise_rect, lut_variant, same_shape_input


@dataclass(eq=False)
class HardSwishParams(Params):
    input_zero_point: int
    output_zero_point: int
    reluish_multiplier: int
    reluish_exponent: int
    output_multiplier: int
    output_exponent: int
    out_shape: Any


def _downscale_to_int16(m: int) -> int:
    """DownScaleInt32ToInt16Multiplier."""
    if m >= (1 << 31) - 1 - (1 << 15):
        return (1 << 15) - 1
    return (m + (1 << 15)) >> 16


def prepare(g: Graph, op: Op) -> HardSwishParams:
    s_in, z_in = per_tensor_int8(g, op, op.inputs[0], "input")
    s_out, z_out = per_tensor_int8(g, op, op.outputs[0], "output")
    # TFLM computes these ratios in float32 before widening to double.
    hires_scale = np.float32(1.0 / 128.0) * np.float32(s_in)
    reluish_scale = np.float32(3.0) / np.float32(32768.0)
    m_out, e_out = quantize_multiplier(float(np.float32(hires_scale / np.float32(s_out))))
    m_rel, e_rel = quantize_multiplier(float(np.float32(hires_scale / reluish_scale)))
    if e_out > 0:
        raise op_error(g, op, f"output scale {s_out:g} is below input scale / 128 ({s_in:g} / 128); "
                              "TFLM requires output_multiplier_exponent <= 0")
    if e_rel > 31:
        raise op_error(g, op, f"input scale {s_in:g} is too large for TFLM's hard swish")
    return HardSwishParams(input_zero_point=z_in, output_zero_point=z_out,
                           reluish_multiplier=_downscale_to_int16(m_rel), reluish_exponent=e_rel,
                           output_multiplier=_downscale_to_int16(m_out), output_exponent=e_out,
                           out_shape=tuple(g.tensors[op.outputs[0]].shape))


def table(p: HardSwishParams) -> np.ndarray:
    """Output for every int8 input value, indexed by value + 128 (the op is element-wise)."""
    x = np.arange(-128, 128, dtype=np.int64)
    value = wrap16(x - p.input_zero_point)
    hires = wrap16(value * (1 << 7))
    preshift_out = srdhm16(hires, p.output_multiplier)
    e_rel = p.reluish_exponent
    reluish = hires
    if e_rel > 0:
        # Saturate on the way up but leave the last bit for after the multiply, as TFLM does.
        reluish = saturating_left_shift16(reluish, e_rel - 1)
    reluish = srdhm16(reluish, p.reluish_multiplier)
    if e_rel > 0:
        reluish = saturating_left_shift16(reluish, 1)
    if e_rel < 0:
        reluish = rounding_divide_by_pot16(reluish, -e_rel)
    reluish = wrap16((reluish + (1 << 15)) >> 1)        # [-1, 1] -> [0, 1]
    y = rounding_divide_by_pot16(sdhm16(reluish, preshift_out), -p.output_exponent)
    y = wrap16(y + p.output_zero_point)              # int16 arithmetic in TFLM
    return np.clip(y, -128, 127).astype(np.int8)


def run(p: HardSwishParams, inputs: list[np.ndarray | None]) -> np.ndarray:
    x = np.asarray(inputs[0], dtype=np.int64)
    return table(p)[x + 128].reshape(p.out_shape)


def scratch_bytes(p: HardSwishParams) -> int:
    return 0


# Field order of tiny_hard_swish_params in kernels_elementwise.h (all int32).
PARAM_FIELDS = ("input_zero_point", "output_zero_point", "reluish_multiplier", "reluish_exponent",
                "output_multiplier", "output_exponent")


def emit(p: HardSwishParams, e: EmitCtx, fn: str) -> str:
    params = e.struct("tiny_hard_swish_params", "params", {k: int(getattr(p, k)) for k in PARAM_FIELDS})
    size = e.size(p.out_shape)  # an expression for patch-local extents
    return f"{fn}({params}, {size}, {e.inp(0)}, {e.out()});"


HARD_SWISH = OpDef(name="HARD_SWISH", arity=(1, 1, (), None), prepare=prepare, run=run, emit=emit, scratch=scratch_bytes,
                   variants=(lut_variant("HARD_SWISH", table), Variant("tiny_hard_swish_s8")),
                   input_rect=elementwise_rect, elementwise=True, local=True, inplace=same_shape_input,
                   backward="copy")
DEFS = [HARD_SWISH]
