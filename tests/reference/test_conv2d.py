"""CONV_2D: tiny's numpy reference against TFLM on Keras-built int8 models, every tensor equal."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.reference._tf_models import assert_matches_tflm, op_types, quantized_graph, tf

ACTS = [None, "relu", "relu6", "relu_n1_to_1"]


def activation(name: str | None) -> Any:
    """A Keras activation the converter fuses into the op (RELU_N1_TO_1 from a min/max clamp)."""
    if name == "relu_n1_to_1":
        t = tf()
        return lambda x: t.minimum(t.maximum(x, -1.0), 1.0)
    return name


def conv_branch(rng: np.random.Generator, size: int, cin: int) -> Any:
    """One random Conv2D layer fitting a size x size input. Keras forbids stride > 1 with dilation;
    dilated even kernels with SAME padding convert to SPACE_TO_BATCH_ND, so dilation uses odd ones."""
    L = tf().keras.layers
    k = int(rng.integers(1, min(7, size) + 1))
    stride = int(rng.integers(1, 4))
    dil = int(rng.integers(1, 3)) if stride == 1 and k % 2 and rng.random() < 0.35 and 2 * k - 1 <= size else 1
    groups = int(rng.choice([g for g in (1, 2, cin) if cin % g == 0])) if rng.random() < 0.15 else 1
    filters = groups * int(rng.integers(1, 5))
    return L.Conv2D(filters, (k, int(rng.integers(1, min(7, size) + 1)) if dil == 1 else k), strides=stride,
                    padding=str(rng.choice(["same", "valid"])), dilation_rate=dil, groups=groups,
                    use_bias=bool(rng.random() < 0.85), activation=activation(ACTS[int(rng.integers(0, 4))]))


def random_model(seed: int, branches: int = 3) -> Any:
    rng = np.random.default_rng(seed)
    size, cin = int(rng.integers(5, 14)), int(rng.integers(1, 7))
    layers = [conv_branch(rng, size, cin) for _ in range(branches)]
    g = quantized_graph(lambda x: [layer(x) for layer in layers], (size, size + int(rng.integers(0, 3)), cin),
                        seed=seed)
    assert op_types(g).count("CONV_2D") == branches
    return g


@pytest.mark.parametrize("seed", range(12))
def test_conv2d_random_branches(seed: int) -> None:
    g = random_model(seed)
    for s in range(2):
        assert_matches_tflm(g, seed=s)


def test_conv2d_stack_with_every_activation() -> None:
    # Chained convs: later layers see real (non-uniform) activations and zero points.
    L = tf().keras.layers
    layers = [L.Conv2D(6, 3, strides=2, padding="same", activation="relu6"),
              L.Conv2D(5, 1, activation=activation("relu_n1_to_1")),
              L.Conv2D(7, 5, padding="same", activation="relu"),
              L.Conv2D(3, (2, 4), strides=(1, 2), padding="valid")]
    g = quantized_graph(layers, (15, 11, 3), seed=7)
    assert [op.attrs["activation"] for op in g.ops] == ["RELU6", "RELU_N1_TO_1", "RELU", "NONE"]
    for s in range(3):
        assert_matches_tflm(g, seed=s)


def test_conv2d_dilation_and_groups() -> None:
    L = tf().keras.layers
    g = quantized_graph(lambda x: [L.Conv2D(4, 3, dilation_rate=(2, 3), padding="same")(x),
                                   L.Conv2D(6, 3, groups=3, padding="valid", activation="relu")(x),
                                   L.Conv2D(2, 7, dilation_rate=2, padding="valid")(x)], (17, 16, 6), seed=8)
    dil = [(op.attrs["dilation_h"], op.attrs["dilation_w"]) for op in g.ops]
    assert (2, 3) in dil and (2, 2) in dil
    assert_matches_tflm(g, seed=0)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(100, 140))
def test_conv2d_random_branches_wide(seed: int) -> None:
    g = random_model(seed, branches=4)
    for s in range(3):
        assert_matches_tflm(g, seed=s)


@pytest.mark.slow
def test_mobilenet_v2_forward_is_fast_and_exact() -> None:
    import time

    from tiny.interpreter import prepare_all, run_graph
    k = tf().keras
    base = k.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None, include_top=False,
                                      pooling="avg")
    g = quantized_graph(lambda x: k.layers.Dense(10)(base(x)), (96, 96, 3), seed=3, randomize_weights=False)
    params = prepare_all(g)
    x = [np.random.default_rng(0).integers(-128, 128, (1, 96, 96, 3)).astype(np.int8)]
    t0 = time.perf_counter()
    run_graph(g, x, params)
    assert time.perf_counter() - t0 < 3.0
    assert_matches_tflm(g, x)
