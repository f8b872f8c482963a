"""MUL: tiny's numpy reference against TFLM on Keras-built int8 models, including MobileNetV3's
squeeze-excite block (GlobalAveragePooling2D -> 1x1 conv -> ReLU -> 1x1 conv -> hard sigmoid ->
Multiply), whose hard sigmoid becomes a MUL by a scalar constant."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.reference.test_add import L, check_ops, keras_graph
from tiny.ir import TinyError


def squeeze_excite(x: Any, squeeze: int) -> Any:
    """keras.applications.mobilenet_v3._se_block, layer for layer."""
    filters = x.shape[-1]
    s = L().GlobalAveragePooling2D(keepdims=True)(x)
    s = L().Conv2D(squeeze, 1, padding="same")(s)
    s = L().ReLU()(s)
    s = L().Conv2D(filters, 1, padding="same")(s)
    s = L().ReLU(6.0)(s + 3.0) * (1.0 / 6.0)          # mobilenet_v3.hard_sigmoid
    return L().Multiply()([x, s])


@pytest.mark.parametrize("size,ch,squeeze,rng_", [(6, 8, 4, 1.0), (5, 16, 8, 6.0), (3, 24, 8, 0.05)])
def test_squeeze_excite(size: int, ch: int, squeeze: int, rng_: float) -> None:
    g = keras_graph(lambda x: squeeze_excite(x, squeeze), [(size, size, ch)], [rng_], seed=size)
    types = [op.type for op in g.ops]
    assert types[0] == "MEAN" and types.count("MUL") == 2, types
    se_mul = [op for op in g.ops if op.type == "MUL"][-1]
    assert g.tensors[se_mul.inputs[0]].shape != g.tensors[se_mul.inputs[1]].shape   # broadcast [1,1,1,C]
    for seed in range(3):
        check_ops(g, ["MUL", "MEAN"], seed=seed)


@pytest.mark.parametrize("r1,r2", [(1.0, 1.0), (0.02, 8.0), (50.0, 40.0)])
def test_two_inputs(r1: float, r2: float) -> None:
    g = keras_graph(lambda a, b: L().Multiply()([a, b]), [(4, 5, 6), (4, 5, 6)], [r1, r2], seed=7)
    assert [op.type for op in g.ops] == ["MUL"]
    for seed in range(3):
        check_ops(g, ["MUL"], seed=seed, whole_graph=True)


@pytest.mark.parametrize("s1,s2", [((4, 4, 3), (1, 1, 3)), ((6, 1, 5), (1, 4, 1))])
def test_broadcasting(s1: tuple, s2: tuple) -> None:
    g = keras_graph(lambda a, b: a * b, [s1, s2], [3.0, 0.7], seed=8)
    assert [op.type for op in g.ops] == ["MUL"]
    check_ops(g, ["MUL"], whole_graph=True)


def test_constant_operand_and_relu() -> None:
    w = np.linspace(-1.5, 2.5, 6).astype(np.float32)
    g = keras_graph(lambda a: L().ReLU()(a * w), [(3, 3, 6)], [2.0], seed=9)
    mul = [op for op in g.ops if op.type == "MUL"]
    assert len(mul) == 1 and any(g.tensors[t].is_const for t in mul[0].inputs)
    check_ops(g, ["MUL"], whole_graph=True)


@pytest.mark.slow
def test_seeded_sweep() -> None:
    converted = 0
    for seed in range(20):
        rng = np.random.default_rng(100 + seed)
        rank = int(rng.integers(1, 4))
        so = tuple(int(v) for v in rng.integers(1, 7, rank))
        s2 = tuple(d if rng.random() < 0.6 else 1 for d in so)
        ranges = [float(v) for v in np.exp(rng.uniform(np.log(1e-3), np.log(100.0), 2))]
        try:
            g = keras_graph(lambda a, b: a * b, [so, s2], ranges, seed=seed)
        except TinyError as e:
            # TF 2.21's converter turns some broadcasts (e.g. (1,4,5) * (1,4,1)) into BiasAdd and
            # then fails ('tf.Transpose ... same rank') or emits a TRANSPOSE tiny does not read.
            assert "conversion failed" in str(e) or "TRANSPOSE" in str(e), e
            continue
        converted += 1
        for k in range(3):
            check_ops(g, ["MUL"], seed=k)
    assert converted >= 14
