"""FULLY_CONNECTED, bit-exact with TFLM (tensorflow/lite/micro/kernels/fully_connected*.cc).

TFLM's multiplier arithmetic differs between the two weight layouts it accepts:
- per-channel filter scales: double(in) * double(filter[c]) / double(out) per channel
  (FullyConnectedPerChannel; the filter zero point is not used);
- one filter scale: GetQuantizedConvolutionMultipler, which multiplies the two scales in *float32*
  and only then divides in double (FullyConnected; adds -filter_zero_point to each weight).
Both then requantize with the double-rounding MultiplyByQuantizedMultiplier. The input is read as
a flat [batches, accum_depth] matrix whatever its rank.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tiny.emit.ctx import EmitCtx
from tiny.ir import Graph, Op
from tiny.ops.conv2d import (act_init, activation_bounds, bias_of, channel_slice, emit_quant, int8_tensor,
                             op_error, per_channel_multipliers, requantize_clamp, split_calls)
from tiny.ops.base import OpDef, Params, Variant, fused_activation
from tiny.reference.fixedpoint import quantize_multiplier


@dataclass(eq=False)
class FullyConnectedParams(Params):
    op: str
    index: int
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    batches: int
    accum_depth: int
    out_channels: int
    per_channel: bool
    input_offset: int
    filter_offset: int
    output_offset: int
    act_min: int
    act_max: int
    multiplier: np.ndarray
    shift: np.ndarray
    filter: np.ndarray
    bias: np.ndarray | None
    has_bias: bool


def prepare(g: Graph, op: Op) -> FullyConnectedParams:
    if len(op.inputs) not in (2, 3):
        raise op_error(g, op, f"expects 2 or 3 inputs, got {len(op.inputs)}")
    x = int8_tensor(g, op, op.inputs[0], "input")
    y = int8_tensor(g, op, op.outputs[0], "output")
    f = g.tensors[op.inputs[1]]
    if f.dtype != "int8" or not f.is_const or f.quant is None or len(f.shape) != 2:
        raise op_error(g, op, f"weights '{f.name}' must be a constant 2-D int8 quantized tensor "
                              f"(got {f.dtype}, shape {f.shape})")
    if op.attrs.get("weights_format", 0) != 0:
        raise op_error(g, op, "shuffled weights formats are not supported")
    if x.quant.per_channel or y.quant.per_channel:
        raise op_error(g, op, "per-channel quantized activations are not supported")
    oc, depth = f.shape
    if y.shape[-1] != oc or y.size % oc or x.size != (y.size // oc) * depth:
        raise op_error(g, op, f"shapes do not fit: input {x.shape}, weights {f.shape}, output {y.shape}")
    per_channel = f.quant.scale.size > 1
    if per_channel:
        if f.quant.scale.size != oc:
            raise op_error(g, op, f"weights '{f.name}' have {f.quant.scale.size} scales for {oc} outputs")
        mult, shift = per_channel_multipliers(x.quant.s(), f.quant.scale, y.quant.s(), oc)
        filter_offset = 0
    else:
        # float32 product first: GetQuantizedConvolutionMultipler does static_cast<double>(a * b).
        prod = float(np.float32(x.quant.s()) * np.float32(f.quant.s()))
        m, s = quantize_multiplier(prod / float(y.quant.s()))
        mult, shift = np.full(oc, m, dtype=np.int32), np.full(oc, s, dtype=np.int32)
        filter_offset = -f.quant.zp()
    lo, hi = activation_bounds(g, op, y)
    bias = bias_of(g, op, oc)
    return FullyConnectedParams(op=op.type, index=op.index, in_shape=tuple(x.shape), out_shape=tuple(y.shape),
                batches=y.size // oc, accum_depth=depth, out_channels=oc, per_channel=per_channel,
                input_offset=-x.quant.zp(), filter_offset=filter_offset, output_offset=y.quant.zp(),
                act_min=lo, act_max=hi, multiplier=mult, shift=shift, filter=f.data.astype(np.int8),
                bias=bias, has_bias=bias is not None)


def run(p: FullyConnectedParams, inputs: list[np.ndarray | None]) -> np.ndarray:
    x = np.asarray(inputs[0]).reshape(p.batches, p.accum_depth).astype(np.float64) + p.input_offset
    w = p.filter.astype(np.float64) + p.filter_offset
    # float64 BLAS is exact: |partial sums| stay far below 2**53.
    acc = np.rint(x @ w.T).astype(np.int64)
    if p.has_bias:
        acc += p.bias.astype(np.int64)
    return requantize_clamp(acc, p).reshape(p.out_shape)


def scratch_bytes(p: FullyConnectedParams) -> int:
    return 0  # the reference kernel needs no scratch


def emit(p: FullyConnectedParams, e: EmitCtx, fn: str) -> str:
    filt, bias, quant = emit_quant(p, e)
    params = e.struct("tiny_fc_params", "params", {
        "input_offset": int(p.input_offset), "filter_offset": int(p.filter_offset),
        "output_offset": int(p.output_offset), "activation": act_init(p)})
    b, d = p.batches, p.accum_depth
    return split_calls(p, e, filt, bias, quant, lambda f, q, w, bb, o, out: (
        f"{f or fn}({e.ctx()}, {params}, {q}, {e.dims((b, d))}, {e.inp(0)}, "
        f"{e.dims((o, d))}, {w}, {e.dims((o,))}, {bb}, {e.dims((b, o))}, {out});"))


def options(opt: Any) -> dict[str, Any]:
    a = fused_activation(opt)
    if opt is not None:
        a.update(keep_num_dims=bool(opt.keepNumDims), weights_format=opt.weightsFormat)
    return a


def fc_macs(g: Graph, op: Op) -> int:
    w = g.tensors[op.inputs[1]].shape  # O, I
    return g.tensors[op.outputs[0]].size * w[1]


FULLY_CONNECTED = OpDef(
    name="FULLY_CONNECTED", fb_options="FullyConnectedOptions", arity=(2, 3, (None, 2, 1), None),
    portable_why=lambda p: "non-zero weight zero point or input offset beyond int16",
    options=options, prepare=prepare, run=run, emit=emit, scratch=scratch_bytes,
    variants=(Variant("tiny_fully_connected_s8_dsp", lambda p, t: int(p.filter_offset) == 0
                      and -32768 <= int(p.input_offset) <= 32767, dsp=True),
              Variant("tiny_fully_connected_s8")),
    macs=fc_macs, backward="fc", trainable=True, classifier=True, color="#d35400", channel_slice=channel_slice)
DEFS = [FULLY_CONNECTED]
