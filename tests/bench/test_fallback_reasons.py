"""tiny bench's portable-fallback report (tiny.bench.portable_fallbacks) without QEMU: an op with no DSP
variant is named, with the reason and its share, once it costs NO_DSP_SHARE of the instructions; ops
that ran a DSP variant are never named."""
from __future__ import annotations

from dataclasses import replace

from tests import models
from tiny import ops
from tiny.ops.base import Variant
from tiny.bench import NO_DSP_SHARE, portable_fallbacks
from tiny.pipeline import load_model
from tiny.workflow import compile_for


def test_no_dsp_variant_named_with_reason_above_share(monkeypatch) -> None:
    g = load_model(models.tiny_cnn())          # conv, depthwise, conv 1x1, MEAN, FULLY_CONNECTED
    # MEAN has a DSP variant now: a portable-only MEAN stands for an op without one.
    monkeypatch.setitem(ops.REGISTRY, "MEAN", replace(ops.REGISTRY["MEAN"], variants=(Variant("tiny_mean_s8"),),
                                                      no_dsp_why="a sum and one requantization per output, no MACs"))
    c = compile_for(g, "qemu-m4-256k", "layer", kernels="opt")
    mean = next(op.index for op in g.ops if op.type == "MEAN")
    per_op = [1000] * len(g.ops)
    per_op[mean] = 2000                        # 2000 / 6000: far above the share
    out = portable_fallbacks(g, c, "qemu-m4-256k", "opt", per_op)
    assert list(out) == [mean], out
    assert out[mean].startswith("no DSP variant: a sum and one requantization per output"), out
    assert "33.3% of the instructions" in out[mean], out
    per_op[mean] = 0                           # below the share: noise, not named
    assert portable_fallbacks(g, c, "qemu-m4-256k", "opt", per_op) == {}
    assert portable_fallbacks(g, c, "qemu-m4-256k", "opt") == {}       # without counts: variants only
    assert portable_fallbacks(g, c, "qemu-m4-256k", "ref", per_op) == {}   # portable on purpose
    assert NO_DSP_SHARE == 0.01


def test_dsp_mean_not_named() -> None:
    g = load_model(models.tiny_cnn())
    c = compile_for(g, "qemu-m4-256k", "layer", kernels="opt")
    mean = next(op.index for op in g.ops if op.type == "MEAN")
    assert c.kernels[mean] == "tiny_mean_s8_dsp", c.kernels
    per_op = [1000] * len(g.ops)
    per_op[mean] = 2000
    assert mean not in portable_fallbacks(g, c, "qemu-m4-256k", "opt", per_op)
