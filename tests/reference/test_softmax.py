"""SOFTMAX: tiny's numpy reference against TFLM's fixed-point int8 softmax on Keras-built models.

Rows holding all 256 int8 values exercise every input difference; the input ranges sweep scales
from tiny to beyond 16, where TFLM caps the input multiplier at 2^31 - 1 (its double-rounding
build: shift 31, diff_min 0)."""
from __future__ import annotations

import numpy as np
import pytest

from tests.reference.test_add import L, check_ops, keras_graph
from tiny.ops import softmax

ALL = np.arange(-128, 128, dtype=np.int8)


@pytest.mark.parametrize("rng_", [0.01, 0.3, 1.0, 5.0, 30.0, 3000.0])
def test_every_difference(rng_: float) -> None:
    g = keras_graph(lambda x: L().Softmax()(x), [(3, 256)], [rng_], seed=1)
    assert [op.type for op in g.ops] == ["SOFTMAX"]
    rng = np.random.default_rng(0)
    rows = np.stack([ALL, rng.permutation(ALL), np.sort(ALL)[::-1]])[None]
    check_ops(g, ["SOFTMAX"], xs=[rows], whole_graph=True)
    for seed in range(3):
        check_ops(g, ["SOFTMAX"], seed=seed, whole_graph=True)


@pytest.mark.parametrize("rng_,capped", [(3000.0, False), (20000.0, True)])
def test_large_scales_follow_double_rounding_build(rng_: float, capped: bool) -> None:
    # Input scale >= 16: a single-rounding TFLM would cap the multiplier at 2^30 - 1 (shift 30,
    # diff_min -1); the double-rounding build caps at 2^31 - 1 only above 32 and has shift 31.
    g = keras_graph(lambda x: L().Softmax()(x), [(8,)], [rng_], seed=2)
    p = softmax.prepare(g, g.ops[0])
    assert (p.input_left_shift, p.diff_min) == (31, 0)
    assert (p.input_multiplier == (1 << 31) - 1) == capped
    # A difference of -1 is dropped (-128) only with diff_min 0.
    x = np.array([[10, 9, 10, 3, 9, 10, -5, 9]], dtype=np.int8)
    theirs = check_ops(g, ["SOFTMAX"], xs=[x])
    assert theirs[g.outputs[0]][0, 1] == -128


@pytest.mark.parametrize("shape", [(10,), (3, 5, 7), (2, 2, 2, 33)])
def test_shapes(shape: tuple) -> None:
    g = keras_graph(lambda x: L().Softmax(axis=-1)(x), [shape], [4.0], seed=len(shape))
    for seed in range(3):
        check_ops(g, ["SOFTMAX"], seed=seed, whole_graph=[op.type for op in g.ops] == ["SOFTMAX"])


def test_classifier_head() -> None:
    g = keras_graph(lambda x: L().Dense(10, activation="softmax")(L().Flatten()(x)), [(4, 4, 2)], [1.0], seed=5)
    for seed in range(3):
        check_ops(g, ["SOFTMAX"], seed=seed)


@pytest.mark.slow
def test_seeded_sweep() -> None:
    for seed in range(20):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(2, 300))
        g = keras_graph(lambda x: L().Softmax()(x), [(n,)], [float(np.exp(rng.uniform(-6, 6)))], seed=seed)
        for k in range(3):
            check_ops(g, ["SOFTMAX"], seed=k, whole_graph=True)
