"""FULLY_CONNECTED: tiny's numpy reference against TFLM (whose rounding differs from TFLite's
builtin reference kernel by +-1 on a few percent of outputs, so this needs many outputs)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.reference._tf_models import assert_matches_tflm, quantized_graph, tf
from tests.reference.test_conv2d import ACTS, activation


def dense_stack(seed: int) -> list[Any]:
    rng = np.random.default_rng(seed)
    L = tf().keras.layers
    layers: list[Any] = [L.Flatten()]
    for _ in range(int(rng.integers(1, 4))):
        layers.append(L.Dense(int(rng.integers(1, 70)), use_bias=bool(rng.random() < 0.85),
                              activation=activation(ACTS[int(rng.integers(0, 4))])))
    return layers


@pytest.mark.parametrize("seed", range(8))
def test_dense_stack(seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 6)), int(rng.integers(1, 6)), int(rng.integers(1, 20)))
    g = quantized_graph(dense_stack(seed), shape, seed=seed)
    assert "FULLY_CONNECTED" in [op.type for op in g.ops]
    for s in range(3):
        assert_matches_tflm(g, seed=s)


def test_dense_wide_layer_exercises_rounding() -> None:
    # 2 x 3000 outputs of a 400-deep layer: enough to hit the double-rounding cases where TFLM
    # and TFLite's builtin reference kernel disagree.
    L = tf().keras.layers
    g = quantized_graph(lambda x: L.Dense(3000)(x), (2, 400), seed=11)
    for s in range(2):
        assert_matches_tflm(g, seed=s)


def test_dense_on_3d_input_keeps_dims() -> None:
    L = tf().keras.layers
    g = quantized_graph([L.Dense(9, activation="relu"), L.Dense(4)], (5, 7), seed=12)
    assert any(op.attrs.get("keep_num_dims") for op in g.ops if op.type == "FULLY_CONNECTED")
    assert_matches_tflm(g, seed=0)


def test_dense_per_tensor_weights() -> None:
    # Per-tensor weights take TFLM's other multiplier path (float32 product of the scales).
    L = tf().keras.layers
    g = quantized_graph([L.Flatten(), L.Dense(40, activation="relu6"), L.Dense(17)], (3, 4, 9), seed=13,
                        converter_attrs={"_experimental_disable_per_channel_quantization_for_dense_layers": True})
    fcs = [op for op in g.ops if op.type == "FULLY_CONNECTED"]
    assert fcs and all(g.tensors[op.inputs[1]].quant.scale.size == 1 for op in fcs)
    for s in range(3):
        assert_matches_tflm(g, seed=s)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(300, 330))
def test_dense_stack_wide(seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 8)), int(rng.integers(1, 8)), int(rng.integers(1, 40)))
    g = quantized_graph(dense_stack(seed), shape, seed=seed)
    for s in range(3):
        assert_matches_tflm(g, seed=s)
