"""TRANSPOSE_CONV (int8, per-channel filter, optional int32 bias, SAME / VALID), bit-exact with TFLM
(micro/kernels/transpose_conv.cc -> reference_integer_ops::TransposeConv).

Inputs: (output_shape, filter [O, KH, KW, I], input, bias?). TFLM's padding is the convolution's
computed on the *output* size (ComputePaddingHeightWidth(stride, 1, out_h, out_w, ...)): each input
pixel scatters (x - zp_in) * w into the output window starting at in * stride - pad; per output
channel the int32 sum (+ bias) is requantized (per-channel QuantizeMultiplier of
double(s_in) * double(s_w[c]) / double(s_out)) and clamped (fused activation). int32 addition is
associative, so the C kernel gathers per output (no int32 scratch image, unlike TFLM)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tiny.emit.ctx import EmitCtx
from tiny.ir import Graph, Op
from tiny.ops.base import OpDef, Params, Variant, fused_activation
from tiny.ops.conv2d import (activation_bounds, act_init, hw, int8_tensor, op_error,
                                   per_channel_multipliers, requantize_clamp)



@dataclass(eq=False)
class TransposeConvParams(Params):
    op: str
    index: int
    in_shape: tuple[int, int, int, int]
    out_shape: tuple[int, int, int, int]
    filter_shape: tuple[int, int, int, int]
    stride_h: int
    stride_w: int
    pad_top: int
    pad_left: int
    input_offset: int
    output_offset: int
    act_min: int
    act_max: int
    multiplier: np.ndarray
    shift: np.ndarray
    filter: np.ndarray
    bias: np.ndarray | None
    has_bias: bool


def _pad(padding: str, size: int, k: int, s: int) -> int:
    out = (size + s - 1) // s if padding == "SAME" else (size - k + s) // s
    return max((out - 1) * s + k - size, 0) // 2


def prepare(g: Graph, op: Op) -> TransposeConvParams:
    if len(op.inputs) not in (3, 4) or len(op.outputs) != 1:
        raise op_error(g, op, f"expects inputs (output_shape, filter, input[, bias]), got {len(op.inputs)}")
    x = int8_tensor(g, op, op.inputs[2], "input")
    y = int8_tensor(g, op, op.outputs[0], "output")
    f = g.tensors[op.inputs[1]]
    if f.dtype != "int8" or not f.is_const or f.quant is None or len(f.shape) != 4:
        raise op_error(g, op, f"filter '{f.name}' must be a constant [O, KH, KW, I] int8 tensor")
    oc, kh, kw, ic = (int(v) for v in f.shape)
    if len(x.shape) != 4 or len(y.shape) != 4 or x.shape[3] != ic or y.shape[3] != oc or x.shape[0] != y.shape[0]:
        raise op_error(g, op, f"input {x.shape}, filter {f.shape} and output {y.shape} do not fit")
    if f.quant.scale.size not in (1, oc):
        raise op_error(g, op, f"filter '{f.name}' has {f.quant.scale.size} scales for {oc} channels")
    sh, sw = int(op.attrs.get("stride_h", 1)), int(op.attrs.get("stride_w", 1))
    padding = op.attrs.get("padding", "SAME")
    _, oh, ow, _ = y.shape
    bias = None
    if len(op.inputs) == 4 and op.inputs[3] >= 0:
        b = g.tensors[op.inputs[3]]
        if b.dtype != "int32" or not b.is_const or b.size != oc:
            raise op_error(g, op, f"bias '{b.name}' must be a constant int32 tensor of {oc} values")
        bias = b.data.reshape(-1).astype(np.int32)
    mult, shift = per_channel_multipliers(x.quant.s(), f.quant.scale, y.quant.s(), oc)
    lo, hi = activation_bounds(g, op, y)
    return TransposeConvParams(op=op.type, index=op.index, in_shape=tuple(x.shape), out_shape=tuple(y.shape),
                filter_shape=(oc, kh, kw, ic), stride_h=sh, stride_w=sw,
                pad_top=_pad(padding, oh, kh, sh), pad_left=_pad(padding, ow, kw, sw),
                input_offset=-x.quant.zp(), output_offset=y.quant.zp(), act_min=lo, act_max=hi,
                multiplier=mult, shift=shift, filter=f.data.astype(np.int8), bias=bias, has_bias=bias is not None)


def run(p: TransposeConvParams, inputs: list[np.ndarray | None]) -> np.ndarray:
    x = np.asarray(inputs[2], dtype=np.int64) + p.input_offset
    n, ih, iw, _ = x.shape
    oc, kh, kw, _ = p.filter_shape
    _, oh, ow, _ = p.out_shape
    sh, sw, pt, pl = p.stride_h, p.stride_w, p.pad_top, p.pad_left
    canvas = np.zeros((n, (ih - 1) * sh + kh + pt + oh, (iw - 1) * sw + kw + pl + ow, oc), dtype=np.int64)
    w = p.filter.astype(np.int64)
    for ky in range(kh):
        for kx in range(kw):
            contrib = x @ w[:, ky, kx, :].T                     # (n, ih, iw, oc), exact in int64
            canvas[:, ky:ky + (ih - 1) * sh + 1:sh, kx:kx + (iw - 1) * sw + 1:sw, :] += contrib
    acc = canvas[:, pt:pt + oh, pl:pl + ow, :]
    acc = ((acc + (1 << 31)) % (1 << 32)) - (1 << 31)         # TFLM's int32 scratch wraps
    if p.has_bias:
        acc = acc + p.bias.astype(np.int64)
    return requantize_clamp(acc, p).reshape(p.out_shape)


def scratch_bytes(p: TransposeConvParams) -> int:
    return 0     # the C kernel gathers per output element


def emit(p: TransposeConvParams, e: EmitCtx, fn: str) -> str:
    filt = e.const("filter", p.filter, "int8_t", comment=f"{tuple(p.filter.shape)}")
    bias = e.const("bias", p.bias, "int32_t") if p.has_bias else "NULL"
    quant = e.struct("tiny_per_channel_quant", "quant", {"multiplier": e.const("multiplier", p.multiplier, "int32_t"),
                                                         "shift": e.const("shift", p.shift, "int32_t")})
    params = e.struct("tiny_conv_params", "params", {
        "input_offset": int(p.input_offset), "output_offset": int(p.output_offset),
        "stride": hw(p.stride_h, p.stride_w), "padding": hw(p.pad_top, p.pad_left),
        "dilation": hw(1, 1), "activation": act_init(p)})
    return (f"{fn}({e.ctx()}, {params}, {quant}, {e.dims(p.in_shape)}, {e.inp(2)}, "
            f"{e.dims(p.filter_shape)}, {filt}, {e.dims((p.filter_shape[0],))}, {bias}, "
            f"{e.dims(p.out_shape)}, {e.out()});")


def options(opt: Any) -> dict[str, Any]:
    if opt is None:
        return {"activation": "NONE"}
    return {"padding": {0: "SAME", 1: "VALID"}[opt.padding], "stride_h": opt.strideH, "stride_w": opt.strideW,
            **fused_activation(opt)}


def macs(g: Graph, op: Op) -> int:
    oc, kh, kw, ic = g.tensors[op.inputs[1]].shape
    return g.tensors[op.inputs[2]].size * oc * kh * kw


TRANSPOSE_CONV = OpDef(name="TRANSPOSE_CONV", fb_options="TransposeConvOptions", fb_options_required=True,
                       arity=(3, 4, (1, 4, 4), 4), options=options, prepare=prepare, run=run, emit=emit,
                       scratch=scratch_bytes, variants=(Variant("tiny_transpose_conv_s8"),), macs=macs,
                       data_inputs=lambda g, op: [2])
DEFS = [TRANSPOSE_CONV]
