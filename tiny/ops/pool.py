"""AVERAGE_POOL_2D and MAX_POOL_2D, bit-exact with TFLM's reference_integer_ops pooling.

TFLM (tensorflow/lite/micro/kernels/pooling_common.cc) requires input and output to share the
quantization (|scale difference| <= 1e-6, same zero point): pooling never requantizes. Only the
in-image part of each window counts; the average rounds half away from zero with C's truncating
division: (sum +- count/2) / count.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tiny.emit.ctx import EmitCtx
from tiny.ir import Graph, Op
from tiny.ops.base import Local, OpDef, Params, Variant
from tiny.ops.conv2d import (act_init, activation_bounds, first_input, hw, int8_tensor, op_error, window_geometry,
                             window_options, window_rect, windows)


@dataclass(eq=False)
class PoolParams(Params):
    op: str
    index: int
    kind: str                   # "avg" | "max"
    in_shape: Any
    out_shape: Any
    filter_h: int
    filter_w: int
    stride_h: int
    stride_w: int
    dilation_h: int
    dilation_w: int
    pad_top: Any
    pad_bottom: int
    pad_left: Any
    pad_right: int
    act_min: int
    act_max: int

    def localize(self, loc: Local) -> "PoolParams":
        return replace(self, in_shape=loc.in_shape, out_shape=loc.out_shape, pad_top=loc.pad_top,
                       pad_left=loc.pad_left)


def prepare(g: Graph, op: Op) -> PoolParams:
    x = int8_tensor(g, op, op.inputs[0], "input")
    y = int8_tensor(g, op, op.outputs[0], "output")
    if x.quant.per_channel or y.quant.per_channel:
        raise op_error(g, op, "per-channel quantized activations are not supported")
    if abs(float(x.quant.s()) - float(y.quant.s())) > 1e-6 or x.quant.zp() != y.quant.zp():
        raise op_error(g, op, "input and output quantization differ; TFLM requires them equal for pooling")
    fh, fw = int(op.attrs.get("filter_h", 0)), int(op.attrs.get("filter_w", 0))
    if fh < 1 or fw < 1:
        raise op_error(g, op, f"bad pooling window {fh}x{fw}")
    geo = window_geometry(g, op, x, y, fh, fw)
    if x.shape[3] != y.shape[3] or x.shape[0] != y.shape[0]:
        raise op_error(g, op, f"input {x.shape} and output {y.shape} differ in batch or channels")
    lo, hi = activation_bounds(g, op, y)
    return PoolParams(op=op.type, index=op.index, kind=_KIND[op.type],
                in_shape=tuple(x.shape), out_shape=tuple(y.shape), filter_h=fh, filter_w=fw, **geo,
                act_min=lo, act_max=hi)


def run(p: PoolParams, inputs: list[np.ndarray | None]) -> np.ndarray:
    x = np.asarray(inputs[0])
    n, h, w, c = x.shape
    oh, ow = p.out_shape[1], p.out_shape[2]
    geo = ((oh, ow), (p.filter_h, p.filter_w), (p.stride_h, p.stride_w), (1, 1),
           (p.pad_top, p.pad_left))
    if p.kind == "max":
        # -128 is where TFLM's running max starts, so padding with it changes nothing.
        out = windows(x.astype(np.int8), *geo, fill=-128).max(axis=(3, 4))
    else:
        acc = windows(x.astype(np.int32), *geo, fill=0).sum(axis=(3, 4), dtype=np.int64)
        cnt = windows(np.ones((1, h, w, 1), np.int32), *geo, fill=0).sum(axis=(3, 4), dtype=np.int64)
        if (cnt == 0).any():
            raise ValueError(f"op #{p['index']}: a pooling window lies entirely outside the input")
        half = cnt // 2
        num = np.where(acc > 0, acc + half, acc - half)
        out = np.sign(num) * (np.abs(num) // cnt)  # C division truncates toward zero
    return np.clip(out, p.act_min, p.act_max).astype(np.int8)


def scratch_bytes(p: PoolParams) -> int:
    return 0  # the reference kernels need no scratch


def emit(p: PoolParams, e: EmitCtx, fn: str) -> str:
    params = e.struct("tiny_pool_params", "params", {
        "stride": hw(p.stride_h, p.stride_w), "padding": hw(p.pad_top, p.pad_left),
        "activation": act_init(p)})
    return (f"{fn}({e.ctx()}, {params}, {e.dims(p['in_shape'])}, {e.inp(0)}, "
            f"{e.dims((1, p['filter_h'], p['filter_w'], 1))}, {e.dims(p['out_shape'])}, {e.out()});")


def pool_macs(g: Graph, op: Op) -> int:
    return g.tensors[op.outputs[0]].size * op.attrs.get("filter_h", 1) * op.attrs.get("filter_w", 1)


def _max4(p: PoolParams, t: Any) -> bool:
    """tiny_max_pool_s8_dsp: 4 channels per word (fewer: the portable kernel)."""
    c = p.in_shape[3]
    return isinstance(c, (int, np.integer)) and int(c) >= 4


def _avg4(p: PoolParams, t: Any) -> bool:
    """tiny_avg_pool_s8_dsp: 4 channels per word, windows of <= 256 pixels (int16 lane sums)."""
    return _max4(p, t) and p.filter_h * p.filter_w <= 256


def _avg_why(p: PoolParams) -> str:
    if p.filter_h * p.filter_w > 256:
        return f"a {p.filter_h}x{p.filter_w} window: more than the 256 pixels an int16 lane sums exactly"
    return f"{p.in_shape[3]} channels: fewer than the 4 lanes of a word"


_KIND = {"AVERAGE_POOL_2D": "avg", "MAX_POOL_2D": "max"}
_COMMON = dict(options=window_options, prepare=prepare, run=run, emit=emit, scratch=scratch_bytes, macs=pool_macs,
               input_rect=window_rect, data_inputs=first_input, windowed=True, local=True, color="#7f8c8d")
AVERAGE_POOL_2D = OpDef(name="AVERAGE_POOL_2D", fb_options="Pool2DOptions", fb_options_required=True, arity=(1, 1, (4,), 4),
                        variants=(Variant("tiny_avg_pool_s8_dsp", _avg4, dsp=True), Variant("tiny_avg_pool_s8")),
                        portable_why=_avg_why, backward="avgpool", **_COMMON)
MAX_POOL_2D = OpDef(name="MAX_POOL_2D", fb_options="Pool2DOptions", fb_options_required=True, arity=(1, 1, (4,), 4), variants=(Variant("tiny_max_pool_s8_dsp", _max4, dsp=True), Variant("tiny_max_pool_s8")),
                     portable_why=lambda p: f"{p.in_shape[3]} channels: fewer than the 4 lanes of a word",
                     backward="maxpool", **_COMMON)
DEFS = [AVERAGE_POOL_2D, MAX_POOL_2D]
