"""SOFTMAX (int8 in, int8 out), bit-exact with TFLite Micro's fixed-point algorithm.

TFLM does not use TFLite's int8 LUT path: it scales (x - row_max) by beta * s_in into Q5.26
(PreprocessSoftmaxScaling: multiplier capped at 2^31 - 1, QuantizeMultiplierGreaterThanOne),
drops differences below diff_min, sums gemmlowp exp() values in Q12.19, takes the reciprocal with
GetReciprocal and rounds each exp * reciprocal back to 8 bits. The output must be quantized with
scale 1/256 and zero point -128, as TFLM's Prepare insists.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tiny.emit.ctx import EmitCtx
from tiny.ir import Graph, Op
from tiny.reference.fixedpoint import rounding_divide_by_pot, saturating_rounding_doubling_high_mul as srdhm
from tiny.reference.fixedpoint_ext import (calculate_input_radius, exp_on_negative_values, get_reciprocal,
                                           op_error, per_tensor_int8, quantize_multiplier_greater_than_one,
                                           wrap32)

from tiny.ops.base import OpDef, Params, Variant


@dataclass(eq=False)
class SoftmaxParams(Params):
    input_multiplier: int
    input_left_shift: int
    diff_min: int
    row_size: int
    num_rows: int
    out_shape: tuple[int, ...]

SCALED_DIFF_INTEGER_BITS = 5
ACCUMULATION_INTEGER_BITS = 12


def prepare(g: Graph, op: Op) -> SoftmaxParams:
    s_in, _ = per_tensor_int8(g, op, op.inputs[0], "input")
    s_out, z_out = per_tensor_int8(g, op, op.outputs[0], "output")
    if z_out != -128 or np.float32(s_out) != np.float32(1.0 / 256):
        raise op_error(g, op, f"int8 output must have scale 1/256 and zero point -128 "
                              f"(got {s_out:g}, {z_out}); TFLM rejects it")
    t_in = g.tensors[op.inputs[0]]
    if len(t_in.shape) < 1:
        raise op_error(g, op, "input must have at least one dimension")
    beta = float(np.float32(op.attrs.get("beta", 1.0)))
    max_real = float((1 << 31) - 1)     # double-rounding build of TFLM
    real = min(beta * float(s_in) * float(1 << (31 - SCALED_DIFF_INTEGER_BITS)), max_real)
    q = quantize_multiplier_greater_than_one(real)
    if q is None:
        raise op_error(g, op, f"beta * input scale = {beta * s_in:g} is too small: the input "
                              "multiplier must exceed 2^-26 (TFLM's QuantizeMultiplierGreaterThanOne "
                              "check fails)")
    multiplier, left_shift = q
    diff_min = -calculate_input_radius(SCALED_DIFF_INTEGER_BITS, left_shift)
    depth = int(t_in.shape[-1])
    return SoftmaxParams(input_multiplier=multiplier, input_left_shift=left_shift, diff_min=diff_min,
                         row_size=depth, num_rows=t_in.size // max(depth, 1),
                         out_shape=tuple(g.tensors[op.outputs[0]].shape))


def run(p: SoftmaxParams, inputs: list[np.ndarray | None]) -> np.ndarray:
    x = np.asarray(inputs[0], dtype=np.int64).reshape(p.num_rows, p.row_size)
    diff = x - x.max(axis=1, keepdims=True)
    used = diff >= p.diff_min
    # Masked-out differences are never rescaled in TFLM; zero them so nothing overflows here.
    diff = np.where(used, diff, 0)
    scaled = srdhm(wrap32(diff << p.input_left_shift), p.input_multiplier)
    exps = exp_on_negative_values(scaled, SCALED_DIFF_INTEGER_BITS)
    terms = np.where(used, rounding_divide_by_pot(exps, ACCUMULATION_INTEGER_BITS), 0)
    total = wrap32(terms.sum(axis=1, keepdims=True))
    recip, bits_over_unit = get_reciprocal(total, ACCUMULATION_INTEGER_BITS)
    exponent = bits_over_unit + 31 - 8
    # exponent > 31 makes TFLM abort (a row of >= 512 maximal values); dividing by 2^32 or more
    # yields 0 here and in the C kernel.
    unsat = rounding_divide_by_pot(srdhm(recip, exps), np.minimum(exponent, 40))
    out = np.where(used, np.clip(unsat - 128, -128, 127), -128)
    return out.astype(np.int8).reshape(p.out_shape)


def scratch_bytes(p: SoftmaxParams) -> int:
    return 0


# Field order of tiny_softmax_params in kernels_elementwise.h (all int32).
PARAM_FIELDS = ("input_multiplier", "input_left_shift", "diff_min")


def emit(p: SoftmaxParams, e: EmitCtx, fn: str) -> str:
    params = e.struct("tiny_softmax_params", "params", {k: int(getattr(p, k)) for k in PARAM_FIELDS})
    return f"{fn}({params}, {p['num_rows']}, {p['row_size']}, {e.inp(0)}, {e.out()});"


def options(opt: Any) -> dict[str, Any]:
    return {"beta": float(opt.beta)} if opt is not None else {}


SOFTMAX = OpDef(name="SOFTMAX", no_dsp_why="exp lookups and a division per element, no MACs", fb_options="SoftmaxOptions", fb_options_required=True, arity=(1, 1, (), None), options=options, prepare=prepare, run=run, emit=emit, scratch=scratch_bytes,
                variants=(Variant("tiny_softmax_s8"),))
DEFS = [SOFTMAX]
