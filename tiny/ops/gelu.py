"""GELU (int8 in, int8 out), bit-exact with TFLite (LiteRT's kernels/gelu.cc).

TFLite Micro has no int8 GELU kernel, so TFLite itself is the oracle here (tiny/oracle.py runs a
model holding one on LiteRT's builtin kernels). Its int8 GELU is a 256-entry table filled once at
prepare (LUTPopulate), all in float32: x = s_in * (q - zp_in), y = GeluTransform(x) (exact: 0.5 x
erfc(-x / sqrt 2); `approximate`: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))), then
round(y * (1 / s_out)) (half away from zero) + zp_out, clamped to int8. This module evaluates the
same float32 operations in numpy; erfc and tanh are taken in float64 and rounded to float32 (what
glibc's erfcf / tanhf return: tests/reference/test_gelu.py compares all 256 entries of many random
quantizations with LiteRT). The table is emitted as a constant, so the C kernels only look it up.

Training: the derivative at each int8 input, gelu'(x) of its real value, is a 256-float table too
(backward kind "dtable", tiny/passes/sparse_update.py): exact GELU's Phi(x) + x phi(x), or the
derivative of the tanh form."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tiny.ir import Graph, Op
from tiny.ops import elu
from tiny.ops.base import OpDef, elementwise_rect, lut_inputs, lut_populate, lut_variant, same_shape_input
from tiny.ops.elu import EluParams

F32 = np.float32
SQRT_2_OVER_PI = F32(1.12837916709551257390 * 0.70710678118654752440)   # M_2_SQRTPI * M_SQRT1_2, as float
MINUS_SQRT1_2 = F32(-0.70710678118654752440)
CUBIC = F32(0.044715)


@dataclass(eq=False)
class GeluParams(EluParams):     # an element-wise table's quantization (ELU's), and the form
    approximate: bool = False


def prepare(g: Graph, op: Op) -> GeluParams:
    return GeluParams(**vars(elu.prepare(g, op)), approximate=bool(op.attrs.get("approximate", False)))


def gelu_f32(x: np.ndarray, approximate: bool) -> np.ndarray:
    """TFLite's GeluTransform / GeluTransformApproximate, float32 operation by operation."""
    x = np.asarray(x, F32)
    if approximate:
        inner = SQRT_2_OVER_PI * (x + CUBIC * x * x * x)
        t = np.array([math.tanh(float(v)) for v in inner.reshape(-1)], np.float64).astype(F32).reshape(x.shape)
        return F32(0.5) * x * (F32(1.0) + t)
    e = np.array([math.erfc(float(v)) for v in (x * MINUS_SQRT1_2).reshape(-1)], np.float64).astype(F32)
    return F32(0.5) * x * e.reshape(x.shape)


def table(p: GeluParams) -> np.ndarray:
    """Output for every int8 input value, indexed by value + 128 (LUTPopulate<int8_t>)."""
    return lut_populate(p.input_scale, p.input_zero_point, p.output_scale, p.output_zero_point,
                        lambda x: gelu_f32(x, p.approximate))


def derivative_table(p: GeluParams) -> np.ndarray:
    """gelu'(x) at the real value of every int8 input (float32, indexed by value + 128): the training
    backward's straight-through derivative, as TF's autodiff of tf.nn.gelu takes it."""
    x = lut_inputs(p.input_scale, p.input_zero_point).astype(np.float64)
    if p.approximate:
        k, c = float(SQRT_2_OVER_PI), float(CUBIC)
        t = np.tanh(k * (x + c * x ** 3))
        d = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * k * (1.0 + 3.0 * c * x * x)
    else:
        cdf = np.array([0.5 * math.erfc(-v / math.sqrt(2.0)) for v in x])
        d = cdf + x * np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    return d.astype(F32)


def run(p: GeluParams, inputs: list[np.ndarray | None]) -> np.ndarray:
    x = np.asarray(inputs[0], dtype=np.int64)
    return table(p)[x + 128].reshape(p.out_shape)


def options(opt: Any) -> dict[str, Any]:
    return {"approximate": bool(getattr(opt, "approximate", False))} if opt is not None else {}


# TFLite's own int8 GELU is a table lookup: the portable kernel is one too (firmware/src/kernels/ref/
# lookup_s8.c), the DSP boards' the word-at-a-time tiny_lut_s8
GELU = OpDef(name="GELU", arity=(1, 1, (), None), prepare=prepare, run=run, options=options,
             fb_options="GeluOptions",
             variants=(lut_variant("GELU", table), lut_variant("GELU", table, fn="tiny_lookup_s8", dsp=False)),
             macs=lambda g, op: g.tensors[op.outputs[0]].size,
             input_rect=elementwise_rect, elementwise=True, local=True, inplace=same_shape_input,
             backward="dtable", derivative=derivative_table, tflm=False)
DEFS = [GELU]
