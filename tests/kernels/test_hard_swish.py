"""tiny_hard_swish_s8 (C) against tiny.reference.hard_swish (numpy): exhaustive over the 256 int8
inputs for hundreds of scale / zero-point combinations, including the int16 corner cases
(left-shifted "reluish" multipliers, right shifts of 16 and more)."""
from __future__ import annotations

import ctypes

import numpy as np
import pytest

from tests.kernels.cbuild import build_lib
from tests.kernels.test_add import compile_emitted
from tests.kernels.test_logistic import ALL, run_c, unary_graph
from tiny.ir import IRError
from tiny.ops import hard_swish


@pytest.fixture(scope="module")
def lib() -> ctypes.CDLL:
    return build_lib(["kernels/ref/hard_swish_s8.c"])


def test_exhaustive_over_scales(lib: ctypes.CDLL) -> None:
    rng = np.random.default_rng(21)
    exps = set()
    for _ in range(400):
        si = float(np.exp(rng.uniform(np.log(1e-7), np.log(50.0))))
        so = float(si * np.exp(rng.uniform(np.log(1 / 120), np.log(1e6))))
        g, op = unary_graph("HARD_SWISH", (256,), (si, int(rng.integers(-128, 128))), (so, int(rng.integers(-128, 128))))
        p = hard_swish.prepare(g, op)
        exps.add((np.sign(p.reluish_exponent), p.output_exponent <= -16))
        np.testing.assert_array_equal(run_c(lib, "tiny_hard_swish_s8", hard_swish.PARAM_FIELDS, p, ALL),
                                      hard_swish.run(p, [ALL]))
    assert {(1, False), (-1, False), (-1, True)} <= exps     # every code path was taken


def test_close_to_float_on_typical_scales(lib: ctypes.CDLL) -> None:
    for si, zi, so, zo in [(0.05, 0, 0.03, -100), (0.1, 20, 0.06, -110), (0.02, -10, 0.012, -90)]:
        g, op = unary_graph("HARD_SWISH", (256,), (si, zi), (so, zo))
        p = hard_swish.prepare(g, op)
        got = run_c(lib, "tiny_hard_swish_s8", hard_swish.PARAM_FIELDS, p, ALL)
        x = si * (ALL.astype(np.float64) - zi)
        real = x * np.clip(x + 3, 0, 6) / 6
        ok = (real / so + zo > -128.5) & (real / so + zo < 127.5)
        assert np.abs((got.astype(np.float64) - zo) * so - real)[ok].max() <= 1.5 * so


def test_emit_and_rejections() -> None:
    g, op = unary_graph("HARD_SWISH", (1, 4, 4, 8), (0.05, 3), (0.04, -100))
    assert "tiny_hard_swish_s8(&op0_params, 128," in compile_emitted(hard_swish, hard_swish.prepare(g, op), 1)
    g, op = unary_graph("HARD_SWISH", (1, 8), (1.0, 0), (1e-4, 0))   # output finer than input / 128
    with pytest.raises(IRError, match=r"#0 HARD_SWISH.*output_multiplier_exponent"):
        hard_swish.prepare(g, op)
