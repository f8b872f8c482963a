"""The training graph pass: pruning, saved tensors, reordering, memory accounting, bad configs."""
from __future__ import annotations

import numpy as np
import pytest

from tiny.ir import TinyError
from tiny.passes.sparse_update import plan_training, trace
from tiny.reference.train import exp32
from tiny.train import data as tdata
from tiny.train.api import training_plan
from tiny.train.config import LayerUpdate, layer_updates, load_config, trainable_layers


def test_frozen_layers_get_no_backward(base_graph) -> None:
    g = base_graph
    layers = trainable_layers(g)
    lowest = layers[-3]
    plan = plan_training(g, [LayerUpdate(op=lowest, bias=True, weight_channels=0)])
    ops = [s.op for s in plan.steps if s.kind != "ce"]
    assert min(ops) == lowest and all(op >= lowest for op in ops)          # nothing below
    low = next(s for s in plan.steps if s.op == lowest)
    assert low.ins == []                                                    # no input-grad past it
    assert all(s.update is None for s in plan.steps if s.op > lowest)       # frozen above: grads only
    # bias-only: no int8 activation saved except the logits; masks are 1 bit per element
    copies = [c for c in plan.captures if c.kind == "copy"]
    assert [c.tensor for c in copies] == [plan.logits]
    for c in plan.captures:
        if c.kind == "mask":
            assert c.nbytes == (g.tensors[c.tensor].size + 7) // 8


def test_weight_update_saves_its_input_and_reorders(base_graph) -> None:
    plan = training_plan(base_graph, load_config("sparse"))
    for s in plan.steps:
        if s.update is not None and s.update.weight_channels:
            assert plan.captures[s.x_saved].tensor == base_graph.ops[s.op].inputs[0]
    # float32 gradients of every trained parameter, counted from the graph: without reordering the
    # backward would hold them all at once; with it, each layer's gradient lives in the workspace
    # only until its update, so the workspace must be smaller than their sum.
    g = base_graph
    wgrad = 0
    for u in plan.updates:
        op = g.ops[u.op]
        oc = g.tensors[op.outputs[0]].shape[-1]
        wgrad += 4 * (g.tensors[op.inputs[1]].size if u.weight_channels else 0) + 4 * oc * (u.bias + u.scale)
    assert wgrad > 0
    mem = plan.memory(2000)
    assert mem["without_reordering_bytes"] - mem["train_peak_sram_bytes"] == wgrad
    assert mem["backward_workspace_bytes"] < wgrad
    lines = trace(plan)
    assert lines[0].startswith("ce") and "weights[" in lines[1]


def test_recipe_memory_order(base_graph) -> None:
    # the update schemes alone: without momentum buffers (the recipes' default momenta differ)
    peak = {r: training_plan(base_graph, load_config(r, momentum=0.0)).memory(1536)["train_peak_sram_bytes"]
            for r in ("head", "bias", "sparse", "full")}
    assert peak["head"] < peak["bias"] < peak["full"] and peak["head"] < peak["sparse"] < peak["full"]
    # sparse's half-updated layer (#4, 16 of 32 channels) keeps its frozen channels in flash: it can
    # now undercut bias, which trains every layer's bias (a backward down to the first layer)
    plan = training_plan(base_graph, load_config("sparse", momentum=0.0))
    frozen = sum((base_graph.tensors[base_graph.ops[op].outputs[0]].shape[-1] - n)
                 * base_graph.tensors[base_graph.ops[op].inputs[1]].size
                 // base_graph.tensors[base_graph.ops[op].outputs[0]].shape[-1]
                 for op, n in plan.split_filters().items())
    assert plan.split_filters() == {4: 16} and frozen == 256


def test_partial_channels(base_graph) -> None:
    ups = layer_updates(base_graph, load_config("sparse"))
    ratios = {u.op: u.weight_channels / base_graph.tensors[base_graph.ops[u.op].outputs[0]].shape[-1]
              for u in ups if u.weight_channels}
    assert 0.5 in ratios.values() and 1.0 in ratios.values()


def test_bad_configs(base_graph, tmp_path) -> None:
    with pytest.raises(TinyError, match="does not exist"):
        layer_updates(base_graph, load_config("sparse", weights={"no_such_layer": 1.0}))
    with pytest.raises(TinyError, match="has no weights"):
        layer_updates(base_graph, load_config("sparse", weights={"#7": 1.0}))   # MEAN
    with pytest.raises(TinyError, match="model has 9 ops"):
        layer_updates(base_graph, load_config("sparse", weights={"#99": 1.0}))
    p = tmp_path / "c.toml"
    p.write_text('[train]\nrecipe = "sparse"\nlearning_rate = 1\n')
    with pytest.raises(TinyError, match="unknown key"):
        load_config(str(p))
    p.write_text('[train]\nrecipe = "bias"\nlr = 0.01\nbias_last = 2\n[train.weights]\n"#8" = 1.0\n')
    cfg = load_config(str(p))
    ups = layer_updates(base_graph, cfg)
    assert [u.op for u in ups] == [6, 8] and ups[-1].weight_channels == 10
    with pytest.raises(TinyError, match="neither a recipe"):
        load_config("nonsense")


def test_bad_data(base_graph, tmp_path) -> None:
    t = base_graph.tensors[base_graph.inputs[0]]
    p = tmp_path / "d.npz"
    x = np.zeros((4, 8, 8), np.uint8)
    np.savez(p, x_train=x, y_train=np.array([0, 1, 2, 12]), x_test=x, y_test=np.zeros(4, int))
    with pytest.raises(TinyError, match=r"y_train: labels must be in \[0, 10\) .* got \[0, 12\]"):
        tdata.load(str(p), t.shape, t.quant.s(), t.quant.zp(), 10)
    np.savez(p, x_train=x, y_train=np.zeros(4, int), x_test=x, y_test=np.zeros(4, int))
    xtr, _, _, _ = tdata.load(str(p), t.shape, t.quant.s(), t.quant.zp(), 10)
    assert xtr.shape == (4, *t.shape[1:]) and xtr.dtype == np.int8
    np.savez(p, images=x)
    with pytest.raises(TinyError, match="x_train"):
        tdata.load(str(p), t.shape, t.quant.s(), t.quant.zp(), 10)


@pytest.mark.parametrize("case,match", [
    ("nan", r"x_test: 1 of \d+ values are NaN or infinite"),
    ("rank", r"x_train: images must be N x H x W \[x C\], got shape \(4, 64\) \(rank 2\)"),
    ("empty", r"x_test: the split is empty \(shape \(0, 8, 8\)\)"),
    ("far", r"x_train: .* fall outside the model's input range"),
    ("count", r"y_train: 3 labels for 4 images"),
    ("float_labels", r"y_test: labels must be integer class indices, got dtype float"),
])
def test_bad_input_named(base_graph, tmp_path, case: str, match: str) -> None:
    """Each bad input is refused before any board time, naming the array and the numbers."""
    t = base_graph.tensors[base_graph.inputs[0]]
    x = np.zeros((4, 8, 8), np.float32)
    d = dict(x_train=x, y_train=np.zeros(4, int), x_test=x.copy(), y_test=np.zeros(4, int))
    if case == "nan":
        d["x_test"][1, 2, 3] = np.nan
    elif case == "rank":
        d["x_train"] = np.zeros((4, 64), np.float32)
    elif case == "empty":
        d["x_test"], d["y_test"] = np.zeros((0, 8, 8), np.float32), np.zeros(0, int)
    elif case == "far":       # 0..255 floats for a model whose input covers [-1, 1]
        d["x_train"] = np.full((4, 8, 8), 200.0, np.float32)
    elif case == "count":
        d["y_train"] = np.zeros(3, int)
    else:
        d["y_test"] = np.array([0.5, 1, 2, 3])
    p = tmp_path / "d.npz"
    np.savez(p, **d)
    with pytest.raises(TinyError, match=match):
        tdata.load(str(p), t.shape, t.quant.s(), t.quant.zp(), 10)


def test_uint8_images_map_onto_the_models_domain(base_graph, tmp_path) -> None:
    """uint8 0..255 images land on the int8 codes of the model's [-1, 1] domain (0 -> -1, 255 -> +1)."""
    t = base_graph.tensors[base_graph.inputs[0]]
    x = np.zeros((2, 16, 16), np.uint8)
    x[1] = 255
    p = tmp_path / "d.npz"
    np.savez(p, x_train=x, y_train=np.zeros(2, int), x_test=x, y_test=np.zeros(2, int))
    from tiny.input_domain import model_input_domain
    dom = model_input_domain(base_graph)
    assert (dom.lo, dom.hi) == (-1.0, 1.0)
    xtr, _, _, _ = tdata.load(str(p), t.shape, t.quant.s(), t.quant.zp(), 10, domain=dom, warn=None)
    s, z = t.quant.s(), t.quant.zp()
    want = np.clip(np.round(np.array([-1.0, 1.0]) / s) + z, -128, 127)   # TFLite's quantize, by hand
    assert xtr[0].min() == xtr[0].max() == want[0] and xtr[1].min() == xtr[1].max() == want[1]


def test_exp32_accuracy() -> None:
    x = -np.linspace(0, 80, 10001, dtype=np.float32)
    rel = np.abs(exp32(x).astype(np.float64) / np.exp(x.astype(np.float64)) - 1)
    assert rel.max() < 1e-6


def test_layers_the_gradient_cannot_reach_stay_frozen() -> None:
    """tests/models.py `crop_cnn`: a crop (STRIDED_SLICE, no training backward) lies between the two
    lower convs and the loss: they are frozen by it (and `tiny train` says so), the conv above it
    and the classifier train, and a config naming a frozen layer is refused with that op.
    (`activation_stack`, with a MAXIMUM, the FPN detector's RESIZE_NEAREST_NEIGHBOR and an FPN's
    RESIZE_BILINEAR were this test's models until those ops got a backward: every layer of the
    stack trains now.)"""
    from tests import models
    from tiny.pipeline import load_model
    from tiny.train.config import resolve_layer
    from tiny.train.layers import frozen_by_ops, frozen_notes
    g = load_model(str(models.crop_cnn()))
    types = [op.type for op in g.ops]
    ss = types.index("STRIDED_SLICE")
    assert ss == 2 and frozen_by_ops(g) == {0: ss, 1: ss}
    assert trainable_layers(g) == [3, 5]
    assert frozen_notes(g) == [f"layers #0, #1 stay frozen: op #{ss} STRIDED_SLICE lies between them and the "
                               "loss, and tiny has no training backward for it"]
    with pytest.raises(TinyError, match=rf"'#1'.*op #{ss} STRIDED_SLICE lies between it and the loss"):
        resolve_layer(g, "#1")
    assert [u.op for u in layer_updates(g, load_config("full"))] == trainable_layers(g)   # full = what can train
    a = load_model(str(models.activation_stack()))
    assert trainable_layers(a) == [op.index for op in a.ops if op.type in ("CONV_2D", "FULLY_CONNECTED")]
    assert frozen_by_ops(a) == {} and frozen_notes(a) == []


def test_a_layer_without_a_backward_is_frozen_itself(tmp_path) -> None:
    """tests/models.py `custom_cnn`: its depthwise conv with multiplier 2 has no training backward: it
    stays frozen, and so does the conv below it; every other layer trains through the ADD, PAD, pools,
    CONCATENATION and the squeeze-excite LOGISTIC and MUL, with gradients matching TF's."""
    from tests import models
    from tests.train.conftest import digits_for
    from tests.train.test_gradcheck import _check
    from tiny.pipeline import load_model
    from tiny.reference.train import TrainOracle
    from tiny.train.config import resolve_layer
    from tiny.train.layers import frozen_by_ops, frozen_notes
    g = load_model(str(models.custom_cnn()))
    dw = [op.type for op in g.ops].index("DEPTHWISE_CONV_2D")
    assert g.ops[dw].attrs["depth_multiplier"] == 2
    assert frozen_by_ops(g) == {0: dw, dw: dw} and trainable_layers(g) == [1, 8, 10, 14]
    notes = frozen_notes(g)
    assert len(notes) == 2 and notes[0].startswith(f"layer #{dw} DEPTHWISE_CONV_2D stays frozen: tiny's training")
    assert notes[1].startswith(f"layers #0 stay frozen: op #{dw} DEPTHWISE_CONV_2D lies between them")
    with pytest.raises(TinyError, match=rf"'#{dw}'.*which tiny cannot train: .*depthwise multiplier 1"):
        resolve_layer(g, f"#{dw}")
    plan = training_plan(g, load_config("full"))
    assert {"mul", "logistic", "add", "pad", "concat", "maxpool", "avgpool"} <= {s.kind for s in plan.steps}
    xtr, ytr, _, _ = digits_for(g)
    _check(TrainOracle(plan, lr=0.0), xtr, ytr)


def test_a_branch_to_another_output_gets_no_backward() -> None:
    """A PyTorch-style export (tests/models.py `pytorch_style`): QUANTIZE, conv, depthwise, a TRANSPOSE
    to NCHW, MEAN over one axis at a time, the classifier, and a second output (REDUCE_MAX, no
    backward) branching off after the TRANSPOSE: every layer trains, the branch gets no step."""
    from tests import models
    from tiny.pipeline import load_model
    from tiny.train.layers import frozen_by_ops, logits_tensor
    g = load_model(str(models.pytorch_style()))
    types = [op.type for op in g.ops]
    fc = types.index("FULLY_CONNECTED")
    assert logits_tensor(g) == g.ops[fc].outputs[0]           # through the DEQUANTIZE to the float output
    assert trainable_layers(g) == [1, 2, fc] and frozen_by_ops(g) == {}
    plan = training_plan(g, load_config("full"))
    assert [s.kind for s in plan.steps] == ["ce", "fc", "mean", "mean", "transpose", "dw", "conv"]
