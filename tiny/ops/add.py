"""ADD (int8, broadcasting, fused activation), bit-exact with TFLite Micro.

TFLM rescales both inputs to a common scale with 20 bits of headroom (left_shift), adds, then
rescales to the output: three QuantizeMultiplierSmallerThanOneExp multipliers computed in double
from the float32 scales. Broadcasting follows numpy rules (TFLM's BroadcastBinaryOpSimple gives
the same element pairing). The helpers for broadcast layout and constant operands are shared with
mul.py.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tiny.emit.ctx import EmitCtx, SymDims
from tiny.ir import Graph, Op
from tiny.reference.fixedpoint import rounding_divide_by_pot, saturating_rounding_doubling_high_mul as srdhm
from tiny.reference.fixedpoint_ext import (activation_range_f32, op_error, per_tensor_int8,
                                           quantize_multiplier_smaller_than_one_exp)

from tiny.ops.base import Local, OpDef, Params, Variant, elementwise_rect, fused_activation

LEFT_SHIFT = 20


def local_dims(d: tuple[int, ...], full: tuple[int, ...], local: Any) -> Any:
    """An elementwise operand layout re-targeted to a patch: same shape, or flattened."""
    d = tuple(d)
    if d == full:
        return local
    if int(np.prod(d)) == int(np.prod(full)) and all(v == 1 for v in d[:-1]):
        return local.flat(len(d)) if isinstance(local, SymDims) else (1,) * (len(d) - 1) + (int(np.prod(local)),)
    return d


@dataclass(eq=False)
class BinaryParams(Params):
    """What ADD and MUL share: operand layout, clamp and constant operands."""
    scales: tuple[float, float, float]
    zero_points: tuple[int, int, int]
    dims: tuple[Any, Any, Any]          # (in1, in2, out) 4-D layouts pairing elements as numpy broadcasting
    out_shape: Any
    act_min: int
    act_max: int
    const: list[np.ndarray | None]      # data of constant operands
    in1_offset: int = 0
    in2_offset: int = 0
    out_offset: int = 0
    out_multiplier: int = 0
    out_shift: int = 0

    @property
    def broadcasts(self) -> bool:
        return any(tuple(d) != tuple(self.dims[-1]) for d in self.dims)

    def patchable(self, out_shape: tuple[int, ...]) -> bool:
        size = int(np.prod(out_shape))
        for d in self.dims:
            flat = int(np.prod(d)) == size and all(v == 1 for v in tuple(d)[:-1])
            if tuple(d) != tuple(out_shape) and not flat:
                return False
        return True

    def localize(self, loc: Local) -> "BinaryParams":
        full = tuple(loc.full_out_shape)
        return replace(self, out_shape=loc.out_shape,
                       dims=tuple(local_dims(d, full, loc.out_shape) for d in self.dims))


@dataclass(eq=False)
class AddParams(BinaryParams):
    left_shift: int = LEFT_SHIFT
    in1_multiplier: int = 0
    in1_shift: int = 0
    in2_multiplier: int = 0
    in2_shift: int = 0


def broadcast_layout(s1: tuple[int, ...], s2: tuple[int, ...], so: tuple[int, ...],
                     ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]] | None:
    """4-D shapes (n, h, w, c) for the C kernel that pair elements exactly like numpy broadcasting.

    Shapes are right-aligned, size-1 output dims dropped and neighbouring dims with the same
    broadcast pattern merged (merging keeps memory order), so any rank works as long as at most
    four broadcast "runs" remain. None when the shapes do not broadcast to `so` or need > 4 dims."""
    r = max(len(s1), len(s2), len(so))
    a = (1,) * (r - len(s1)) + tuple(s1)
    b = (1,) * (r - len(s2)) + tuple(s2)
    o = (1,) * (r - len(so)) + tuple(so)
    runs: list[list[int]] = []
    kinds: list[tuple[bool, bool]] = []
    for x, y, z in zip(a, b, o):
        if x not in (1, z) or y not in (1, z) or z != max(x, y):
            return None
        if z == 1:
            continue
        kind = (x == z, y == z)
        if kinds and kinds[-1] == kind:
            runs[-1] = [runs[-1][0] * x, runs[-1][1] * y, runs[-1][2] * z]
        else:
            runs.append([x, y, z])
            kinds.append(kind)
    if len(runs) > 4:
        return None
    runs = [[1, 1, 1]] * (4 - len(runs)) + runs
    return (tuple(r_[0] for r_ in runs), tuple(r_[1] for r_ in runs), tuple(r_[2] for r_ in runs))


def binary_common(g: Graph, op: Op) -> dict[str, Any]:
    """Checks and layout shared by ADD and MUL: int8 per-tensor operands, broadcast dims,
    fused activation clamp and the data of constant operands."""
    if len(op.inputs) != 2 or len(op.outputs) != 1:
        raise op_error(g, op, f"expected 2 inputs and 1 output, got {len(op.inputs)} and {len(op.outputs)}")
    s1, z1 = per_tensor_int8(g, op, op.inputs[0], "input 1")
    s2, z2 = per_tensor_int8(g, op, op.inputs[1], "input 2")
    so, zo = per_tensor_int8(g, op, op.outputs[0], "output")
    t1, t2, to = (g.tensors[t] for t in (op.inputs[0], op.inputs[1], op.outputs[0]))
    layout = broadcast_layout(t1.shape, t2.shape, to.shape)
    if layout is None:
        raise op_error(g, op, f"cannot broadcast {t1.shape} and {t2.shape} to {to.shape} "
                              "in at most 4 dimensions")
    act = op.attrs.get("activation", "NONE")
    rng = activation_range_f32(act, so, zo)
    if rng is None:
        raise op_error(g, op, f"fused activation {act} is not supported on a quantized {op.type}")
    return {"scales": (s1, s2, so), "zero_points": (z1, z2, zo), "dims": layout,
            "out_shape": tuple(to.shape), "act_min": rng[0], "act_max": rng[1],
            "const": [t1.data if t1.is_const else None, t2.data if t2.is_const else None]}


def binary_operands(p: BinaryParams, e: EmitCtx) -> tuple[str, str]:
    """C pointer expressions of both operands: arena pointers, or emitted tables for constants."""
    ptrs = []
    for i, data in enumerate(p.const):
        if data is None:
            ptrs.append(e.inp(i))
        else:
            ptrs.append(e.const(f"in{i + 1}", np.asarray(data, dtype=np.int8).reshape(-1),
                                comment=f"constant operand {i + 1}"))
    return ptrs[0], ptrs[1]


def prepare(g: Graph, op: Op) -> AddParams:
    p = AddParams(**binary_common(g, op))
    s1, s2, so = (float(np.float32(s)) for s in p.scales)
    z1, z2, zo = p.zero_points
    twice_max_input_scale = 2.0 * max(s1, s2)
    m1 = quantize_multiplier_smaller_than_one_exp(s1 / twice_max_input_scale)
    m2 = quantize_multiplier_smaller_than_one_exp(s2 / twice_max_input_scale)
    mo = quantize_multiplier_smaller_than_one_exp(twice_max_input_scale / ((1 << LEFT_SHIFT) * so))
    if m1 is None or m2 is None or mo is None:
        # TFLM's Prepare CHECK-fails here (abort); say which scales are unusable instead.
        raise op_error(g, op, f"scales in1={s1:g}, in2={s2:g}, out={so:g} give a rescale multiplier "
                              "outside (0, 1); TFLM rejects this quantization")
    return replace(p, in1_offset=-z1, in2_offset=-z2, left_shift=LEFT_SHIFT,
                   in1_multiplier=m1[0], in1_shift=m1[1], in2_multiplier=m2[0], in2_shift=m2[1],
                   out_multiplier=mo[0], out_shift=mo[1], out_offset=zo)


def _scale_down(x: np.ndarray, multiplier: int, shift: int) -> np.ndarray:
    """MultiplyByQuantizedMultiplierSmallerThanOneExp (shift <= 0)."""
    return rounding_divide_by_pot(srdhm(x, multiplier), -shift)


def run(p: AddParams, inputs: list[np.ndarray | None]) -> np.ndarray:
    d1, d2, _ = p.dims
    a = np.asarray(inputs[0], dtype=np.int64).reshape(d1)
    b = np.asarray(inputs[1], dtype=np.int64).reshape(d2)
    x1 = _scale_down((a + p.in1_offset) << p.left_shift, p.in1_multiplier, p.in1_shift)
    x2 = _scale_down((b + p.in2_offset) << p.left_shift, p.in2_multiplier, p.in2_shift)
    raw = _scale_down(x1 + x2, p.out_multiplier, p.out_shift) + p.out_offset
    out = np.clip(raw, p.act_min, p.act_max).astype(np.int8)
    return out.reshape(p.out_shape)


def scratch_bytes(p: Any) -> int:
    return 0


# Field order of tiny_add_params in kernels_elementwise.h (all int32).
PARAM_FIELDS = ("in1_offset", "in2_offset", "left_shift", "in1_multiplier", "in1_shift",
                "in2_multiplier", "in2_shift", "out_multiplier", "out_shift", "out_offset",
                "act_min", "act_max")


def emit(p: AddParams, e: EmitCtx, fn: str) -> str:
    params = e.struct("tiny_add_params", "params", {k: int(getattr(p, k)) for k in PARAM_FIELDS})
    in1, in2 = binary_operands(p, e)
    d1, d2, do = p.dims
    return (f"{fn}({params}, {e.dims(d1)}, {in1}, {e.dims(d2)}, {in2}, "
            f"{e.dims(do)}, {e.out()});")


# == TINY_ADD_LUT_MIN / TINY_ADD_LUT_BYTES (kernels_arm.h): from this many elements the DSP kernel
# tabulates both input rescales (2 x 256 int32) in planned scratch.
ADD_LUT_MIN = 256
ADD_LUT_BYTES = 2 * 256 * 4 + 4


def dsp_scratch(p: AddParams) -> int:
    """== tiny_add_s8_dsp_get_buffer_size (add_s8_dsp.c); a symbolic (patch) extent counts as large."""
    try:
        n = int(np.prod([int(v) for v in p.out_shape]))
    except (TypeError, ValueError):
        return ADD_LUT_BYTES
    return ADD_LUT_BYTES if n >= ADD_LUT_MIN else 0


def emit_dsp(p: AddParams, e: EmitCtx, fn: str) -> str:
    """tiny_add_s8_dsp takes the scratch ctx first (its rescale tables)."""
    return emit(p, e, fn).replace(f"{fn}(", f"{fn}({e.ctx()}, ", 1)


def binary_options(opt: Any) -> dict[str, Any]:
    return fused_activation(opt)


def binary_inplace(g: Graph, op: Op) -> list[int]:
    """Equal-shaped binary ops read element i of each input before writing element i."""
    out = g.tensors[op.outputs[0]]
    return [i for i, t in enumerate(op.inputs[:2]) if not g.tensors[t].is_const and g.tensors[t].shape == out.shape]


def elementwise_macs(g: Graph, op: Op) -> int:
    return g.tensors[op.outputs[0]].size


ADD = OpDef(name="ADD", fb_options="AddOptions", arity=(2, 2, (), None), options=binary_options, prepare=prepare, run=run, emit=emit, scratch=scratch_bytes,
            variants=(Variant("tiny_add_s8_dsp", lambda p, t: not p.broadcasts and dsp_scratch(p) > 0, dsp=True,
                              scratch=dsp_scratch, emit=emit_dsp),
                      # no planned scratch (small adds, patch stages): the direct per-element path
                      Variant("tiny_add_s8_dsp", lambda p, t: not p.broadcasts, dsp=True, emit=emit_dsp),
                      Variant("tiny_add_s8")),
            macs=elementwise_macs, input_rect=elementwise_rect, elementwise=True, local=True,
            inplace=binary_inplace, backward="add", color="#16a085", portable_why=lambda p: "broadcasting add")
DEFS = [ADD]
