"""The generation-time CONV_2D cost model (tiny/emit/cost.py): every groups-1 undilated shape gets an
optimized kernel on a DSP board; the portable one only with a stated reason."""
from __future__ import annotations

import pytest

import numpy as np

from tiny.emit import cost
from tiny.ops import conv2d
from tiny.ops.conv2d import ConvParams
from tiny.target import Target


def conv_params(oc: int, kh: int, kw: int, ic: int, oh: int = 8, ow: int = 8, stride: int = 1, pad: int = 1,
                groups: int = 1, dilation: int = 1) -> ConvParams:
    return ConvParams(op="CONV_2D", index=0, in_shape=(1, oh, ow, ic * groups), out_shape=(1, oh, ow, oc),
                      filter_shape=(oc, kh, kw, ic), stride_h=stride, stride_w=stride, dilation_h=dilation,
                      dilation_w=dilation, pad_top=pad, pad_bottom=pad, pad_left=pad, pad_right=pad,
                      input_offset=0, output_offset=0, act_min=-128, act_max=127,
                      multiplier=np.full(oc, 1 << 30), shift=np.full(oc, -8), filter=np.zeros((oc, kh, kw, ic)),
                      bias=None, has_bias=False, groups=groups)


class _Choice:
    def __init__(self, fn: str, scratch: int) -> None:
        self.function, self.scratch, self.optimized = fn, scratch, fn != "tiny_conv2d_s8"


def select(op: str, p: ConvParams, board: str) -> _Choice:
    """The registry's choice for a CONV_2D (tiny/ops/conv2d.py variants)."""
    v = conv2d.CONV_2D.select(p, Target(board=board, kernels="opt"))
    return _Choice(v.fn, v.scratch(p))


@pytest.mark.parametrize("kh,kw,ic,stride", [(3, 3, 16, 1), (3, 3, 32, 2), (3, 3, 64, 1), (5, 5, 32, 1),
                                              (7, 7, 16, 2), (10, 4, 1, 2), (1, 7, 64, 1), (7, 1, 64, 1),
                                              (3, 3, 512, 1), (1, 1, 48, 2)])
def test_every_plain_conv_shape_gets_an_optimized_kernel(kh: int, kw: int, ic: int, stride: int) -> None:
    ch = select("CONV_2D", conv_params(32, kh, kw, ic, stride=stride), "qemu-m4-256k")
    assert ch.optimized and ch.function != "tiny_conv2d_s8"


def test_choices_follow_the_measured_costs() -> None:
    # QEMU counts on MobileNetV2-0.5@112x80 per output: 8 -> 48 channels 1x1 19.1, gemm 35.7;
    # 192 -> 32 channels 1x1 (pixel-pair path) 245.0, gemm 266.9; 288 -> 48 (past the pixel-pair
    # path's 256 input channels) gemm 377.9, the 1x1 strip path ~500; first conv 3x3x3: first-conv
    # kernel 76.7, gemm 92.2
    assert cost.best_conv(conv_params(48, 1, 1, 8, pad=0)).function == "tiny_conv2d_s8_1x1"
    assert cost.best_conv(conv_params(32, 1, 1, 192, pad=0)).function == "tiny_conv2d_s8_1x1"
    assert cost.best_conv(conv_params(48, 1, 1, 288, pad=0)).function == "tiny_conv2d_s8_gemm"
    # off the pixel-pair path (a clamped output range: RELU with a zero point above -128): gemm again
    relu = conv_params(32, 1, 1, 192, pad=0)
    relu = type(relu)(**{**relu.__dict__, "act_min": -100})
    assert not cost.pw_pair_path(relu)
    assert cost.best_conv(relu).function == "tiny_conv2d_s8_gemm"
    assert cost.pw_pair_path(conv_params(32, 1, 1, 192, pad=0))
    assert cost.best_conv(conv_params(16, 3, 3, 3)).function == "tiny_conv2d_s8_rgb"
    assert cost.best_conv(conv_params(64, 3, 3, 64)).function == "tiny_conv2d_s8_gemm"


def test_gemm_scratch_mirrors_the_c_buffer_size() -> None:
    # 5 * ceil4(K) + 16 * out_c bytes (conv2d_s8_gemm.c), on the stack up to TINY_GEMM_STACK (2048)
    assert cost.gemm_scratch(3, 3, 16, 16) == 0                          # 5 * 144 + 256 = 976
    assert cost.gemm_scratch(3, 3, 64, 64) == 5 * 576 + 16 * 64 + 4      # 3396 > 2048: planned
    assert cost.gemm_scratch(3, 3, 3, 1) == 0
    ch = select("CONV_2D", conv_params(64, 3, 3, 64), "qemu-m4-256k")
    assert ch.scratch == 5 * 576 + 16 * 64 + 4


def test_grouped_and_dilated_convs_say_why_they_stay_portable() -> None:
    assert select("CONV_2D", conv_params(32, 3, 3, 8, groups=4), "qemu-m4-256k").function == "tiny_conv2d_s8"
    assert cost.conv_why_portable(conv_params(32, 3, 3, 8, groups=4)) == "grouped conv"
    assert cost.conv_why_portable(conv_params(32, 3, 3, 8, dilation=2)) == "dilated conv"


def test_no_optimized_kernel_without_dsp() -> None:
    assert not select("CONV_2D", conv_params(32, 3, 3, 32), "qemu-m3").optimized
