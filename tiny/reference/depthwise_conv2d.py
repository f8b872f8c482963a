"""DEPTHWISE_CONV_2D, bit-exact with TFLM's reference_integer_ops::DepthwiseConvPerChannel.

Output channel o = c * depth_multiplier + m reads input channel c and filter[0, y, x, o].
Multipliers, padding and activation bounds are computed exactly as for CONV_2D
(tensorflow/lite/micro/kernels/depthwise_conv_common.cc shares PopulateConvolutionQuantizationParams).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from tiny.emit.ctx import EmitCtx
from tiny.ir import Graph, Op
from tiny.reference.conv2d import (conv_constants, conv_operands, conv_params_init, emit_quant, op_error,
                                   requantize_clamp, windows)

OPS = ["DEPTHWISE_CONV_2D"]


def prepare(g: Graph, op: Op) -> dict[str, Any]:
    x, y, f = conv_operands(g, op, "(1, KH, KW, C*M)")
    if f.shape[0] != 1:
        raise op_error(g, op, f"filter '{f.name}' must be a constant (1, KH, KW, C*M) int8 quantized tensor "
                              f"(got {f.dtype}, shape {f.shape})")
    _, kh, kw, oc = f.shape
    cin = x.shape[3] if len(x.shape) == 4 else 0
    if cin < 1 or oc % cin or y.shape[-1] != oc:
        raise op_error(g, op, f"channels do not fit: input {x.shape}, filter {f.shape}, output {y.shape}")
    mult_attr = int(op.attrs.get("depth_multiplier", oc // cin) or oc // cin)
    if mult_attr != oc // cin:
        raise op_error(g, op, f"depth_multiplier {mult_attr} but {cin} input and {oc} output channels")
    return dict(conv_constants(g, op, x, y, f, kh, kw, oc), depth_multiplier=oc // cin)


def run(p: dict[str, Any], inputs: list[np.ndarray | None]) -> np.ndarray:
    x = np.asarray(inputs[0])
    _, kh, kw, oc = p["filter_shape"]
    n, c = x.shape[0], x.shape[3]
    m = p["depth_multiplier"]
    oh, ow = p["out_shape"][1], p["out_shape"][2]
    # Padded taps hold the input zero point, so they add 0 after the offset, as TFLM's skip does.
    win = windows(x.astype(np.int32), (oh, ow), (kh, kw), (p["stride_h"], p["stride_w"]),
                  (p["dilation_h"], p["dilation_w"]), (p["pad_top"], p["pad_left"]), -p["input_offset"])
    filt = p["filter"].astype(np.int32).reshape(kh, kw, c, m)
    acc = np.zeros((n, oh, ow, c, m), dtype=np.int64)
    for ky in range(kh):
        for kx in range(kw):
            acc += ((win[:, :, :, ky, kx, :] + p["input_offset"])[..., None] * filt[ky, kx]).astype(np.int64)
    acc = acc.reshape(n, oh, ow, c * m)
    if p["has_bias"]:
        acc += p["bias"].astype(np.int64)
    return requantize_clamp(acc, p)


def scratch_bytes(p: dict[str, Any]) -> int:
    return 0  # the reference kernel needs no scratch


def emit(p: dict[str, Any], e: EmitCtx) -> str:
    filt, bias, quant = emit_quant(p, e)
    init = conv_params_init(p)
    init = {"input_offset": init.pop("input_offset"), "output_offset": init.pop("output_offset"),
            "ch_mult": int(p["depth_multiplier"]), **init}
    params = e.struct("tiny_dw_conv_params", "params", init)
    return (f"tiny_depthwise_conv2d_s8({e.ctx()}, {params}, {quant}, {e.dims(p['in_shape'])}, {e.inp(0)}, "
            f"{e.dims(p['filter_shape'])}, {filt}, {e.dims((p['filter_shape'][3],))}, {bias}, "
            f"{e.dims(p['out_shape'])}, {e.out()});")
