"""Models the tests use, built and quantized locally, cached on disk by name.

The cache (TINY_CACHE or ~/.cache/tiny/test-models) only holds what these functions produce;
deleting it is always safe."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

CACHE = Path(os.environ.get("TINY_CACHE", Path.home() / ".cache" / "tiny")) / "test-models"
VERSION = "v2"


def _cached(name: str, build) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    p = CACHE / f"{name}-{VERSION}.tflite"
    if not p.exists():
        tmp = p.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(build())
        tmp.replace(p)
    return p


def _randomize(model, seed: int) -> None:
    """Random batch-norm statistics and biases, so folded biases and per-channel scales are non-trivial."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        kind = type(layer).__name__
        ws = layer.get_weights()
        if kind == "BatchNormalization" and len(ws) == 4:
            c = ws[0].shape
            layer.set_weights([rng.uniform(0.5, 1.5, c), rng.uniform(-0.5, 0.5, c),
                               rng.uniform(-0.2, 0.2, c), rng.uniform(0.5, 1.5, c)])
        elif kind in ("Conv2D", "DepthwiseConv2D", "Dense") and len(ws) == 2:
            layer.set_weights([ws[0], rng.uniform(-0.3, 0.3, ws[1].shape)])


def _quantize(model, shape, seed: int = 0, n: int = 16, lo: float = -1.0, hi: float = 1.0) -> bytes:
    from tiny.frontend.keras import quantize
    _randomize(model, seed + 7)
    rng = np.random.default_rng(seed)
    data = rng.uniform(lo, hi, (n, *shape)).astype(np.float32)
    return quantize(model, data)


def mobilenet_v2(alpha: float = 0.35, h: int = 96, w: int = 96, classes: int = 10) -> Path:
    def build() -> bytes:
        import tensorflow as tf
        tf.keras.utils.set_random_seed(1)
        m = tf.keras.applications.MobileNetV2(input_shape=(h, w, 3), alpha=alpha, weights=None,
                                              classes=classes, classifier_activation=None)
        return _quantize(m, (h, w, 3))
    return _cached(f"mbv2-{alpha}-{h}x{w}-{classes}", build)


def mobilenet_v3_small(h: int = 96, w: int = 96, classes: int = 10) -> Path:
    def build() -> bytes:
        import tensorflow as tf
        tf.keras.utils.set_random_seed(2)
        m = tf.keras.applications.MobileNetV3Small(input_shape=(h, w, 3), weights=None, classes=classes,
                                                   classifier_activation=None, include_preprocessing=False)
        return _quantize(m, (h, w, 3))
    return _cached(f"mbv3s-{h}x{w}-{classes}", build)


def custom_cnn() -> Path:
    """A small CNN touching many ops: conv (5x5 s2 SAME, 3x3 VALID), depthwise (multiplier 2),
    max/avg pool, padding, concat, add, mul, mean, dense, softmax, logistic."""
    def build() -> bytes:
        import tensorflow as tf
        L = tf.keras.layers
        tf.keras.utils.set_random_seed(3)
        x = inp = tf.keras.Input((29, 27, 3))
        x = L.Conv2D(8, 5, strides=2, padding="same", activation="relu")(x)
        a = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", activation="relu6")(x)
        b = L.Conv2D(16, 1)(x)
        x = L.Add()([a, b])
        x = L.ZeroPadding2D(((1, 0), (0, 1)))(x)
        p = L.MaxPooling2D(2)(x)
        q = L.AveragePooling2D(2)(x)
        x = L.Concatenate()([p, q])
        x = L.Conv2D(12, 3, padding="valid")(x)
        s = L.Activation("sigmoid")(L.Conv2D(12, 1)(L.GlobalAveragePooling2D(keepdims=True)(x)))
        x = L.Multiply()([x, s])
        x = L.GlobalAveragePooling2D()(x)
        x = L.Dense(10)(x)
        x = L.Softmax()(x)
        m = tf.keras.Model(inp, x)
        return _quantize(m, (29, 27, 3))
    return _cached("custom-cnn", build)


def tiny_cnn() -> Path:
    """A very small CNN for fast end-to-end tests (emulated boards included)."""
    def build() -> bytes:
        import tensorflow as tf
        L = tf.keras.layers
        tf.keras.utils.set_random_seed(4)
        m = tf.keras.Sequential([
            tf.keras.Input((16, 16, 3)),
            L.Conv2D(8, 3, strides=2, padding="same", activation="relu6"),
            L.DepthwiseConv2D(3, padding="same", activation="relu6"),
            L.Conv2D(16, 1, activation="relu6"),
            L.GlobalAveragePooling2D(),
            L.Dense(5),
        ])
        return _quantize(m, (16, 16, 3))
    return _cached("tiny-cnn", build)


def conv_shapes_cnn() -> Path:
    """Convs of many shapes for the general im2col GEMM kernel: 3x3 s1/s2 SAME, 5x5 s2 VALID, 1x7 / 7x1,
    a 3x3 over 40 channels (planned scratch), odd channel counts."""
    def build() -> bytes:
        import tensorflow as tf
        L = tf.keras.layers
        tf.keras.utils.set_random_seed(17)
        m = tf.keras.Sequential([
            tf.keras.Input((24, 20, 3)),
            L.Conv2D(16, 3, strides=2, padding="same", activation="relu"),
            L.Conv2D(40, 3, padding="same", activation="relu6"),
            L.Conv2D(33, 3, padding="same"),
            L.Conv2D(20, 5, strides=2, padding="valid", activation="relu"),
            L.Conv2D(16, (1, 7), padding="same"),
            L.Conv2D(12, (7, 1), padding="same", activation="relu"),
            L.GlobalAveragePooling2D(),
            L.Dense(4),
        ])
        return _quantize(m, (24, 20, 3))
    return _cached("conv-shapes-cnn", build)
