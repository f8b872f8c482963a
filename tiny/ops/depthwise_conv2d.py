"""DEPTHWISE_CONV_2D, bit-exact with TFLM's reference_integer_ops::DepthwiseConvPerChannel.

Output channel o = c * depth_multiplier + m reads input channel c and filter[0, y, x, o].
Multipliers, padding and activation bounds are computed exactly as for CONV_2D
(tensorflow/lite/micro/kernels/depthwise_conv_common.cc shares PopulateConvolutionQuantizationParams).
"""
from __future__ import annotations


import numpy as np

from tiny.emit.ctx import EmitCtx
from tiny.ir import Graph, Op
from tiny.ops.base import OpDef, Variant
from tiny.ops.conv2d import (ConvParams, conv_constants, conv_operands, conv_params_init, emit_quant, first_input,
                             op_error, requantize_clamp, window_options, window_rect, windows)

DW_MAX_TAPS = 64        # TINY_DW_MAX_TAPS in firmware/src/kernels/arm/depthwise_conv2d_s8_dsp.c


def prepare(g: Graph, op: Op) -> ConvParams:
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
    return ConvParams(**conv_constants(g, op, x, y, f, kh, kw, oc), depth_multiplier=oc // cin)


def run(p: ConvParams, inputs: list[np.ndarray | None]) -> np.ndarray:
    x = np.asarray(inputs[0])
    _, kh, kw, oc = p.filter_shape
    n, c = x.shape[0], x.shape[3]
    m = p.depth_multiplier
    oh, ow = p.out_shape[1], p.out_shape[2]
    # Padded taps hold the input zero point, so they add 0 after the offset, as TFLM's skip does.
    win = windows(x.astype(np.int32), (oh, ow), (kh, kw), (p.stride_h, p.stride_w),
                  (p.dilation_h, p.dilation_w), (p.pad_top, p.pad_left), -p.input_offset)
    filt = p.filter.astype(np.int32).reshape(kh, kw, c, m)
    acc = np.zeros((n, oh, ow, c, m), dtype=np.int64)
    for ky in range(kh):
        for kx in range(kw):
            acc += ((win[:, :, :, ky, kx, :] + p.input_offset)[..., None] * filt[ky, kx]).astype(np.int64)
    acc = acc.reshape(n, oh, ow, c * m)
    if p.has_bias:
        acc += p.bias.astype(np.int64)
    return requantize_clamp(acc, p)


def scratch_bytes(p: ConvParams) -> int:
    return 0  # the reference kernel needs no scratch


def emit(p: ConvParams, e: EmitCtx, fn: str) -> str:
    filt, bias, quant = emit_quant(p, e)
    init = conv_params_init(p)
    init = {"input_offset": init.pop("input_offset"), "output_offset": init.pop("output_offset"),
            "ch_mult": int(p.depth_multiplier), **init}
    params = e.struct("tiny_dw_conv_params", "params", init)
    return (f"{fn}({e.ctx()}, {params}, {quant}, {e.dims(p['in_shape'])}, {e.inp(0)}, "
            f"{e.dims(p['filter_shape'])}, {filt}, {e.dims((p['filter_shape'][3],))}, {bias}, "
            f"{e.dims(p['out_shape'])}, {e.out()});")


def inplace_input(g: Graph, op: Op) -> list[int]:
    """Multiplier-1 depthwise runs channel by channel through a one-channel scratch buffer
    (firmware/src/kernels/ref/depthwise_conv2d_inplace_s8.c): it may overwrite its input."""
    x, out = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
    return [0] if x.shape[3] == out.shape[3] else []


def inplace_scratch(g: Graph, op: Op) -> int:
    """One output channel (H x W bytes) for the in-place kernel."""
    s = g.tensors[op.outputs[0]].shape
    return int(s[1] * s[2])


def _fast(p: ConvParams, t: object) -> bool:
    _, kh, kw, _ = p.filter_shape
    return (p.depth_multiplier == 1 and p.dilation_h == 1 and p.dilation_w == 1 and kh * kw <= DW_MAX_TAPS
            and p.in_shape[0] == 1)


def _fast3x3(p: ConvParams, t: object) -> bool:
    from tiny.emit.cost import dw_variant
    return _fast(p, t) and dw_variant(p) == "3x3"


def _fast_kxk(p: ConvParams, t: object) -> bool:
    """The whole-channel plane kernel, multiplier 1 (3x3 stride-2 columns, 5x5, 7x7; tiny.emit.cost.dw_variant)."""
    from tiny.emit.cost import dw_variant
    return _fast(p, t) and dw_variant(p) == "kxk"


def _mult(p: ConvParams, t: object) -> bool:
    """Depth multiplier > 1 through the whole-channel plane kernel (each input channel gathered once)."""
    from tiny.emit.cost import dw_plane_fits
    return p.depth_multiplier > 1 and dw_plane_fits(p)


def _fast_c4(p: ConvParams, t: object) -> bool:
    """The NHWC 4-channel kernel (channels a multiple of 4; chosen by tiny.emit.cost.dw_variant)."""
    from tiny.emit.cost import dw_variant
    return _fast(p, t) and dw_variant(p) == "c4"


def dw_macs(g: Graph, op: Op) -> int:
    w = g.tensors[op.inputs[1]].shape  # 1, KH, KW, O
    return g.tensors[op.outputs[0]].size * w[1] * w[2]


_BASE = "tiny_depthwise_conv2d_s8"
def _why_portable(p: ConvParams) -> str:
    from tiny.emit.cost import dw_why_portable     # lazy, as the variant predicates above
    return dw_why_portable(p)


DEPTHWISE_CONV_2D = OpDef(
    name="DEPTHWISE_CONV_2D", fb_options="DepthwiseConv2DOptions", fb_options_required=True, arity=(2, 3, (4, 4, 1), 4),
    portable_why=_why_portable,
    options=window_options, prepare=prepare, run=run, emit=emit, scratch=scratch_bytes,
    variants=(Variant(f"{_BASE}_inplace_3x3", _fast3x3, dsp=True, inplace=True),
              Variant(f"{_BASE}_inplace_kxk", _fast_kxk, dsp=True, inplace=True),
              Variant(f"{_BASE}_inplace_c4", _fast_c4, dsp=True, inplace=True),
              Variant(f"{_BASE}_inplace_dsp", _fast, dsp=True, inplace=True),
              Variant(f"{_BASE}_inplace", inplace=True),
              Variant(f"{_BASE}_3x3", _fast3x3, dsp=True, inplace=False),
              Variant(f"{_BASE}_kxk", _fast_kxk, dsp=True, inplace=False),
              Variant(f"{_BASE}_mult", _mult, dsp=True, inplace=False),
              Variant(f"{_BASE}_c4", _fast_c4, dsp=True, inplace=False),
              Variant(f"{_BASE}_dsp", _fast, dsp=True, inplace=False),
              Variant(_BASE, inplace=False)),
    macs=dw_macs, input_rect=window_rect, data_inputs=first_input, windowed=True, local=True,
    inplace=inplace_input, inplace_scratch=inplace_scratch, inplace_in_patch=True, backward="dw", trainable=True,
    color="#8e44ad")
DEFS = [DEPTHWISE_CONV_2D]
