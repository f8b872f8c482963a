"""RELU, RELU6 and LEAKY_RELU on int8, as TFLM (micro/kernels/activations*.cc, leaky_relu*.cc).

- RELU requantizes: out = clamp(zp_out + MBQM(x - zp_in, QuantizeMultiplier(double(float(s_in /
  s_out)))), max(-128, zp_out), 127) (the scale ratio is a float32 division, as TFLM writes it).
- RELU6 does not: it clamps the raw input to [zp_in, FloatToQuantizedType(6.0f, s_in, zp_in)] and
  ignores the output quantization (converted models give both the same).
- LEAKY_RELU: x - zp_in >= 0 scaled by s_in / s_out, otherwise by float32(s_in * alpha / s_out),
  each with its own QuantizeMultiplier, + zp_out, clamped to int8. TFLM releases differ on a
  negative alpha, so it is refused."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from tiny.emit.ctx import EmitCtx
from tiny.ir import Graph, Op
from tiny.reference.fixedpoint import quantize_multiplier
from tiny.reference.fixedpoint_ext import mbqm, op_error, per_tensor_int8

OPS = ["RELU", "RELU6", "LEAKY_RELU"]


def _round_away(v: float) -> int:
    return int(math.floor(abs(v) + 0.5)) * (1 if v >= 0 else -1)


def prepare(g: Graph, op: Op) -> dict[str, Any]:
    if len(op.inputs) != 1 or len(op.outputs) != 1:
        raise op_error(g, op, "expected one input and one output")
    s_in, z_in = per_tensor_int8(g, op, op.inputs[0], "input")
    s_out, z_out = per_tensor_int8(g, op, op.outputs[0], "output")
    x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
    if x.shape != y.shape:
        raise op_error(g, op, f"input shape {x.shape} differs from output shape {y.shape}")
    f32 = np.float32
    p: dict[str, Any] = dict(op=op.type, index=op.index, out_shape=tuple(y.shape), input_offset=z_in,
                             output_offset=z_out)
    if op.type == "RELU":
        m, s = quantize_multiplier(float(f32(s_in) / f32(s_out)))
        p.update(multiplier=m, shift=s, act_min=max(-128, z_out), act_max=127)
    elif op.type == "RELU6":
        six = _round_away(float(f32(6.0) / f32(s_in))) + z_in     # FloatToQuantizedType clamps to int8
        p.update(lower=z_in, upper=int(np.clip(six, -128, 127)))
    else:
        alpha = float(op.attrs.get("alpha", 0.2))
        if alpha < 0:
            raise op_error(g, op, f"alpha {alpha:g} < 0 is not supported (TFLM versions disagree on it)")
        mi, si = quantize_multiplier(float(f32(s_in) / f32(s_out)))
        ma, sa = quantize_multiplier(float(f32(s_in) * f32(alpha) / f32(s_out)))
        p.update(multiplier_identity=mi, shift_identity=si, multiplier_alpha=ma, shift_alpha=sa)
    return p


def run(p: dict[str, Any], inputs: list[np.ndarray | None]) -> np.ndarray:
    x = np.asarray(inputs[0], dtype=np.int64)
    if p["op"] == "RELU6":
        out = np.clip(x, p["lower"], p["upper"])
    elif p["op"] == "RELU":
        v = p["output_offset"] + mbqm(x - p["input_offset"], p["multiplier"], p["shift"])
        out = np.clip(v, p["act_min"], p["act_max"])
    else:
        d = x - p["input_offset"]
        pos = mbqm(d, p["multiplier_identity"], p["shift_identity"])
        neg = mbqm(d, p["multiplier_alpha"], p["shift_alpha"])
        out = np.clip(p["output_offset"] + np.where(d >= 0, pos, neg), -128, 127)
    return out.astype(np.int8).reshape(p["out_shape"])


def scratch_bytes(p: dict[str, Any]) -> int:
    return 0


# Field order of the params structs in kernels_elementwise_ext.h (all int32).
FIELDS = {"RELU": ("input_offset", "output_offset", "multiplier", "shift", "act_min", "act_max"),
          "RELU6": ("lower", "upper"),
          "LEAKY_RELU": ("input_offset", "output_offset", "multiplier_identity", "shift_identity",
                         "multiplier_alpha", "shift_alpha")}


def emit(p: dict[str, Any], e: EmitCtx) -> str:
    name = p["op"].lower()
    params = e.struct(f"tiny_{name}_params", "params", {k: int(p[k]) for k in FIELDS[p["op"]]})
    return f"tiny_{name}_s8({params}, {e.size(p['out_shape'])}, {e.inp(0)}, {e.out()});"
