"""RELU, RELU6 and LEAKY_RELU on int8, as TFLM (micro/kernels/activations*.cc, leaky_relu*.cc).

- RELU requantizes: out = clamp(zp_out + MBQM(x - zp_in, QuantizeMultiplier(double(float(s_in /
  s_out)))), max(-128, zp_out), 127) (the scale ratio is a float32 division, as TFLM writes it).
- RELU6 does not: it clamps the raw input to [zp_in, FloatToQuantizedType(6.0f, s_in, zp_in)] and
  ignores the output quantization (converted models give both the same).
- LEAKY_RELU: x - zp_in >= 0 scaled by s_in / s_out, otherwise by float32(s_in * alpha / s_out),
  each with its own QuantizeMultiplier, + zp_out, clamped to int8. TFLM releases differ on a
  negative alpha, so it is refused."""
from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Any

import numpy as np

from tiny.emit.ctx import EmitCtx
from tiny.ir import Graph, Op
from tiny.ops.base import OpDef, Params, Variant, elementwise_rect, same_shape_input
from tiny.reference.fixedpoint import quantize_multiplier
from tiny.reference.fixedpoint_ext import mbqm, op_error, per_tensor_int8



@dataclass(eq=False)
class ActivationParams(Params):
    op: str
    index: int
    out_shape: Any
    input_offset: int
    output_offset: int
    multiplier: int = 0
    shift: int = 0
    act_min: int = -128
    act_max: int = 127
    lower: int = -128
    upper: int = 127
    multiplier_identity: int = 0
    shift_identity: int = 0
    multiplier_alpha: int = 0
    shift_alpha: int = 0


def _round_away(v: float) -> int:
    return int(math.floor(abs(v) + 0.5)) * (1 if v >= 0 else -1)


def prepare(g: Graph, op: Op) -> ActivationParams:
    if len(op.inputs) != 1 or len(op.outputs) != 1:
        raise op_error(g, op, "expected one input and one output")
    s_in, z_in = per_tensor_int8(g, op, op.inputs[0], "input")
    s_out, z_out = per_tensor_int8(g, op, op.outputs[0], "output")
    x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
    if x.shape != y.shape:
        raise op_error(g, op, f"input shape {x.shape} differs from output shape {y.shape}")
    f32 = np.float32
    p = ActivationParams(op=op.type, index=op.index, out_shape=tuple(y.shape), input_offset=z_in,
                         output_offset=z_out)
    if op.type == "RELU":
        m, s = quantize_multiplier(float(f32(s_in) / f32(s_out)))
        p.multiplier, p.shift, p.act_min, p.act_max = m, s, max(-128, z_out), 127
    elif op.type == "RELU6":
        six = _round_away(float(f32(6.0) / f32(s_in))) + z_in     # FloatToQuantizedType clamps to int8
        p.lower, p.upper = z_in, int(np.clip(six, -128, 127))
        p.act_min, p.act_max = p.lower, p.upper      # the output clamp, as the training mask reads it
    else:
        alpha = float(op.attrs.get("alpha", 0.2))
        if alpha < 0:
            raise op_error(g, op, f"alpha {alpha:g} < 0 is not supported (TFLM versions disagree on it)")
        mi, si = quantize_multiplier(float(f32(s_in) / f32(s_out)))
        ma, sa = quantize_multiplier(float(f32(s_in) * f32(alpha) / f32(s_out)))
        p.multiplier_identity, p.shift_identity, p.multiplier_alpha, p.shift_alpha = mi, si, ma, sa
    return p


def run(p: ActivationParams, inputs: list[np.ndarray | None]) -> np.ndarray:
    x = np.asarray(inputs[0], dtype=np.int64)
    if p.op == "RELU6":
        out = np.clip(x, p.lower, p.upper)
    elif p.op == "RELU":
        v = p.output_offset + mbqm(x - p.input_offset, p.multiplier, p.shift)
        out = np.clip(v, p.act_min, p.act_max)
    else:
        d = x - p.input_offset
        pos = mbqm(d, p.multiplier_identity, p.shift_identity)
        neg = mbqm(d, p.multiplier_alpha, p.shift_alpha)
        out = np.clip(p.output_offset + np.where(d >= 0, pos, neg), -128, 127)
    return out.astype(np.int8).reshape(p.out_shape)


def scratch_bytes(p: ActivationParams) -> int:
    return 0


# Field order of the params structs in kernels_elementwise_ext.h (all int32).
FIELDS = {"RELU": ("input_offset", "output_offset", "multiplier", "shift", "act_min", "act_max"),
          "RELU6": ("lower", "upper"),
          "LEAKY_RELU": ("input_offset", "output_offset", "multiplier_identity", "shift_identity",
                         "multiplier_alpha", "shift_alpha")}


def emit(p: ActivationParams, e: EmitCtx, fn: str) -> str:
    params = e.struct(f"tiny_{p.op.lower()}_params", "params", {k: int(getattr(p, k)) for k in FIELDS[p.op]})
    return f"{fn}({params}, {e.size(p.out_shape)}, {e.inp(0)}, {e.out()});"


def leaky_options(opt: Any) -> dict[str, Any]:
    return {"alpha": float(opt.alpha)} if opt is not None else {}


def _unary(name: str, **kw: Any) -> OpDef:
    return OpDef(name=name, arity=(1, 1, (), None), prepare=prepare, run=run, emit=emit, scratch=scratch_bytes,
                 variants=(Variant(f"tiny_{name.lower()}_s8"),), macs=lambda g, op: g.tensors[op.outputs[0]].size,
                 input_rect=elementwise_rect, elementwise=True, local=True, inplace=same_shape_input, **kw)


# the gradient passes where the int8 output is inside the clamp (a mask, tiny.passes.sparse_update)
RELU = _unary("RELU", backward="copy")
RELU6 = _unary("RELU6", backward="copy")
LEAKY_RELU = _unary("LEAKY_RELU", fb_options="LeakyReluOptions", options=leaky_options, backward="leaky")
DEFS = [RELU, RELU6, LEAKY_RELU]
