"""Generation-time cost model of the CONV_2D kernel variants: which one runs a given shape.

Every variant that can run a shape gets an estimated instruction count (per-MAC inner-loop cost
plus per-output and per-pixel overheads, fitted to QEMU instruction counts of the kernels in
firmware/src/kernels/arm/ on qemu-m4-256k, `tiny bench --suite`), and select() takes the cheapest.
The general im2col GEMM runs every groups-1, undilated shape, so no shape falls back to the
portable kernel on a DSP board for lack of a variant; `Estimate.reason` says why when one does.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

IM2COL_MAX = 160        # TINY_CONV_IM2COL_MAX in firmware/src/kernels/arm/conv2d_s8_rgb.c
GEMM_STACK = 2048       # TINY_GEMM_STACK in firmware/include/tiny/kernels_arm.h


@dataclass(frozen=True)
class Estimate:
    function: str
    instructions: float     # estimated instructions of the whole layer
    scratch: int = 0        # planned scratch bytes (the kernel's _get_buffer_size)
    reason: str = ""        # why the portable kernel, when it is the choice


def gemm_scratch(k_h: int, k_w: int, in_c: int, out_c: int) -> int:
    """== tiny_conv2d_s8_gemm_get_buffer_size (conv2d_s8_gemm.c)."""
    need = 5 * ((k_h * k_w * in_c + 3) & ~3) + 16 * out_c
    return 0 if need <= GEMM_STACK else need + 4


def conv_estimates(p: Any) -> list[Estimate]:
    """Every kernel able to run conv params `p` (ConvParams; portable last), with its estimated cost."""
    oc, kh, kw, ic = p.filter_shape
    n, oh, ow = p.out_shape[0], p.out_shape[1], p.out_shape[2]
    pix = n * oh * ow
    K = kh * kw * ic
    out = []
    grouped = p.groups != 1
    dilated = p.dilation_h != 1 or p.dilation_w != 1
    outs = pix * oc
    if not grouped and not dilated:
        # Per-output instruction counts fitted to QEMU counts (ResNet-8, DS-CNN, MobileNetV1/V2 of the
        # suite): ~1.1-1.2 per MAC in the SMLAD blocks + requantization/loop overhead per output +
        # the im2col copy per pixel shared by the output channels.
        if kh == 1 and kw == 1 and p.stride_h == 1 and p.stride_w == 1 and p.pad_top == 0 and p.pad_left == 0:
            inner = 1.72 if ic % 4 == 0 else 2.2
            out.append(Estimate("tiny_conv2d_s8_1x1", outs * (inner * K + 12)))
        if K <= IM2COL_MAX:
            out.append(Estimate("tiny_conv2d_s8_rgb" if ic == 3 else "tiny_conv2d_s8_dsp", outs * (40 + 1.4 * K)))
        tail = 10.0 * (K % 4)
        out.append(Estimate("tiny_conv2d_s8_gemm", outs * (1.25 * K + 25 + tail + (2 * K + 30) / oc)
                            + n * oc * K * 1.2, gemm_scratch(kh, kw, ic, oc)))
    reason = "grouped conv" if grouped else ("dilated conv" if dilated else "")
    out.append(Estimate("tiny_conv2d_s8", outs * (7.0 * K + 20), 0, reason))
    return out


def best_conv(p: Any) -> Estimate:
    """The cheapest estimate for conv params `p`."""
    return min(conv_estimates(p), key=lambda e: e.instructions)


def dw_variant(p: Any) -> str:
    """Suffix of the depthwise kernel for a depth-multiplier-1 op on a DSP board (QEMU counts, suite):
    3x3 kernels the 3x3 variant; larger ones the NHWC 4-channel kernel (c4) when the channels are a
    multiple of 4, else the channel-by-channel one (dsp)."""
    _, kh, kw, ch = p.filter_shape
    if (kh, kw) == (3, 3):
        return "3x3"        # its row-buffer / 4-channel-plane paths beat c4 on every measured 3x3 layer
    return "c4" if ch % 4 == 0 else "dsp"


def conv_why_portable(p: Any) -> str:
    """Why a CONV_2D runs the portable kernel on a DSP board."""
    return best_conv(p).reason or "planned scratch not available (patch stage)"


def dw_why_portable(p: Any) -> str:
    """Why a DEPTHWISE_CONV_2D runs the portable kernel on a DSP board."""
    _, kh, kw, _ = p.filter_shape
    if p.depth_multiplier != 1:
        return f"depth multiplier {p.depth_multiplier}"
    if p.dilation_h != 1 or p.dilation_w != 1:
        return "dilated depthwise"
    if kh * kw > 64:
        return f"{kh}x{kw} = {kh * kw} taps > 64"
    return f"batch {p.in_shape[0]}" if p.in_shape[0] != 1 else ""


__all__ = ["Estimate", "GEMM_STACK", "IM2COL_MAX", "best_conv", "conv_estimates", "conv_why_portable",
           "dw_variant", "dw_why_portable", "gemm_scratch"]
