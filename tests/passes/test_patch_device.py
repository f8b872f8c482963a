"""Patch schedules compiled to C and run on the host board: outputs equal TFLite Micro's bit for
bit, for the foundation models and for randomly generated conv stacks."""
from __future__ import annotations

import numpy as np
import pytest

from tests import models
from tests.models import _quantize
from tiny import interpreter
from tiny.compare import random_inputs, validate
from tiny.emit.model import compile_graph
from tiny.frontend.tflite import load_bytes
from tiny.passes.patch import build_schedule, grids, run_patched
from tiny.passes.patch_geometry import Grid, split_even, stage_splits
from tiny.pipeline import load_model
from tiny.workflow import open_session


def _forced(g, k: int, grid: Grid):
    params = interpreter.prepare_all(g)
    from tiny.interpreter import kernel_for
    base = [int(kernel_for(op).scratch_bytes(p)) for op, p in zip(g.ops, params)]
    s = build_schedule(g, k, grid, base)
    return compile_graph(g, schedule=s)


def _device_exact(g, c, samples: int = 2) -> None:
    with open_session(c, "host") as s:
        res = validate(g, s, "host", samples=samples, readable=c.readable_ops)
    assert res.bit_exact, res.as_json()


@pytest.mark.parametrize("name,k,gh,gw", [
    ("mbv2-75x61", 6, 3, 2), ("mbv2-75x61", 13, 2, 3), ("mbv3", 3, 2, 2), ("custom", 4, 2, 3), ("tiny", 2, 3, 3),
])
def test_foundation_models_patch_based_on_host(name: str, k: int, gh: int, gw: int) -> None:
    path = {"mbv2-75x61": lambda: models.mobilenet_v2(0.35, 75, 61), "mbv3": models.mobilenet_v3_small,
            "custom": models.custom_cnn, "tiny": models.tiny_cnn}[name]()
    g = load_model(path)
    assert k in [s for s, why in stage_splits(g) if not why]
    _, h, w, _ = g.tensors[g.ops[k - 1].outputs[0]].shape
    c = _forced(g, k, Grid(split_even(h, gh), split_even(w, gw)))
    assert "for (int32_t p = 0; p <" in c.files["model.c"]   # one loop, not per-patch copies
    _device_exact(g, c)


def random_stack(seed: int) -> bytes:
    """A conv stack with random kernel sizes 1..7, strides 1..2, SAME/VALID, odd input size."""
    import tensorflow as tf
    L = tf.keras.layers
    rng = np.random.default_rng(seed)
    tf.keras.utils.set_random_seed(seed)
    h, w = int(rng.integers(17, 40)) | 1, int(rng.integers(17, 40)) | 1
    x = inp = tf.keras.Input((h, w, 3))
    size = min(h, w)
    for i in range(int(rng.integers(3, 6))):
        k = int(rng.integers(1, 8))
        s = int(rng.integers(1, 3))
        pad = "same" if rng.random() < 0.6 or size <= k + 1 else "valid"
        kind = rng.choice(["conv", "dw", "pool"] if i else ["conv"])
        act = rng.choice([None, "relu", "relu6"])
        if kind == "conv":
            x = L.Conv2D(int(rng.integers(3, 12)), k, strides=s, padding=pad, activation=act)(x)
        elif kind == "dw":
            x = L.DepthwiseConv2D(k, strides=s, padding=pad, activation=act)(x)
        else:
            pk = min(k, 3) if k > 1 else 2
            x = (L.MaxPooling2D if rng.random() < 0.5 else L.AveragePooling2D)(pk, strides=s, padding=pad)(x)
        size = x.shape[1] if x.shape[1] < x.shape[2] else x.shape[2]
        if size < 4:
            break
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dense(4)(x)
    return _quantize(tf.keras.Model(inp, x), (h, w, 3), seed=seed)


def _check_stack(seed: int) -> None:
    g = load_bytes(random_stack(seed), f"stack{seed}")
    params = interpreter.prepare_all(g)
    xs = random_inputs(g, seed)
    want = interpreter.run_graph(g, xs, params)
    legal = [k for k, why in stage_splits(g) if not why]
    assert legal
    rng = np.random.default_rng(seed)
    k = int(rng.choice(legal))
    _, h, w, _ = g.tensors[g.ops[k - 1].outputs[0]].shape
    grid = grids(h, w, 4)[int(rng.integers(0, len(grids(h, w, 4))))]
    s = build_schedule(g, k, grid, [0] * len(g.ops))
    got = run_patched(g, s.patches, params, xs)
    assert np.array_equal(got[g.outputs[0]], want[g.outputs[0]]), (seed, k, grid.n)
    _device_exact(g, _forced(g, k, grid), samples=1)


@pytest.mark.parametrize("seed", range(4))
def test_random_conv_stacks(seed: int) -> None:
    _check_stack(seed)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4, 40))
def test_random_conv_stacks_wide(seed: int) -> None:
    _check_stack(seed)
