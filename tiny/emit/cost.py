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

import numpy as np

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


PWX_MAX_IN = 256        # PWX_MAX_IN in firmware/src/kernels/arm/conv2d_s8_1x1.c
PWX_OC = 64             # PWX_OC (output channels per chunk), same file


PWY_MAX_IN = 64         # PWY_MAX_IN (pre-widened weight path), same file
PWY_WORDS = 640         # PWY_WORDS (stack words of a chunk's block), same file


def pwy_chunk(ic: int) -> int:
    """Output channels per chunk of the pre-widened path (conv2d_s8_1x1.c: 2 * (PWY_WORDS / (in_c + 8)))."""
    return 2 * (PWY_WORDS // (ic + 8))


def pw_pair_path(p: Any) -> bool:
    """tiny_conv2d_s8_1x1 runs its pixel-pair path (== the run-time test of conv2d_s8_1x1.c, except its
    per-channel accumulator bound, which the model's weights and biases meet in practice): in_c a
    multiple of 4 up to PWX_MAX_IN, full int8 output range, every right shift in 1..22, multipliers >= 0."""
    ic = p.filter_shape[3]
    if ic % 4 or ic > PWX_MAX_IN or p.act_min != -128 or p.act_max != 127 or not -128 <= p.output_offset <= 127:
        return False
    sh = np.asarray(p.shift).reshape(-1)
    m = np.asarray(p.multiplier).reshape(-1)
    return bool(sh.size and (sh <= -1).all() and (sh >= -22).all() and (m >= 0).all())


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
            if pw_pair_path(p) and ic <= PWY_MAX_IN:
                # pre-widened weights (conv2d_s8_1x1.c pwy_*): 11 instructions per 16 MACs, ~9 per output
                # for the requantization and the pair loop, the pixels widened once per chunk, the
                # weights once per call.
                chunks = (oc + pwy_chunk(ic) - 1) // pwy_chunk(ic)
                out.append(Estimate("tiny_conv2d_s8_1x1", outs * (0.69 * K + 9) + pix * chunks * 2.1 * K
                                    + 2 * oc * K))
            elif pw_pair_path(p):
                # pixel-pair path (conv2d_s8_1x1.c pwx_*): 15 instructions per 16 MACs in the unrolled
                # blocks (in_c 8/16/32/48; a loop otherwise), ~11 per output for the fused
                # requantization and the block, the widening of each pixel once per 64-channel chunk.
                inner, fixed = (0.97, 11) if ic in (8, 16, 32, 48) else (1.1, 20)
                chunks = (oc + PWX_OC - 1) // PWX_OC
                out.append(Estimate("tiny_conv2d_s8_1x1", outs * (inner * K + fixed) + pix * chunks * 2.1 * K))
            else:
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


PLANE_BUF = 1296        # PL_BUF in firmware/src/kernels/arm/depthwise_conv2d_s8_plane.c (int16 entries)


PLANE_MIN_BAND = 4      # PL_MIN_BAND: fewest output rows per band of a banded plane


def dw_plane_bands(p: Any) -> int:
    """Output rows per band with which the plane kernels (depthwise_conv2d_s8_plane.c: _kxk, _mult) run
    `p` (== pl_init), 0 when they do not: square 3x3 / 5x5 / 7x7, column stride 1 or 2, row stride <= K,
    no dilation, batch 1; the padded plane within PLANE_BUF (one band), or else bands of at least
    PLANE_MIN_BAND output rows whose first input row never precedes the pixels already written (safe in
    place: downsampling strides)."""
    _, kh, kw, _ = p.filter_shape
    oh, ow = p.out_shape[1], p.out_shape[2]
    if kh != kw or kh not in (3, 5, 7) or p.stride_w not in (1, 2) or not 1 <= p.stride_h <= kh:
        return 0
    if p.dilation_h != 1 or p.dilation_w != 1 or p.in_shape[0] != 1 or ow > 256:
        return 0
    L, R = (ow - 1) * p.stride_w + kw, (oh - 1) * p.stride_h + kh
    if L > PLANE_BUF:
        return 0
    if L * R <= PLANE_BUF:
        return oh
    rows = PLANE_BUF // L
    b = (rows - kh) // p.stride_h + 1 if rows >= kh else 0
    if b < PLANE_MIN_BAND:
        return 0
    in_w = p.in_shape[2]
    if not isinstance(p.pad_top, int) or not isinstance(in_w, int):   # patch-local extents: whole planes only
        return 0
    if any(y0 * ow > (y0 * p.stride_h - p.pad_top) * in_w for y0 in range(b, oh, b)):
        return 0
    return b


def dw_plane_fits(p: Any) -> bool:
    """The plane kernels run `p` (whole plane or bands: dw_plane_bands)."""
    return dw_plane_bands(p) > 0


def _small4(p: Any) -> bool:
    """== dw_small4_ok (depthwise_conv2d_s8_dsp.c): 3x3, >= 4 channels, rows and columns read <= 18."""
    _, kh, kw, ch = p.filter_shape
    oh, ow = p.out_shape[1], p.out_shape[2]
    return ((kh, kw) == (3, 3) and ch >= 4 and p.stride_h <= 3 and (ow - 1) * p.stride_w + 3 <= 18
            and (oh - 1) * p.stride_h + 3 <= 18)


def dw_variant(p: Any) -> str:
    """Suffix of the depthwise kernel for a depth-multiplier-1 op on a DSP board (QEMU counts of single
    calls, tests/kernels/kbench.py, and the suite): 3x3 kernels the 3x3 variant (its 4-channel small-image,
    whole-plane stride-1 and row-buffer paths), except column stride 2 on planes the whole-plane kernel
    holds and the 4-channel path does not (24x24 -> 12x12: 5.5 vs 7.0 instructions/MAC); 5x5 / 7x7 the
    plane kernel (kxk: 2.2-4.1 instructions/MAC where c4 took 5.9-8.0) when the plane fits whole or in
    bands (MCUNet's 7x7 s2 on 40x40: 5.44 -> see README), else
    the NHWC 4-channel kernel (c4) for channels a multiple of 4, else the channel-by-channel one (dsp)."""
    _, kh, kw, ch = p.filter_shape
    if (kh, kw) == (3, 3):
        whole = dw_plane_bands(p) == p.out_shape[1]   # banded 3x3 planes not measured against the row buffer
        return "kxk" if p.stride_w == 2 and whole and not _small4(p) else "3x3"
    if dw_plane_fits(p):
        return "kxk"
    return "c4" if ch % 4 == 0 else "dsp"


def conv_why_portable(p: Any) -> str:
    """Why a CONV_2D runs the portable kernel on a DSP board."""
    return best_conv(p).reason or "planned scratch not available (patch stage)"


def dw_why_portable(p: Any) -> str:
    """Why a DEPTHWISE_CONV_2D runs the portable kernel on a DSP board."""
    _, kh, kw, _ = p.filter_shape
    if p.depth_multiplier != 1:
        oh, ow = p.out_shape[1], p.out_shape[2]
        return (f"depth multiplier {p.depth_multiplier} outside the plane kernel (square 3x3/5x5/7x7, "
                f"column stride 1-2, padded plane {(ow - 1) * p.stride_w + kw}x{(oh - 1) * p.stride_h + kh} "
                f"<= {PLANE_BUF} entries, or in bands of >= {PLANE_MIN_BAND} output rows)")
    if p.dilation_h != 1 or p.dilation_w != 1:
        return "dilated depthwise"
    if kh * kw > 64:
        return f"{kh}x{kw} = {kh * kw} taps > 64"
    return f"batch {p.in_shape[0]}" if p.in_shape[0] != 1 else ""


__all__ = ["Estimate", "GEMM_STACK", "IM2COL_MAX", "PLANE_BUF", "PLANE_MIN_BAND", "best_conv", "conv_estimates", "conv_why_portable",
           "dw_plane_bands", "dw_plane_fits", "dw_variant", "dw_why_portable", "gemm_scratch"]
