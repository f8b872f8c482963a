"""DEPTHWISE_CONV_2D: tiny's numpy reference against TFLM on Keras-built int8 models."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.reference._tf_models import assert_matches_tflm, op_types, quantized_graph, tf
from tests.reference.test_conv2d import ACTS, activation


def dw_branch(rng: np.random.Generator, size: int) -> Any:
    """A random DepthwiseConv2D; dilation only with stride 1 and odd kernels (see test_conv2d)."""
    L = tf().keras.layers
    k = int(rng.integers(1, min(7, size) + 1))
    stride = int(rng.integers(1, 4))
    dil = int(rng.integers(1, 3)) if stride == 1 and k % 2 and rng.random() < 0.35 and 2 * k - 1 <= size else 1
    kw = int(rng.integers(1, min(7, size) + 1)) if dil == 1 else k
    return L.DepthwiseConv2D((k, kw), strides=stride, padding=str(rng.choice(["same", "valid"])),
                             depth_multiplier=int(rng.integers(1, 4)), dilation_rate=dil,
                             use_bias=bool(rng.random() < 0.85),
                             activation=activation(ACTS[int(rng.integers(0, 4))]))


def random_model(seed: int, branches: int = 3) -> Any:
    rng = np.random.default_rng(seed)
    size, cin = int(rng.integers(5, 14)), int(rng.integers(1, 9))
    layers = [dw_branch(rng, size) for _ in range(branches)]
    g = quantized_graph(lambda x: [layer(x) for layer in layers], (size, size + int(rng.integers(0, 3)), cin),
                        seed=seed)
    assert op_types(g).count("DEPTHWISE_CONV_2D") == branches
    return g


@pytest.mark.parametrize("seed", range(12))
def test_depthwise_random_branches(seed: int) -> None:
    g = random_model(seed)
    for s in range(2):
        assert_matches_tflm(g, seed=s)


def test_depthwise_multipliers_and_mobilenet_block() -> None:
    # expand 1x1 -> depthwise 3x3 stride 2 -> project 1x1, plus depth multipliers 2 and 3 in a chain.
    L = tf().keras.layers
    layers = [L.Conv2D(12, 1, activation="relu6"),
              L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6"),
              L.Conv2D(4, 1),
              L.DepthwiseConv2D(5, depth_multiplier=2, padding="same", activation="relu"),
              L.DepthwiseConv2D((3, 2), depth_multiplier=3, padding="valid")]
    g = quantized_graph(layers, (13, 11, 3), seed=4)
    mults = [op.attrs.get("depth_multiplier") for op in g.ops if op.type == "DEPTHWISE_CONV_2D"]
    assert mults == [1, 2, 3]
    for s in range(3):
        assert_matches_tflm(g, seed=s)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(200, 240))
def test_depthwise_random_branches_wide(seed: int) -> None:
    g = random_model(seed, branches=4)
    for s in range(3):
        assert_matches_tflm(g, seed=s)
