"""MEAN and SUM (int8, any constant axis set, keep_dims or not), bit-exact with TFLite Micro.

TFLM sums the raw int8 values into int32, subtracts zero_point * count, and requantizes with
QuantizeMultiplier(s_in / s_out) into which 1/count is folded: the multiplier is shifted left by
min(floor(log2 count), 32, 31 + shift), divided by count (int64, truncating) and the shift lowered
by the same amount. SUM is the same computation without that fold (QuantizedMeanOrSum with
compute_sum=true), so both run as tiny_mean_s8. keras GlobalAveragePooling2D gives axes [1, 2];
models converted from PyTorch reduce one axis at a time, often over a scalar axis tensor.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tiny.emit.ctx import EmitCtx
from tiny.ir import Graph, Op
from tiny.reference.fixedpoint_ext import mbqm, op_error, per_tensor_int8, quantize_multiplier, wrap32

from tiny.ops.base import OpDef, Params, Variant


@dataclass(eq=False)
class MeanParams(Params):
    axes: tuple[int, ...]
    count: int
    in_zero_point: int
    out_zero_point: int
    multiplier: int
    shift: int
    in_dims: tuple[int, int, int, int]
    axis_mask: int
    out_shape: tuple[int, ...]


def _as_4d(shape: tuple[int, ...]) -> tuple[list[int], list[int]]:
    """The (n, h, w, c) view EmitCtx.dims uses, and where each original axis lands in it."""
    r = len(shape)
    if r == 4:
        pos = [0, 1, 2, 3]
    elif r == 3:
        pos = [1, 2, 3]
    elif r == 2:
        pos = [0, 3]
    elif r == 1:
        pos = [3]
    else:
        pos = []
    d4 = [1, 1, 1, 1]
    for ax, k in enumerate(pos):
        d4[k] = int(shape[ax])
    return d4, pos


@dataclass(frozen=True)
class Reduction:
    """A reduction's resolved axes (TFLM's ResolveAxis) in the original and the 4-D view."""
    axes: tuple[int, ...]
    count: int
    in_dims: tuple[int, int, int, int]
    axis_mask: int
    out_shape: tuple[int, ...]


def reduce_axes(g: Graph, op: Op) -> Reduction:
    """Resolve a reduction's constant axes and check the output shape against them."""
    t_in, t_axis, t_out = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]]
    if not t_axis.is_const or t_axis.dtype != "int32":
        raise op_error(g, op, f"axes tensor '{t_axis.name}' must be a constant int32 tensor")
    rank = len(t_in.shape)
    if rank > 4:
        raise op_error(g, op, f"input '{t_in.name}' has rank {rank}; at most 4 is supported")
    axes: list[int] = []
    for a in np.asarray(t_axis.data).reshape(-1).tolist():
        r = a + rank if a < 0 else a
        if not 0 <= r < rank:
            raise op_error(g, op, f"axis {a} out of range for input rank {rank}")
        if r not in axes:        # TFLM's ResolveAxis drops duplicates
            axes.append(r)
    keep = bool(op.attrs.get("keep_dims", False))
    expect = tuple(1 if i in axes else d for i, d in enumerate(t_in.shape)) if keep else \
        tuple(d for i, d in enumerate(t_in.shape) if i not in axes)
    if int(np.prod(expect, dtype=np.int64)) != t_out.size:
        raise op_error(g, op, f"output shape {t_out.shape} does not match reducing {t_in.shape} "
                              f"over axes {axes}")
    count = int(np.prod([t_in.shape[a] for a in axes], dtype=np.int64)) if axes else 1
    d4, pos = _as_4d(tuple(t_in.shape))
    return Reduction(axes=tuple(axes), count=count, in_dims=tuple(d4), axis_mask=sum(1 << pos[a] for a in axes),
                     out_shape=tuple(t_out.shape))


def prepare(g: Graph, op: Op) -> MeanParams:
    if len(op.inputs) != 2 or len(op.outputs) != 1:
        raise op_error(g, op, "expected inputs (data, axes) and one output")
    s_in, z_in = per_tensor_int8(g, op, op.inputs[0], "input")
    s_out, z_out = per_tensor_int8(g, op, op.outputs[0], "output")
    r = reduce_axes(g, op)
    count = r.count
    multiplier, shift = quantize_multiplier(float(s_in) / float(s_out))
    if count > 0 and op.type != "SUM":
        # Fold 1/count into the multiplier exactly as TFLM's QuantizedMeanOrSum does.
        # k >= 0: quantize_multiplier never returns a shift below -31.
        k = min(count.bit_length() - 1, 32, 31 + shift)
        multiplier = (multiplier << k) // count
        shift -= k
    if shift > 30 or shift < -31:
        raise op_error(g, op, f"scales in={s_in:g}, out={s_out:g} give a shift of {shift}; "
                              "outside what TFLM can apply")
    return MeanParams(axes=r.axes, count=count, in_zero_point=z_in, out_zero_point=z_out,
                      multiplier=multiplier, shift=shift, in_dims=r.in_dims, axis_mask=r.axis_mask,
                      out_shape=r.out_shape)


def run(p: MeanParams, inputs: list[np.ndarray | None]) -> np.ndarray:
    x = np.asarray(inputs[0], dtype=np.int64)
    total = x.sum(axis=p.axes) if p.axes else x
    shifted = wrap32(wrap32(total) - p.in_zero_point * p.count)
    out = mbqm(shifted, p.multiplier, p.shift) + p.out_zero_point
    return np.clip(out, -128, 127).astype(np.int8).reshape(p.out_shape)


def scratch_bytes(p: MeanParams) -> int:
    # The C kernel sums each output element in a register: no accumulator buffer, unlike TFLM.
    return 0


# Field order of tiny_mean_params in kernels_elementwise.h (all int32).
PARAM_FIELDS = ("axis_mask", "in_zero_point", "out_zero_point", "multiplier", "shift")


def emit(p: MeanParams, e: EmitCtx, fn: str) -> str:
    params = e.struct("tiny_mean_params", "params", {k: int(getattr(p, k)) for k in PARAM_FIELDS})
    return f"{fn}({params}, {e.dims(p.in_dims)}, {e.inp(0)}, {e.out()});"


def options(opt: Any) -> dict[str, Any]:
    return {"keep_dims": bool(opt.keepDims)} if opt is not None else {}


def dsp_ok(p: MeanParams) -> bool:
    """tiny_mean_s8_dsp's own case: H and W reduced, C kept (4 channels a word), N either way."""
    n, h, w, c = p.in_dims
    return (p.axis_mask & 0xE) == 0x6 and c >= 4 and n * h * w <= 1 << 23 and p.multiplier >= 0


def portable_why(p: MeanParams) -> str:
    if (p.axis_mask & 0xE) != 0x6:
        return "reduces other axes than H and W (the DSP kernel sums pixels, channels kept)"
    if p.in_dims[3] < 4:
        return f"{p.in_dims[3]} channels: fewer than the 4 lanes of a word"
    return "more than 2^23 pixels"


_VARIANTS = (Variant("tiny_mean_s8_dsp", lambda p, t: dsp_ok(p), dsp=True), Variant("tiny_mean_s8"))

MEAN = OpDef(name="MEAN", fb_options="ReducerOptions", arity=(2, 2, (), None), options=options, prepare=prepare, run=run, emit=emit, scratch=scratch_bytes,
             variants=_VARIANTS, portable_why=portable_why, macs=lambda g, op: g.tensors[op.inputs[0]].size,
             data_inputs=lambda g, op: [0], backward="mean", color="#7f8c8d")
SUM = OpDef(name="SUM", fb_options="ReducerOptions", arity=(2, 2, (), None), options=options, prepare=prepare,
            run=run, emit=emit, scratch=scratch_bytes, variants=_VARIANTS, portable_why=portable_why,
            macs=lambda g, op: g.tensors[op.inputs[0]].size, data_inputs=lambda g, op: [0])
DEFS = [MEAN, SUM]
