"""ELU (int8 in, int8 out), bit-exact with TFLite Micro (micro/kernels/elu.cc).

TFLM fills a 256-entry table at prepare (PopulateLookupTable, float32): x = s_in (q - zp_in),
exp(x) - 1 below zero, x above (std::exp on a float: expf, taken here in float64 and rounded to
float32), rounded half away from zero in output units, + zp_out, clamped (tiny.ops.base.lut_populate).
The table is emitted as a constant; the portable kernel and DSP boards' tiny_lut_s8 look it up.
Training: the derivative 1 above zero, exp(x) below, at each saved int8 input (backward "dtable")."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tiny.ir import Graph, Op
from tiny.ops.base import OpDef, Params, elementwise_rect, lut_inputs, lut_populate, lut_variant, same_shape_input
from tiny.reference.fixedpoint_ext import op_error, per_tensor_int8


@dataclass(eq=False)
class EluParams(Params):
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int
    out_shape: Any


def prepare(g: Graph, op: Op) -> EluParams:
    s_in, z_in = per_tensor_int8(g, op, op.inputs[0], "input")
    s_out, z_out = per_tensor_int8(g, op, op.outputs[0], "output")
    x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
    if x.shape != y.shape:
        raise op_error(g, op, f"input shape {x.shape} differs from output shape {y.shape}")
    return EluParams(input_scale=float(s_in), input_zero_point=z_in, output_scale=float(s_out),
                     output_zero_point=z_out, out_shape=tuple(g.tensors[op.outputs[0]].shape))


def elu_f32(x: np.ndarray) -> np.ndarray:
    """TFLM's transform, float32: value < 0 ? expf(value) - 1.0f : value."""
    e = np.array([math.exp(float(v)) for v in x.reshape(-1)], np.float64).astype(np.float32).reshape(x.shape)
    return np.where(x < np.float32(0.0), e - np.float32(1.0), x).astype(np.float32)


def table(p: EluParams) -> np.ndarray:
    """Output for every int8 input value, indexed by value + 128."""
    return lut_populate(p.input_scale, p.input_zero_point, p.output_scale, p.output_zero_point, elu_f32)


def derivative_table(p: EluParams) -> np.ndarray:
    """ELU' at the real value of every int8 input (1 above zero, exp(x) below, as TF's EluGrad)."""
    x = lut_inputs(p.input_scale, p.input_zero_point).astype(np.float64)
    return np.where(x > 0.0, 1.0, np.exp(np.minimum(x, 0.0))).astype(np.float32)


def run(p: EluParams, inputs: list[np.ndarray | None]) -> np.ndarray:
    return table(p)[np.asarray(inputs[0], dtype=np.int64) + 128].reshape(p.out_shape)


# a table lookup: portable tiny_lookup_s8 (firmware/src/kernels/ref/lookup_s8.c), tiny_lut_s8 on DSP boards
ELU = OpDef(name="ELU", arity=(1, 1, (), None), prepare=prepare, run=run,
            variants=(lut_variant("ELU", table), lut_variant("ELU", table, fn="tiny_lookup_s8", dsp=False)),
            macs=lambda g, op: g.tensors[op.outputs[0]].size,
            input_rect=elementwise_rect, elementwise=True, local=True, inplace=same_shape_input,
            backward="dtable", derivative=derivative_table)
DEFS = [ELU]
