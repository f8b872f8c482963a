"""HARD_SWISH: tiny's numpy reference against TFLM, exhaustive over the 256 int8 inputs.

keras.applications' MobileNetV3 writes hard swish as Activation("hard_swish"); its older form
`x * relu6(x + 3) / 6` is fused into the same HARD_SWISH op by the converter (checked here)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.reference.test_add import L, check_ops, keras_graph

ALL = np.arange(-128, 128, dtype=np.int8)


def explicit_hard_swish(x: Any) -> Any:
    return L().Multiply()([x, L().ReLU(6.0)(x + 3.0) * (1.0 / 6.0)])


@pytest.mark.parametrize("form", ["activation", "explicit"])
@pytest.mark.parametrize("rng_", [0.05, 1.0, 3.0, 8.0, 60.0, 500.0])
def test_exhaustive(form: str, rng_: float) -> None:
    build = explicit_hard_swish if form == "explicit" else L().Activation("hard_swish")
    g = keras_graph(build, [(256,)], [rng_], seed=int(rng_ * 10))
    assert [op.type for op in g.ops] == ["HARD_SWISH"]
    check_ops(g, ["HARD_SWISH"], xs=[ALL[None]], whole_graph=True)


def test_after_conv() -> None:
    g = keras_graph(lambda x: L().Activation("hard_swish")(L().Conv2D(8, 3)(x)), [(6, 6, 3)], [2.0], seed=4)
    for seed in range(3):
        check_ops(g, ["HARD_SWISH"], seed=seed)


@pytest.mark.slow
def test_seeded_sweep() -> None:
    for seed in range(20):
        r = float(np.exp(np.random.default_rng(seed).uniform(-6, 7)))
        g = keras_graph(L().Activation("hard_swish"), [(256,)], [r], seed=seed)
        check_ops(g, ["HARD_SWISH"], xs=[ALL[None]], whole_graph=True)
