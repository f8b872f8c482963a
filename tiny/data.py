"""Built-in data sets, all offline: sklearn's bundled digits, resized and split."""
from __future__ import annotations

import numpy as np


def digits(size: int = 16, channels: int = 1, seed: int = 0, test_fraction: float = 0.25,
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """sklearn's 8x8 digits, upscaled (bilinear) to size x size, in [-1, 1], NHWC float32."""
    from sklearn.datasets import load_digits
    d = load_digits()
    x = d.images.astype(np.float32) / 16.0
    x = _resize(x, size)
    x = x * 2.0 - 1.0
    x = np.repeat(x[..., None], channels, axis=-1)
    y = d.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(x))
    n_test = int(len(x) * test_fraction)
    te, tr = idx[:n_test], idx[n_test:]
    return x[tr], y[tr], x[te], y[te]


def _resize(x: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of a batch of square images (align_corners=False), numpy only."""
    n, h, w = x.shape
    pos = (np.arange(size) + 0.5) * (h / size) - 0.5
    i0 = np.clip(np.floor(pos).astype(int), 0, h - 1)
    i1 = np.clip(i0 + 1, 0, h - 1)
    f = np.clip(pos - i0, 0, 1).astype(np.float32)
    rows = x[:, i0, :] * (1 - f)[None, :, None] + x[:, i1, :] * f[None, :, None]
    return rows[:, :, i0] * (1 - f)[None, None, :] + rows[:, :, i1] * f[None, None, :]


def quantize_input(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """float -> int8 as the model's input quantization expects."""
    return np.clip(np.round(x / scale) + zero_point, -128, 127).astype(np.int8)
