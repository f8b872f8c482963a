"""STRIDED_SLICE: folded at load time when its input is a constant (Keras' dynamic-batch shape
arithmetic), otherwise run on int8 data as TFLM (micro/kernels/strided_slice.cc ->
reference_ops::StridedSlice).

begin/end/strides are constant; begin_mask / end_mask bits take the whole axis, shrink_axis_mask
bits take the single element at begin (the axis disappears from the output); negative indices count
from the end and are clamped as TFLM's StartForAxis / StopForAxis do, which is Python's
slice.indices. The slice then runs as tiny_slice_s8 with per-axis start and (possibly negative)
stride. ellipsis_mask / new_axis_mask are refused; rank <= 4."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tiny.emit.ctx import EmitCtx
from tiny.ir import Graph, IRError, Op
from tiny.ops.base import OpDef, Params, Variant
from tiny.ops.conv2d import op_error


def options(opt: Any) -> dict[str, Any]:
    if opt is None:
        return {}
    return dict(begin_mask=opt.beginMask, end_mask=opt.endMask, ellipsis_mask=opt.ellipsisMask,
                new_axis_mask=opt.newAxisMask, shrink_axis_mask=opt.shrinkAxisMask)


def fold(op: Op, ins: list[Any]) -> np.ndarray:
    x, begin, end, strides = (t.data for t in ins)
    a = op.attrs
    if x.ndim != 1 or a.get("ellipsis_mask") or a.get("new_axis_mask"):
        raise IRError(f"op #{op.index} {op.type}: only 1-D constant slices can be folded")
    b = None if a.get("begin_mask", 0) & 1 else int(begin[0])
    e = None if a.get("end_mask", 0) & 1 else int(end[0])
    if a.get("shrink_axis_mask", 0) & 1:
        return np.asarray(x[int(begin[0])])
    return x[b:e:int(strides[0])]


@dataclass(eq=False)
class StridedSliceParams(Params):
    in_dims: tuple[int, int, int, int]
    begin: tuple[int, int, int, int]
    stride: tuple[int, int, int, int]
    out_dims: tuple[int, int, int, int]
    out_shape: tuple[int, ...]


def prepare(g: Graph, op: Op) -> StridedSliceParams:
    if len(op.inputs) != 4 or len(op.outputs) != 1:
        raise op_error(g, op, "expected inputs (data, begin, end, strides) and one output")
    x, tb, te, ts = (g.tensors[t] for t in op.inputs)
    y = g.tensors[op.outputs[0]]
    if x.dtype != "int8" or y.dtype != "int8":
        raise op_error(g, op, f"input '{x.name}' is {x.dtype}, output {y.dtype}; only int8 is supported")
    if not (tb.is_const and te.is_const and ts.is_const):
        raise op_error(g, op, "begin, end and strides must be constant")
    a = op.attrs
    if a.get("ellipsis_mask") or a.get("new_axis_mask"):
        raise op_error(g, op, "ellipsis_mask / new_axis_mask are not supported")
    rank = len(x.shape)
    if rank > 4:
        raise op_error(g, op, f"input '{x.name}' has rank {rank}; at most 4 is supported")
    begin, end, strides = (np.asarray(t.data).reshape(-1).astype(int).tolist() for t in (tb, te, ts))
    if not len(begin) == len(end) == len(strides) == rank or 0 in strides:
        raise op_error(g, op, f"begin {begin}, end {end}, strides {strides} do not fit input {x.shape}")
    starts, steps, counts = [], [], []
    for i, d in enumerate(x.shape):
        if a.get("shrink_axis_mask", 0) >> i & 1:
            b = begin[i] + d if begin[i] < 0 else begin[i]
            if not 0 <= b < d:
                raise op_error(g, op, f"shrink index {begin[i]} is outside axis {i} of size {d}")
            starts.append(b), steps.append(1), counts.append(1)
            continue
        b = None if a.get("begin_mask", 0) >> i & 1 else begin[i]
        e = None if a.get("end_mask", 0) >> i & 1 else end[i]
        start, stop, step = slice(b, e, strides[i]).indices(d)
        n = len(range(start, stop, step))
        if n == 0:
            raise op_error(g, op, f"axis {i} of the slice is empty")
        starts.append(start), steps.append(step), counts.append(n)
    if int(np.prod(counts)) != y.size:
        raise op_error(g, op, f"slice of {x.shape} has {int(np.prod(counts))} values, output {y.shape} {y.size}")
    lead = 4 - rank
    return StridedSliceParams(in_dims=(1,) * lead + tuple(int(v) for v in x.shape), begin=(0,) * lead + tuple(starts),
                              stride=(1,) * lead + tuple(steps), out_dims=(1,) * lead + tuple(counts),
                              out_shape=tuple(y.shape))


def run(p: StridedSliceParams, inputs: list[np.ndarray | None]) -> np.ndarray:
    x = np.asarray(inputs[0], dtype=np.int8).reshape(p.in_dims)
    idx = tuple(np.arange(n) * s + b for b, s, n in zip(p.begin, p.stride, p.out_dims))
    return np.ascontiguousarray(x[np.ix_(*idx)]).reshape(p.out_shape)


def emit(p: StridedSliceParams, e: EmitCtx, fn: str) -> str:
    b, s = p.begin, p.stride
    params = e.struct("tiny_slice_params", "params", {"begin": f"{{ {b[0]}, {b[1]}, {b[2]}, {b[3]} }}",
                                                      "stride": f"{{ {s[0]}, {s[1]}, {s[2]}, {s[3]} }}"})
    return f"{fn}({params}, {e.dims(p.in_dims)}, {e.inp(0)}, {e.dims(p.out_dims)}, {e.out()});"


STRIDED_SLICE = OpDef(name="STRIDED_SLICE", no_dsp_why="data movement, no MACs", fb_options="StridedSliceOptions", options=options, fold=fold,
                      prepare=prepare, run=run, emit=emit, variants=(Variant("tiny_slice_s8"),),
                      data_inputs=lambda g, op: [0])
DEFS = [STRIDED_SLICE]
