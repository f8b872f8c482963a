"""SPLIT, SPLIT_V and UNPACK (int8, any axis, several outputs), as TFLM (micro/kernels/split.cc,
split_v.cc, unpack.cc): each output is a box of the input along one axis, copied byte for byte.
TFLM never requantizes here (the converter gives every output the input's scale and zero point),
so neither do we.

The input is seen as [outer, axis, inner]; output k takes rows offset_k .. offset_k + size_k of
the middle axis. UNPACK is a SPLIT into pieces of size 1 whose outputs drop the axis.
SPLIT's axis is its constant input 0 (then the data); SPLIT_V's inputs are (data, size_splits,
axis) with at most one size -1 (the rest of the axis). TFLM requires the axis to be constant."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tiny.emit.ctx import EmitCtx
from tiny.ir import Graph, Op
from tiny.ops.base import OpDef, Params, Variant
from tiny.ops.conv2d import op_error


@dataclass(eq=False)
class SplitParams(Params):
    op: str
    index: int
    data: int                       # position of the data input
    in_shape: tuple[int, ...]
    axis: int                       # non-negative
    outer: int                      # product of the dims before the axis
    inner: int                      # product of the dims after it
    sizes: tuple[int, ...]          # extent of each output along the axis
    out_shapes: tuple[tuple[int, ...], ...]

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.out_shapes[0]


def _axis(g: Graph, op: Op, pos: int, rank: int) -> int:
    t = g.tensors[op.inputs[pos]]
    if not t.is_const:
        raise op_error(g, op, f"axis '{t.name}' must be a constant tensor (TFLM requires it)")
    vals = np.asarray(t.data).reshape(-1)
    if vals.size != 1:
        raise op_error(g, op, f"axis '{t.name}' holds {vals.size} values; expected one")
    return _norm_axis(g, op, int(vals[0]), rank)


def _norm_axis(g: Graph, op: Op, axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise op_error(g, op, f"axis {axis} is outside a rank-{rank} input")
    return axis % rank


def _params(g: Graph, op: Op, data: int, axis: int, sizes: list[int], drop_axis: bool) -> SplitParams:
    x = g.tensors[op.inputs[data]]
    outs = [g.tensors[t] for t in op.outputs]
    for t in (x, *outs):
        if t.dtype != "int8":
            raise op_error(g, op, f"tensor '{t.name}' is {t.dtype}; only int8 is supported")
    shape = tuple(int(d) for d in x.shape)
    if len(sizes) != len(outs):
        raise op_error(g, op, f"{len(sizes)} pieces for {len(outs)} outputs")
    if sum(sizes) != shape[axis] or any(s < 0 for s in sizes):
        raise op_error(g, op, f"pieces {sizes} along axis {axis} do not add up to {shape[axis]} ({shape})")
    for t, s in zip(outs, sizes):
        want = shape[:axis] + (() if drop_axis else (s,)) + shape[axis + 1:]
        if tuple(t.shape) != want:
            raise op_error(g, op, f"output '{t.name}' has shape {tuple(t.shape)}; expected {want}")
    return SplitParams(op=op.type, index=op.index, data=data, in_shape=shape, axis=axis, outer=math.prod(shape[:axis]),
                       inner=math.prod(shape[axis + 1:]), sizes=tuple(sizes),
                       out_shapes=tuple(tuple(int(d) for d in t.shape) for t in outs))


def prepare_split(g: Graph, op: Op) -> SplitParams:
    if len(op.inputs) != 2 or op.inputs[1] < 0 or not op.outputs:
        raise op_error(g, op, "expected inputs (axis, data) and at least one output")
    rank = len(g.tensors[op.inputs[1]].shape)
    axis = _axis(g, op, 0, rank)
    n, d = len(op.outputs), g.tensors[op.inputs[1]].shape[axis]
    if d % n:
        raise op_error(g, op, f"axis {axis} of extent {d} does not split into {n} equal pieces")
    return _params(g, op, 1, axis, [d // n] * n, drop_axis=False)


def prepare_split_v(g: Graph, op: Op) -> SplitParams:
    if len(op.inputs) != 3 or op.inputs[0] < 0 or not op.outputs:
        raise op_error(g, op, "expected inputs (data, size_splits, axis) and at least one output")
    rank = len(g.tensors[op.inputs[0]].shape)
    axis = _axis(g, op, 2, rank)
    ts = g.tensors[op.inputs[1]]
    if not ts.is_const:
        raise op_error(g, op, f"size_splits '{ts.name}' must be a constant tensor")
    sizes = [int(v) for v in np.asarray(ts.data).reshape(-1)]
    if sizes.count(-1) > 1:
        raise op_error(g, op, f"size_splits {sizes} has more than one -1")
    if -1 in sizes:     # the one -1 takes what the others leave of the axis
        sizes[sizes.index(-1)] = g.tensors[op.inputs[0]].shape[axis] - (sum(sizes) + 1)
    return _params(g, op, 0, axis, sizes, drop_axis=False)


def prepare_unpack(g: Graph, op: Op) -> SplitParams:
    if len(op.inputs) != 1 or op.inputs[0] < 0 or not op.outputs:
        raise op_error(g, op, "expected one input and at least one output")
    rank = len(g.tensors[op.inputs[0]].shape)
    axis = _norm_axis(g, op, int(op.attrs.get("axis", 0)), rank)
    return _params(g, op, 0, axis, [1] * len(op.outputs), drop_axis=True)


def run(p: SplitParams, inputs: list[np.ndarray | None]) -> list[np.ndarray]:
    x = np.asarray(inputs[p.data], dtype=np.int8).reshape(p.outer, p.in_shape[p.axis], p.inner)
    cuts = np.cumsum(p.sizes)[:-1]
    return [np.ascontiguousarray(piece).reshape(s) for piece, s in zip(np.split(x, cuts, axis=1), p.out_shapes)]


def emit(p: SplitParams, e: EmitCtx, fn: str) -> str:
    calls, offset = [], 0
    for k, size in enumerate(p.sizes):
        params = e.struct("tiny_split_params", f"params{k}", {
            "outer": p.outer, "input_size": p.in_shape[p.axis] * p.inner, "output_size": size * p.inner,
            "offset": offset})
        calls.append(f"{fn}({params}, {e.inp(p.data)}, {e.out(k)});")
        offset += size * p.inner
    return "\n".join(calls)


def _data(pos: int) -> Callable[[Graph, Op], list[int]]:
    return lambda g, op: [pos]


SPLIT = OpDef(name="SPLIT", no_dsp_why="data movement, no MACs", fb_options="SplitOptions", options=lambda opt: {"num_splits": opt.numSplits} if opt else {},
              arity=(2, 2, (None, None), None), prepare=prepare_split, run=run, emit=emit,
              variants=(Variant("tiny_split_s8"),), multi_output=True, data_inputs=_data(1))
SPLIT_V = OpDef(name="SPLIT_V", no_dsp_why="data movement, no MACs", fb_options="SplitVOptions",
                options=lambda opt: {"num_splits": opt.numSplits} if opt else {},
                arity=(3, 3, (None, 1, None), None), prepare=prepare_split_v, run=run, emit=emit,
                variants=(Variant("tiny_split_s8"),), multi_output=True, data_inputs=_data(0))
UNPACK = OpDef(name="UNPACK", no_dsp_why="data movement, no MACs", fb_options="UnpackOptions",
               options=lambda opt: {"num": opt.num, "axis": opt.axis} if opt else {},
               arity=(1, 1, (None,), None), prepare=prepare_unpack, run=run, emit=emit,
               variants=(Variant("tiny_split_s8"),), multi_output=True, data_inputs=_data(0))
DEFS = [SPLIT, SPLIT_V, UNPACK]
