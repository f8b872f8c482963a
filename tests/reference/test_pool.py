"""AVERAGE_POOL_2D / MAX_POOL_2D: tiny's numpy reference against TFLM on Keras-built int8 models."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.reference._tf_models import assert_matches_tflm, op_types, quantized_graph, tf


def pool_branch(rng: np.random.Generator, size: int) -> Any:
    L = tf().keras.layers
    cls = L.AveragePooling2D if rng.random() < 0.5 else L.MaxPooling2D
    k = (int(rng.integers(1, min(5, size) + 1)), int(rng.integers(1, min(5, size) + 1)))
    return cls(k, strides=(int(rng.integers(1, 4)), int(rng.integers(1, 4))),
               padding=str(rng.choice(["same", "valid"])))


def random_model(seed: int, branches: int = 4) -> Any:
    rng = np.random.default_rng(seed)
    size, c = int(rng.integers(4, 14)), int(rng.integers(1, 9))
    layers = [pool_branch(rng, size) for _ in range(branches)]
    # A conv in front gives the pools a non-trivial zero point and scale.
    g = quantized_graph(lambda x: [layer(tf().keras.layers.Conv2D(c, 1)(x)) for layer in layers],
                        (size, size + int(rng.integers(0, 4)), 3), seed=seed)
    assert sum(t in ("AVERAGE_POOL_2D", "MAX_POOL_2D") for t in op_types(g)) == branches
    return g


@pytest.mark.parametrize("seed", range(10))
def test_pool_random_branches(seed: int) -> None:
    g = random_model(seed)
    for s in range(2):
        assert_matches_tflm(g, seed=s)


def test_pool_with_fused_relu_and_same_padding_edges() -> None:
    # SAME windows hanging over the edge average over fewer pixels; ReLU fuses into the pool.
    L = tf().keras.layers
    g = quantized_graph(lambda x: [L.ReLU()(L.MaxPooling2D(3, strides=2, padding="same")(x)),
                                   L.AveragePooling2D((3, 4), strides=(2, 3), padding="same")(x),
                                   L.AveragePooling2D(5, strides=1, padding="same")(x)], (9, 10, 6), seed=5)
    assert {op.attrs["activation"] for op in g.ops} >= {"RELU", "NONE"}
    for s in range(3):
        assert_matches_tflm(g, seed=s)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(400, 430))
def test_pool_random_branches_wide(seed: int) -> None:
    g = random_model(seed, branches=5)
    for s in range(3):
        assert_matches_tflm(g, seed=s)
