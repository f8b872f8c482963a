"""The general CONV_2D kernel (tiny_conv2d_s8_gemm) inside a whole model on the DSP board, bit-exact
with TFLite Micro: 3x3 / 5x5 / 1x7 / 7x1 convs, one with planned scratch."""
from __future__ import annotations

import pytest

from tests import models
from tiny.compare import validate
from tiny.pipeline import load_model
from tiny.workflow import compile_for, open_session

pytestmark = pytest.mark.qemu


def test_gemm_convs_bit_exact_on_qemu() -> None:
    g = load_model(models.conv_shapes_cnn())
    c = compile_for(g, "qemu-m4-256k")
    convs = [op.index for op in g.ops if op.type == "CONV_2D"]
    gemm = [i for i in convs if c.kernels[i] == "tiny_conv2d_s8_gemm"]
    assert len(gemm) >= 4, c.kernels                       # every conv but the first runs the GEMM
    assert "tiny_conv2d_s8" not in [c.kernels[i] for i in convs]
    with open_session(c, "qemu-m4-256k") as s:
        res = validate(g, s, "qemu-m4-256k", samples=2, readable=c.readable_ops)
    assert res.bit_exact, res.as_json()
