"""AVERAGE_POOL_2D and MAX_POOL_2D, bit-exact with TFLM's reference_integer_ops pooling.

TFLM (tensorflow/lite/micro/kernels/pooling_common.cc) requires input and output to share the
quantization (|scale difference| <= 1e-6, same zero point): pooling never requantizes. Only the
in-image part of each window counts; the average rounds half away from zero with C's truncating
division: (sum +- count/2) / count.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from tiny.emit.ctx import EmitCtx
from tiny.ir import Graph, Op
from tiny.reference.conv2d import act_init, activation_bounds, hw, int8_tensor, op_error, window_geometry, windows

OPS = ["AVERAGE_POOL_2D", "MAX_POOL_2D"]


def prepare(g: Graph, op: Op) -> dict[str, Any]:
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
    return dict(op=op.type, index=op.index, kind="avg" if op.type == "AVERAGE_POOL_2D" else "max",
                in_shape=tuple(x.shape), out_shape=tuple(y.shape), filter_h=fh, filter_w=fw, **geo,
                act_min=lo, act_max=hi)


def run(p: dict[str, Any], inputs: list[np.ndarray | None]) -> np.ndarray:
    x = np.asarray(inputs[0])
    n, h, w, c = x.shape
    oh, ow = p["out_shape"][1], p["out_shape"][2]
    geo = ((oh, ow), (p["filter_h"], p["filter_w"]), (p["stride_h"], p["stride_w"]), (1, 1),
           (p["pad_top"], p["pad_left"]))
    if p["kind"] == "max":
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
    return np.clip(out, p["act_min"], p["act_max"]).astype(np.int8)


def scratch_bytes(p: dict[str, Any]) -> int:
    return 0  # the reference kernels need no scratch


def emit(p: dict[str, Any], e: EmitCtx) -> str:
    params = e.struct("tiny_pool_params", "params", {
        "stride": hw(p["stride_h"], p["stride_w"]), "padding": hw(p["pad_top"], p["pad_left"]),
        "activation": act_init(p)})
    fn = "tiny_avg_pool_s8" if p["kind"] == "avg" else "tiny_max_pool_s8"
    return (f"{fn}({e.ctx()}, {params}, {e.dims(p['in_shape'])}, {e.inp(0)}, "
            f"{e.dims((1, p['filter_h'], p['filter_w'], 1))}, {e.dims(p['out_shape'])}, {e.out()});")
