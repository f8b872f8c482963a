"""Patch-based inference (MCUNetV2): region tracing, schedule search, bit-exactness.

The oracle for a patch schedule is the layer-by-layer execution of the same graph (itself
checked against TFLite Micro elsewhere): outputs must be equal bit for bit."""
from __future__ import annotations

import numpy as np
import pytest

from tests import models
from tiny import interpreter
from tiny.compare import random_inputs
from tiny.ir import TinyError
from tiny.passes.patch import build_schedule, grids, run_patched, search
from tiny.passes.patch_geometry import Grid, Rect, input_rect, split_even, stage_splits
from tiny.pipeline import load_model


def test_split_even_unequal_last() -> None:
    assert split_even(10, 3) == [(0, 4), (4, 7), (7, 10)]
    assert split_even(5, 5) == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]


def test_same_padding_is_asymmetric_at_the_border() -> None:
    """3x3 stride 2 SAME on 8 rows: TFLite pads 0 on top, 1 at the bottom."""
    g = load_model(models.tiny_cnn())   # op 0: 3x3 s2 SAME conv, 16x16 -> 8x8
    op = g.ops[0]
    assert input_rect(g, op, Rect(0, 1, 0, 1)) == Rect(0, 3, 0, 3)      # rows 0..2: no padding on top
    assert input_rect(g, op, Rect(7, 8, 7, 8)) == Rect(14, 16, 14, 16)  # rows 14..16: row 16 is padding
    assert input_rect(g, op, Rect(3, 5, 0, 8)) == Rect(6, 11, 0, 16)


def _check_all(g, max_grid: int = 4, step: int = 2) -> int:
    params = interpreter.prepare_all(g)
    xs = random_inputs(g, 11)
    want = interpreter.run_graph(g, xs, params)
    n = 0
    for k in [k for k, why in stage_splits(g) if not why]:
        _, h, w, _ = g.tensors[g.ops[k - 1].outputs[0]].shape
        for grid in grids(h, w, max_grid)[::step]:
            s = build_schedule(g, k, grid, [0] * len(g.ops))
            got = run_patched(g, s.patches, params, xs)
            for t in g.outputs:
                assert np.array_equal(got[t], want[t]), (k, grid.n)
            n += 1
    return n


@pytest.mark.parametrize("name", ["mbv2", "mbv3", "custom"])
def test_numpy_patches_equal_layer_based(name: str) -> None:
    path = {"mbv2": lambda: models.mobilenet_v2(0.35, 75, 61), "mbv3": models.mobilenet_v3_small,
            "custom": models.custom_cnn}[name]()
    assert _check_all(load_model(path), step=5 if name == "mbv2" else 2) >= 3


def test_non_square_grid_and_unequal_patches() -> None:
    g = load_model(models.mobilenet_v2(0.35, 75, 61))
    params = interpreter.prepare_all(g)
    xs = random_inputs(g, 3)
    want = interpreter.run_graph(g, xs, params)
    k = 6
    _, h, w, _ = g.tensors[g.ops[k - 1].outputs[0]].shape
    grid = Grid(split_even(h, 3), split_even(w, 2))          # 3x2, unequal last patches
    assert len({r1 - r0 for r0, r1 in grid.rows}) > 1 or len({c1 - c0 for c0, c1 in grid.cols}) > 1
    got = run_patched(g, build_schedule(g, k, grid, [0] * len(g.ops)).patches, params, xs)
    assert np.array_equal(got[g.outputs[0]], want[g.outputs[0]])


def test_patch_plan_counts_the_image_and_beats_layer_based() -> None:
    from tiny.emit.model import compile_graph
    g = load_model(models.mobilenet_v2(0.35, 96, 96))
    layer = compile_graph(g)
    s = search(g, [0] * len(g.ops), layer.plan, None, "patch")
    img = g.tensors[g.inputs[0]].nbytes
    assert s.split > 0 and s.peak < layer.plan.arena_bytes
    # the image is live during the whole stage: the peak can never be below image + stage output
    assert s.peak >= img + g.tensors[g.ops[s.split - 1].outputs[0]].nbytes
    assert s.plan.lower_bound <= s.peak


def test_budget_too_small_names_the_smallest_peak() -> None:
    from tiny.emit.model import compile_graph
    g = load_model(models.mobilenet_v2(0.35, 96, 96))
    layer = compile_graph(g)
    with pytest.raises(TinyError, match=r"no schedule fits an SRAM budget of 1,000 bytes: the smallest peak is [\d,]+ bytes"):
        search(g, [0] * len(g.ops), layer.plan, 1000, "auto")


def test_auto_prefers_layer_based_when_it_fits() -> None:
    from tiny.emit.model import compile_graph
    g = load_model(models.mobilenet_v2(0.35, 96, 96))
    layer = compile_graph(g)
    s = search(g, [0] * len(g.ops), layer.plan, layer.plan.arena_bytes, "auto")
    assert s.split == 0 and s.mac_overhead == 0.0


def test_unsplittable_graph_is_explained() -> None:
    """A model whose first op needs the whole tensor cannot be split, but layer-based still works."""
    import tensorflow as tf
    from tests.models import _quantize
    from tiny.frontend.tflite import load_bytes
    m = tf.keras.Sequential([tf.keras.Input((8, 8, 3)), tf.keras.layers.GlobalAveragePooling2D(),
                             tf.keras.layers.Dense(4)])
    g = load_bytes(_quantize(m, (8, 8, 3)))
    from tiny.emit.model import compile_graph
    layer = compile_graph(g)
    with pytest.raises(TinyError, match="cannot split .* MEAN is not spatially local.*--schedule layer"):
        search(g, [0] * len(g.ops), layer.plan, None, "patch")
