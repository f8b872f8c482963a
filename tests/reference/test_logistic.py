"""LOGISTIC: tiny's numpy reference against TFLM on Keras sigmoid models, exhaustive over the 256
int8 inputs for input scales from ~1e-4 to ~20 (where TFLM's input radius shrinks to 0)."""
from __future__ import annotations

import numpy as np
import pytest

from tests.reference.test_add import L, check_ops, keras_graph

ALL = np.arange(-128, 128, dtype=np.int8)


@pytest.mark.parametrize("rng_", [0.01, 0.5, 2.0, 8.0, 30.0, 100.0, 1000.0, 3000.0])
def test_exhaustive(rng_: float) -> None:
    g = keras_graph(lambda x: L().Activation("sigmoid")(x), [(256,)], [rng_], seed=int(rng_))
    assert [op.type for op in g.ops] == ["LOGISTIC"]
    check_ops(g, ["LOGISTIC"], xs=[ALL[None]], whole_graph=True)


def test_after_dense() -> None:
    g = keras_graph(lambda x: L().Dense(6, activation="sigmoid")(x), [(12,)], [2.0], seed=3)
    for seed in range(3):
        check_ops(g, ["LOGISTIC"], seed=seed)


@pytest.mark.slow
def test_seeded_sweep() -> None:
    for seed in range(20):
        r = float(np.exp(np.random.default_rng(seed).uniform(-8, 8)))
        g = keras_graph(lambda x: L().Activation("sigmoid")(x), [(256,)], [r], seed=seed)
        check_ops(g, ["LOGISTIC"], xs=[ALL[None]], whole_graph=True)
