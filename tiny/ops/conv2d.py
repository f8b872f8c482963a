"""CONV_2D, bit-exact with TFLM's reference_integer_ops::ConvPerChannel.

Also home of the helpers shared by the windowed ops (depthwise conv, pooling, fully connected):
padding arithmetic, fused-activation clamp bounds and the im2col window view.

TFLM facts this follows (tensorflow/lite/micro/kernels/conv_common.cc, kernels/kernel_util.cc):
- multipliers are always per channel, effective scale computed in double from the float32
  scales: double(in_scale) * double(filter_scale[c]) / double(out_scale), then QuantizeMultiplier;
- the filter zero point is ignored by the per-channel kernel (it is 0 for int8 weights anyway);
- padded input positions are skipped, i.e. they contribute as if they held the input zero point;
- SAME padding: total = max((out-1)*stride + (k-1)*dilation + 1 - in, 0), top = total // 2.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tiny.emit.ctx import EmitCtx
from tiny.ir import Graph, IRError, Op, Tensor
from tiny.ops.base import PADDINGS, Local, OpDef, Params, Rect, Variant, fused_activation
from tiny.reference.fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier


_ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")


# ---------------------------------------------------------------- shared helpers
def op_error(g: Graph, op: Op, msg: str) -> IRError:
    """An IRError naming the op index, its type and its output tensor."""
    out = g.tensors[op.outputs[0]].name if op.outputs and op.outputs[0] in g.tensors else "?"
    return IRError(f"op #{op.index} {op.type} (output '{out}'): {msg}")


def int8_tensor(g: Graph, op: Op, tid: int, role: str) -> Tensor:
    """The tensor `tid`, checked to be per-tensor quantized int8 (the only activation type tiny runs)."""
    if tid < 0:
        raise op_error(g, op, f"the {role} tensor is missing")
    t = g.tensors[tid]
    if t.dtype != "int8":
        raise op_error(g, op, f"{role} tensor '{t.name}' is {t.dtype}; only int8 is supported")
    if t.quant is None:
        raise op_error(g, op, f"{role} tensor '{t.name}' has no quantization parameters")
    return t


def activation_bounds(g: Graph, op: Op, out: Tensor) -> tuple[int, int]:
    """Clamp bounds of the fused activation, as TFLM's CalculateActivationRangeQuantized.

    TFLM rounds `f / scale` in float32 (TfLiteRound on a float), so the division is done in float32
    here too: a double division could land on the other side of a .5 boundary."""
    act = op.attrs.get("activation", "NONE")
    if act not in _ACTIVATIONS:
        raise op_error(g, op, f"fused activation {act} is not supported (only {', '.join(_ACTIVATIONS)})")
    scale = np.float32(out.quant.s())
    zp = out.quant.zp()

    def q(v: float) -> int:
        r = float(np.float32(v) / scale)
        return zp + int(np.sign(r) * np.floor(abs(r) + 0.5))
    lo, hi = -128, 127
    if act == "RELU":
        lo = max(lo, q(0.0))
    elif act == "RELU6":
        lo, hi = max(lo, q(0.0)), min(hi, q(6.0))
    elif act == "RELU_N1_TO_1":
        lo, hi = max(lo, q(-1.0)), min(hi, q(1.0))
    return lo, hi


def out_size(padding: str, size: int, k: int, stride: int, dilation: int = 1) -> int:
    """TFLite's ComputeOutSize."""
    eff = (k - 1) * dilation + 1
    return (size + stride - 1) // stride if padding == "SAME" else (size + stride - eff) // stride


def explicit_padding(padding: str, size: int, k: int, stride: int, dilation: int, out: int) -> tuple[int, int]:
    """(before, after) padding along one axis. TFLM only uses `before`; `after` is what the window
    reaches past the end, kept so patch-based schedules can reason about each side."""
    eff = (k - 1) * dilation + 1
    total = max((out - 1) * stride + eff - size, 0)
    before = total // 2 if padding == "SAME" else 0
    return before, max((out - 1) * stride + eff - size - before, 0)


def windows(x: np.ndarray, out_hw: tuple[int, int], k_hw: tuple[int, int], stride: tuple[int, int],
            dilation: tuple[int, int], pad_tl: tuple[int, int], fill: int) -> np.ndarray:
    """A (N, OH, OW, KH, KW, C) view of the input windows; positions outside the input read `fill`.

    Works for any explicit top/left padding and output size (windows may run past either edge)."""
    n, h, w, c = x.shape
    (oh, ow), (kh, kw), (sh, sw), (dh, dw), (pt, pl) = out_hw, k_hw, stride, dilation, pad_tl
    need_h, need_w = (oh - 1) * sh + (kh - 1) * dh + 1, (ow - 1) * sw + (kw - 1) * dw + 1
    xp = np.full((n, max(need_h, 1), max(need_w, 1), c), fill, dtype=x.dtype)
    r0, r1 = max(pt, 0), min(need_h, pt + h)
    c0, c1 = max(pl, 0), min(need_w, pl + w)
    if r1 > r0 and c1 > c0:
        xp[:, r0:r1, c0:c1, :] = x[:, r0 - pt:r1 - pt, c0 - pl:c1 - pl, :]
    s = xp.strides
    return np.lib.stride_tricks.as_strided(
        xp, shape=(n, oh, ow, kh, kw, c),
        strides=(s[0], s[1] * sh, s[2] * sw, s[1] * dh, s[2] * dw, s[3]), writeable=False)


def per_channel_multipliers(in_scale: float, filter_scales: np.ndarray, out_scale: float,
                            channels: int) -> tuple[np.ndarray, np.ndarray]:
    """QuantizeMultiplier of double(in) * double(filter[c]) / double(out), per output channel."""
    fs = np.asarray(filter_scales, dtype=np.float32).reshape(-1)
    if fs.size == 1:
        fs = np.repeat(fs, channels)
    pairs = [quantize_multiplier(float(in_scale) * float(f) / float(out_scale)) for f in fs]
    return (np.array([m for m, _ in pairs], dtype=np.int32), np.array([s for _, s in pairs], dtype=np.int32))


def requantize_clamp(acc: np.ndarray, p: Any) -> np.ndarray:
    """int64 accumulators (last axis = output channel) -> int8 outputs."""
    out = multiply_by_quantized_multiplier(acc, p.multiplier, p.shift) + p.output_offset
    return np.clip(out, p.act_min, p.act_max).astype(np.int8)


def bias_of(g: Graph, op: Op, channels: int) -> np.ndarray | None:
    """The int32 bias vector (None when the op has no bias input)."""
    if len(op.inputs) < 3 or op.inputs[2] < 0:
        return None
    b = g.tensors[op.inputs[2]]
    if b.dtype != "int32" or not b.is_const:
        raise op_error(g, op, f"bias '{b.name}' must be a constant int32 tensor (got {b.dtype})")
    if b.size != channels:
        raise op_error(g, op, f"bias '{b.name}' has {b.size} values for {channels} output channels")
    return b.data.reshape(-1).astype(np.int32)


def hw(h: int | str, w: int | str) -> str:
    """A C initializer of a tiny_tile {h, w}; values may be C expressions (per-patch padding)."""
    return f"{{ .h = {h}, .w = {w} }}"


def act_init(p: Any) -> str:
    return f"{{ .min = {int(p['act_min'])}, .max = {int(p['act_max'])} }}"


def window_geometry(g: Graph, op: Op, in_t: Tensor, out_t: Tensor, kh: int, kw: int,
                    dilation: tuple[int, int] = (1, 1)) -> dict[str, int]:
    """Strides, dilation and explicit padding of a windowed op, checked against the output shape."""
    a = op.attrs
    sh, sw = int(a.get("stride_h", 1)), int(a.get("stride_w", 1))
    dh, dw = dilation
    if min(sh, sw, dh, dw) < 1:
        raise op_error(g, op, f"bad stride {sh}x{sw} or dilation {dh}x{dw}")
    padding = a.get("padding", "VALID")
    if len(in_t.shape) != 4 or len(out_t.shape) != 4:
        raise op_error(g, op, f"needs 4-D NHWC input and output, got {in_t.shape} -> {out_t.shape}")
    _, h, w, _ = in_t.shape
    oh, ow = out_size(padding, h, kh, sh, dh), out_size(padding, w, kw, sw, dw)
    if (oh, ow) != tuple(out_t.shape[1:3]) or oh < 1 or ow < 1:
        raise op_error(g, op, f"output {out_t.shape} does not match {padding} padding of {in_t.shape} "
                              f"with a {kh}x{kw} window (expected {oh}x{ow})")
    pt, pb = explicit_padding(padding, h, kh, sh, dh, oh)
    pl, pr = explicit_padding(padding, w, kw, sw, dw, ow)
    return dict(stride_h=sh, stride_w=sw, dilation_h=dh, dilation_w=dw,
                pad_top=pt, pad_bottom=pb, pad_left=pl, pad_right=pr)


# ---------------------------------------------------------------- shared by CONV_2D and DEPTHWISE_CONV_2D
def conv_operands(g: Graph, op: Op, filter_form: str = "4-D") -> tuple[Tensor, Tensor, Tensor]:
    """(input, output, filter) of a convolution, checked: per-tensor int8 activations and a
    constant 4-D int8 quantized filter (`filter_form` words the expected layout in errors)."""
    if len(op.inputs) not in (2, 3):
        raise op_error(g, op, f"expects 2 or 3 inputs, got {len(op.inputs)}")
    x = int8_tensor(g, op, op.inputs[0], "input")
    y = int8_tensor(g, op, op.outputs[0], "output")
    f = g.tensors[op.inputs[1]]
    if f.dtype != "int8" or not f.is_const or f.quant is None or len(f.shape) != 4:
        raise op_error(g, op, f"filter '{f.name}' must be a constant {filter_form} int8 quantized tensor "
                              f"(got {f.dtype}, shape {f.shape})")
    if x.quant.per_channel or y.quant.per_channel:
        raise op_error(g, op, "per-channel quantized activations are not supported")
    return x, y, f


@dataclass(eq=False)
class ConvParams(Params):
    """CONV_2D and DEPTHWISE_CONV_2D (TFLM's OpDataConv)."""
    op: str
    index: int
    in_shape: Any
    out_shape: Any
    filter_shape: tuple[int, int, int, int]
    stride_h: int
    stride_w: int
    dilation_h: int
    dilation_w: int
    pad_top: Any
    pad_bottom: int
    pad_left: Any
    pad_right: int
    input_offset: int
    output_offset: int
    act_min: int
    act_max: int
    multiplier: np.ndarray
    shift: np.ndarray
    filter: np.ndarray
    bias: np.ndarray | None
    has_bias: bool
    groups: int = 1
    depth_multiplier: int = 1

    def localize(self, loc: Local) -> "ConvParams":
        return replace(self, in_shape=loc.in_shape, out_shape=loc.out_shape, pad_top=loc.pad_top,
                       pad_left=loc.pad_left)


def conv_constants(g: Graph, op: Op, x: Tensor, y: Tensor, f: Tensor, kh: int, kw: int, oc: int) -> dict[str, Any]:
    """Geometry, per-channel requantization, clamp bounds, bias and filter of a convolution."""
    if f.quant.scale.size not in (1, oc):
        raise op_error(g, op, f"filter '{f.name}' has {f.quant.scale.size} scales for {oc} channels")
    geo = window_geometry(g, op, x, y, kh, kw, (int(op.attrs.get("dilation_h", 1)),
                                                int(op.attrs.get("dilation_w", 1))))
    mult, shift = per_channel_multipliers(x.quant.s(), f.quant.scale, y.quant.s(), oc)
    lo, hi = activation_bounds(g, op, y)
    bias = bias_of(g, op, oc)
    return dict(op=op.type, index=op.index, in_shape=tuple(x.shape), out_shape=tuple(y.shape),
                filter_shape=tuple(f.shape), **geo,
                input_offset=-x.quant.zp(), output_offset=y.quant.zp(), act_min=lo, act_max=hi,
                multiplier=mult, shift=shift, filter=f.data.astype(np.int8),
                bias=bias, has_bias=bias is not None)


# ---------------------------------------------------------------- CONV_2D
def prepare(g: Graph, op: Op) -> ConvParams:
    x, y, f = conv_operands(g, op)
    oc, kh, kw, ic = f.shape
    cin = x.shape[3] if len(x.shape) == 4 else -1
    if cin % ic or oc % (cin // ic) or y.shape[-1] != oc:
        raise op_error(g, op, f"channels do not fit: input {x.shape}, filter {f.shape}, output {y.shape}")
    return ConvParams(**conv_constants(g, op, x, y, f, kh, kw, oc), groups=cin // ic)


def run(p: ConvParams, inputs: list[np.ndarray | None]) -> np.ndarray:
    x = np.asarray(inputs[0])
    oc, kh, kw, ic = p.filter_shape
    n, oh, ow = x.shape[0], p.out_shape[1], p.out_shape[2]
    # Out-of-image taps read the input zero point, so (x + input_offset) is 0 there: same as skipping.
    win = windows(x.astype(np.int16), (oh, ow), (kh, kw), (p.stride_h, p.stride_w),
                  (p.dilation_h, p.dilation_w), (p.pad_top, p.pad_left), -p.input_offset)
    groups, per_group = p.groups, oc // p.groups
    acc = np.empty((n * oh * ow, oc), dtype=np.int64)
    filt = p.filter.astype(np.float64)
    for gi in range(groups):
        cols = win[..., gi * ic:(gi + 1) * ic].reshape(n * oh * ow, kh * kw * ic).astype(np.float64)
        cols += p.input_offset
        w = filt[gi * per_group:(gi + 1) * per_group].reshape(per_group, kh * kw * ic)
        # float64 BLAS is exact here: every partial sum is an integer far below 2**53.
        acc[:, gi * per_group:(gi + 1) * per_group] = np.rint(cols @ w.T).astype(np.int64)
    if p.has_bias:
        acc += p.bias.astype(np.int64)
    return requantize_clamp(acc, p).reshape(n, oh, ow, oc)


def scratch_bytes(p: ConvParams) -> int:
    return 0  # the reference kernel needs no scratch


def conv_params_init(p: ConvParams) -> dict[str, object]:
    return {"input_offset": int(p.input_offset), "output_offset": int(p.output_offset),
            "stride": hw(p.stride_h, p.stride_w), "padding": hw(p.pad_top, p.pad_left),
            "dilation": hw(p.dilation_h, p.dilation_w), "activation": act_init(p)}


def emit_quant(p: Any, e: EmitCtx) -> tuple[str, str, str]:
    """Declare filter, bias and per-channel quant tables; return (filter, bias, quant) C expressions.
    A split layer (e.split) declares its filter as two tables: `filter` with the first n output
    channels (updated in SRAM) and `filter_frozen` with the rest (flash); `filter` names the first."""
    shape = tuple(p['filter'].shape)
    if e.split is not None:
        n, oc = e.split.n, shape[0]
        filt = e.const("filter", p.filter[:n], "int8_t", comment=f"output channels 0..{n - 1} of {shape}: updated")
        e.const("filter_frozen", p.filter[n:], "int8_t", comment=f"output channels {n}..{oc - 1} of {shape}: frozen")
    else:
        filt = e.const("filter", p.filter, "int8_t", comment=f"{shape}")
    bias = e.const("bias", p.bias, "int32_t") if p.has_bias else "NULL"
    mult = e.const("multiplier", p.multiplier, "int32_t")
    shift = e.const("shift", p.shift, "int32_t")
    quant = e.struct("tiny_per_channel_quant", "quant", {"multiplier": mult, "shift": shift})
    return filt, bias, quant


def channel_slice(p: Any, lo: int, hi: int) -> Any:
    """Conv / fully connected params of output channels [lo, hi) alone (OpDef.channel_slice)."""
    sl = dict(filter=p.filter[lo:hi], multiplier=p.multiplier[lo:hi], shift=p.shift[lo:hi],
              bias=p.bias[lo:hi] if p.has_bias else None, out_shape=(*p.out_shape[:-1], hi - lo))
    if hasattr(p, "filter_shape"):
        sl["filter_shape"] = (hi - lo, *p.filter_shape[1:])
    else:
        sl["out_channels"] = hi - lo
    return replace(p, **sl)


def split_calls(p: Any, e: EmitCtx, filt: str, bias: str, quant: str, call: Any) -> str:
    """The kernel calls of a layer: one, or for a split layer (e.split, training firmware) the
    updated channels [0, n) with the SRAM filter and the frozen [n, oc) with the flash one, each
    writing a contiguous block of the output ([rows x n] then [rows x (oc - n)]), then the in-place
    interleave into NHWC. call(fn, quant, filter, bias, channels, out) writes one call."""
    sp = e.split
    oc = int(p.out_shape[-1])
    if sp is None:
        return call(None, quant, filt, bias, oc, e.out())
    n, rows = sp.n, int(np.prod(p.out_shape, dtype=np.int64)) // oc
    q2 = e.struct("tiny_per_channel_quant", "quant_frozen",
                  {"multiplier": f"{e.prefix}_multiplier + {n}", "shift": f"{e.prefix}_shift + {n}"})
    lines = [f"/* output channels 0..{n - 1} (updated filter, SRAM), {n}..{oc - 1} (frozen, flash) */",
             call(sp.fns[0], quant, filt, bias, n, e.out()),
             call(sp.fns[1], q2, f"{e.prefix}_filter_frozen", "NULL" if bias == "NULL" else f"{bias} + {n}",
                  oc - n, f"{e.out()} + {rows * n}")]
    if rows > 1:
        lines.append(f"tiny_interleave_channels_s8({e.out()}, {rows}, {n}, {oc - n}, {sp.scratch_expr});")
    return "\n".join(lines)


def emit(p: ConvParams, e: EmitCtx, fn: str) -> str:
    filt, bias, quant = emit_quant(p, e)
    params = e.struct("tiny_conv_params", "params", conv_params_init(p))
    fs, os_ = p['filter_shape'], p['out_shape']

    def call(f: str | None, q: str, w: str, b: str, oc: int, out: str) -> str:
        # the full layer keeps its shapes as they are (run-time dims inside a patch stage)
        fd, od = (fs, os_) if oc == fs[0] else ((oc, *fs[1:]), (*os_[:-1], oc))
        return (f"{f or fn}({e.ctx()}, {params}, {q}, {e.dims(p['in_shape'])}, {e.inp(0)}, "
                f"{e.dims(fd)}, {w}, {e.dims((oc,))}, {b}, {e.dims(od)}, {out});")
    return split_calls(p, e, filt, bias, quant, call)


# ---------------------------------------------------------------- shared by the windowed ops
def window_options(opt: Any) -> dict[str, Any]:
    """Conv/pool options: fused activation, padding, strides (and dilation / window where present)."""
    a = fused_activation(opt)
    if opt is None:
        return a
    a.update(padding=PADDINGS[opt.padding], stride_h=opt.strideH, stride_w=opt.strideW)
    if hasattr(opt, "dilationHFactor"):
        a.update(dilation_h=opt.dilationHFactor, dilation_w=opt.dilationWFactor)
    if hasattr(opt, "depthMultiplier"):
        a["depth_multiplier"] = opt.depthMultiplier
    if hasattr(opt, "filterHeight"):
        a.update(filter_h=opt.filterHeight, filter_w=opt.filterWidth)
    return a


def _hw(g: Graph, tid: int) -> tuple[int, int]:
    s = g.tensors[tid].shape
    return int(s[1]), int(s[2])


def window_params(g: Graph, op: Op) -> tuple[int, int, int, int, int, int, int, int]:
    """(kh, kw, sh, sw, dh, dw, pad_top, pad_left) of a windowed op, TFLite's SAME/VALID rule.
    Convolutions take the window from the filter, pooling from the `filter_h/w` options."""
    a = op.attrs
    if "filter_h" in a:
        kh, kw, dh, dw = int(a["filter_h"]), int(a["filter_w"]), 1, 1
    else:
        w = g.tensors[op.inputs[1]].shape
        kh, kw = int(w[1]), int(w[2])
        dh, dw = int(a.get("dilation_h", 1)), int(a.get("dilation_w", 1))
    sh, sw = int(a.get("stride_h", 1)), int(a.get("stride_w", 1))
    (hi, wi), (ho, wo) = _hw(g, op.inputs[0]), _hw(g, op.outputs[0])

    def pad(size: int, out: int, k: int, s: int, d: int) -> int:
        if a.get("padding") != "SAME":
            return 0
        return max((out - 1) * s + (k - 1) * d + 1 - size, 0) // 2
    return kh, kw, sh, sw, dh, dw, pad(hi, ho, kh, sh, dh), pad(wi, wo, kw, sw, dw)


def window_rect(g: Graph, op: Op, out: Rect, which: int = 0) -> Rect:
    """The input rectangle a windowed op reads to produce `out`, clipped to the input."""
    hi, wi = _hw(g, op.inputs[which])
    kh, kw, sh, sw, dh, dw, pt, pl = window_params(g, op)
    r0, r1 = out.r0 * sh - pt, (out.r1 - 1) * sh - pt + (kh - 1) * dh + 1
    c0, c1 = out.c0 * sw - pl, (out.c1 - 1) * sw - pl + (kw - 1) * dw + 1
    return Rect(max(r0, 0), min(r1, hi), max(c0, 0), min(c1, wi))


def first_input(g: Graph, op: Op) -> list[int]:
    return [0] if op.inputs and op.inputs[0] >= 0 and not g.tensors[op.inputs[0]].is_const else []


def conv_macs(g: Graph, op: Op) -> int:
    w = g.tensors[op.inputs[1]].shape  # O, KH, KW, I
    return g.tensors[op.outputs[0]].size * w[1] * w[2] * w[3]


# Optimized kernels (firmware/src/kernels/arm/) re-check their fast-path conditions at run time. The
# one that runs a shape is the cheapest by the generation-time cost model (tiny/emit/cost.py), so no
# groups-1 undilated shape is left to the portable kernel; only the GEMM may need planned scratch.
_CONV_VARIANTS = ("tiny_conv2d_s8_1x1", "tiny_conv2d_s8_rgb", "tiny_conv2d_s8_dsp", "tiny_conv2d_s8_gemm")


def _cheapest(fn: str) -> Any:
    from tiny.emit.cost import best_conv
    return lambda p, t: best_conv(p).function == fn


def _scratch(fn: str) -> Any:
    from tiny.emit.cost import best_conv
    return lambda p: best_conv(p).scratch if best_conv(p).function == fn else 0
def _why_portable(p: ConvParams) -> str:
    from tiny.emit.cost import conv_why_portable     # lazy, as the variant predicates above
    return conv_why_portable(p)


CONV_2D = OpDef(
    name="CONV_2D", fb_options="Conv2DOptions", fb_options_required=True, arity=(2, 3, (4, 4, 1), 4),
    portable_why=_why_portable,
    options=window_options, prepare=prepare, run=run, emit=emit, scratch=scratch_bytes,
    variants=tuple(Variant(fn, _cheapest(fn), dsp=True, scratch=_scratch(fn)) for fn in _CONV_VARIANTS)
    + (Variant("tiny_conv2d_s8"),),
    macs=conv_macs, input_rect=window_rect, data_inputs=first_input, windowed=True, local=True,
    backward="conv", trainable=True, classifier=True, color="#2980b9", channel_slice=channel_slice)
DEFS = [CONV_2D]
