"""Training through the element-wise ops of converted PyTorch and Keras models (tests/models.py
`pt_ops_cnn`): PRELU (a constant slope per channel), SUB of two activations broadcast over the
spatial axes (x - mean(x)), MAXIMUM of two activations, MINIMUM with a constant (a clip) and a SUB
of two branches; `fpn_cnn`'s nearest-neighbour upsampling (RESIZE_NEAREST_NEIGHBOR, 3x3 -> 6x6
and 3x3 -> 5x4); `max_cnn`'s reductions by maximum (REDUCE_MAX over H and W, over C, over W); the same FPN with
bilinear resizes (RESIZE_BILINEAR, `fpn_cnn("bilinear")`). Before, each
stopped the gradient and every layer below it stayed frozen. Checked:
every layer trains, the oracle's gradients against TF autodiff, the C runtime bit-exact with the
oracle on the host and on qemu, and the float twin's forward against the int8 reference."""
from __future__ import annotations

import numpy as np
import pytest

from tests import models
from tests.train.conftest import digits_for, full_training_learns_bit_exact, gradients_match_tf
from tiny.pipeline import load_model
from tiny.train.api import training_plan
from tiny.train.config import load_config
from tiny.train.layers import frozen_by_ops, trainable_layers


@pytest.fixture(scope="module")
def graph():
    return load_model(str(models.pt_ops_cnn()))


@pytest.fixture(scope="module")
def fpn():
    return load_model(str(models.fpn_cnn()))


@pytest.fixture(scope="module")
def maxr():
    return load_model(str(models.max_cnn()))


@pytest.fixture(scope="module")
def bilinear():
    return load_model(str(models.fpn_cnn("bilinear")))


@pytest.fixture(scope="module")
def model(graph, fpn, maxr, bilinear):
    return {"pt_ops_cnn": graph, "fpn_cnn": fpn, "max_cnn": maxr, "fpn_bilinear": bilinear}.__getitem__


NAMES = ["pt_ops_cnn", "fpn_cnn", "max_cnn", "fpn_bilinear"]
# the layers below the ops under test: the stem below the PRELU / SUB and both branches of the
# MAXIMUM; the three convs below the two resizes (nearest, bilinear); the convs below the reductions
BELOW = {"pt_ops_cnn": (0, 4, 5), "fpn_cnn": (0, 1, 2), "max_cnn": (0, 1, 3, 6), "fpn_bilinear": (0, 1, 2)}


def test_every_layer_trains_through_the_ops(graph) -> None:
    types = [op.type for op in graph.ops]
    assert {"PRELU", "MAXIMUM", "MINIMUM"} <= set(types) and types.count("SUB") == 2
    assert trainable_layers(graph) == [0, 4, 5, 8, 9, 12] and frozen_by_ops(graph) == {}
    plan = training_plan(graph, load_config("full"))
    kinds = [s.kind for s in plan.steps]
    assert kinds.count("sub") == 2 and {"prelu", "max", "min"} <= set(kinds)
    # MINIMUM with a constant: one input gradient; PRELU: none for its (constant) alpha
    assert [len(s.ins) for s in plan.steps if s.kind in ("min", "prelu")] == [1, 1]


@pytest.mark.parametrize("name", NAMES)
def test_gradients_match_tf(model, name: str) -> None:
    gradients_match_tf(model(name))


@pytest.mark.parametrize("board", ["host", pytest.param("qemu-m4-256k", marks=pytest.mark.qemu)])
@pytest.mark.parametrize("name", NAMES)
def test_training_bit_exact(model, name: str, board: str) -> None:
    full_training_learns_bit_exact(model(name), board, BELOW[name])


def test_a_prelu_with_an_activation_slope_stays_frozen_below() -> None:
    """The slope's own gradient is not formed: a PRELU whose alpha is computed stops the gradient
    on its way (the layers feeding alpha stay frozen) instead of training them with none."""
    from tiny.train.layers import _backward_ok
    g = load_model(str(models.pt_ops_cnn()))
    prelu = next(op for op in g.ops if op.type == "PRELU")
    assert _backward_ok(g, prelu)
    g.tensors[prelu.inputs[1]].data = None        # as if a layer computed the slope
    assert not _backward_ok(g, prelu)


@pytest.mark.parametrize("name", NAMES)
def test_float_twin_runs_the_ops(model, name: str) -> None:
    from tests.train.conftest import twin_and_int8_logits
    from tiny.train.float_ref import unsupported
    from tiny.train.layers import logits_tensor
    g = model(name)
    assert unsupported(g, logits_tensor(g)) is None
    _, _, xte, _ = digits_for(g)
    f, real, s = twin_and_int8_logits(g, xte[:64], int8_activations=True)
    assert np.abs(f - real).mean() < 2 * s
    assert np.mean(f.argmax(1) == real.argmax(1)) >= 0.9


def test_every_layer_trains_through_the_upsampling(fpn) -> None:
    from tiny.ops.resize import prepare, resize_sources
    rs = [op for op in fpn.ops if op.type == "RESIZE_NEAREST_NEIGHBOR"]
    # 3 -> 6: each source twice; 3 -> 5 x 4 (half-pixel centers): rows 0 0 1 2 2, columns 0 1 1 2
    assert [[list(v) for v in resize_sources(prepare(fpn, op))] for op in rs] == [
        [[0, 0, 1, 1, 2, 2]] * 2, [[0, 0, 1, 2, 2], [0, 1, 1, 2]]]
    assert trainable_layers(fpn) == [0, 1, 2, 6, 10] and frozen_by_ops(fpn) == {}
    plan = training_plan(fpn, load_config("full"))
    resize = [s for s in plan.steps if s.kind == "resize"]
    # both read the same tensor: the later op's step runs first and assigns, the other adds
    assert len(resize) == 2 and [s.in_first for s in resize] == [[True], [False]]


def test_every_layer_trains_through_the_reductions(maxr) -> None:
    from tiny.interpreter import prepare_all, run_graph
    from tiny.ops.reduce_max import prepare
    rm = [op for op in maxr.ops if op.type == "REDUCE_MAX"]
    # the 4-D view's reduced axes: H and W (a global max pool), C, W (keep_dims)
    assert [op.attrs["keep_dims"] for op in rm] == [False, False, True]
    axes = [(1, 2), (3,), (2,)]
    assert [[b for b in range(4) if (prepare(maxr, op).axis_mask >> b) & 1] for op in rm] == [list(a) for a in axes]
    assert trainable_layers(maxr) == [0, 1, 3, 6, 10] and frozen_by_ops(maxr) == {}
    plan = training_plan(maxr, load_config("full"))
    steps = [s for s in plan.steps if s.kind == "reduce_max"]
    # each finds its maxima again in a saved copy of its input
    assert [plan.captures[s.x_saved].tensor for s in steps] == [op.inputs[0] for op in rm[::-1]]
    # ties (which TF's rule splits) are common in the int8 inputs of every reduction
    xtr, _, _, _ = digits_for(maxr)
    params = prepare_all(maxr)
    tied = [0, 0, 0]
    for i in range(8):
        v = run_graph(maxr, [xtr[i:i + 1]], params)
        for k, (op, ax) in enumerate(zip(rm, axes)):
            x = v[op.inputs[0]]
            tied[k] += int(((x == x.max(axis=ax, keepdims=True)).sum(axis=ax) > 1).sum())
    assert min(tied) > 0, tied


def test_every_layer_trains_through_the_bilinear_upsampling(bilinear) -> None:
    rs = [op for op in bilinear.ops if op.type == "RESIZE_BILINEAR"]
    assert len(rs) == 2 and all(op.attrs["half_pixel_centers"] for op in rs)
    assert trainable_layers(bilinear) == [0, 1, 2, 6, 10] and frozen_by_ops(bilinear) == {}
    plan = training_plan(bilinear, load_config("full"))
    assert [s.in_first for s in plan.steps if s.kind == "bilinear"] == [[True], [False]]


@pytest.mark.parametrize("align,half", [(False, False), (True, False), (False, True)])
def test_bilinear_weights_are_the_int8_kernels(align: bool, half: bool) -> None:
    """The backward's tables (bilinear_sources) weigh the four corners as the int8 forward does: in
    Q10 integers their products, summed and rounded as TFLM's kernel, give its output exactly, for
    up- and downsampling by uneven factors and every variant the forward accepts."""
    from tiny.ops.resize import ResizeParams, bilinear_sources, run
    rng = np.random.default_rng(1)
    for ih, iw, oh, ow in [(3, 3, 6, 6), (3, 3, 5, 4), (4, 7, 9, 3), (5, 2, 2, 11), (1, 3, 4, 1)]:
        p = ResizeParams(op="RESIZE_BILINEAR", index=0, in_shape=(1, ih, iw, 2), out_shape=(1, oh, ow, 2),
                         align_corners=int(align), half_pixel_centers=int(half))
        x = rng.integers(-128, 128, (1, ih, iw, 2)).astype(np.int8)
        (ry, wy), (rx, wx) = bilinear_sources(p)
        qy, qx = (wy * 1024).astype(np.int64), (wx * 1024).astype(np.int64)     # exact: Q10 weights
        assert np.array_equal(qy / 1024, wy) and np.array_equal(qx / 1024, wx) and (qy.sum(1) == 1024).all()
        acc = sum(x[0].astype(np.int64)[ry[:, a]][:, rx[:, b]] * qy[:, a, None, None] * qx[None, :, b, None]
                  for a in (0, 1) for b in (0, 1))
        want = run(p, [x])[0].astype(np.int64)
        got = np.sign(acc) * ((np.abs(acc) + (1 << 19)) >> 20)                # half away from zero
        assert np.array_equal(got, want), (ih, iw, oh, ow)
