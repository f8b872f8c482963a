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
    peak = {r: training_plan(base_graph, load_config(r)).memory(1536)["train_peak_sram_bytes"]
            for r in ("head", "bias", "sparse", "full")}
    assert peak["head"] < peak["bias"] <= peak["sparse"] < peak["full"]


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
    with pytest.raises(TinyError, match=r"labels must be integers in \[0, 10\)"):
        tdata.load(str(p), t.shape, t.quant.s(), t.quant.zp(), 10)
    np.savez(p, x_train=x, y_train=np.zeros(4, int), x_test=x, y_test=np.zeros(4, int))
    xtr, _, _, _ = tdata.load(str(p), t.shape, t.quant.s(), t.quant.zp(), 10)
    assert xtr.shape == (4, *t.shape[1:]) and xtr.dtype == np.int8
    np.savez(p, images=x)
    with pytest.raises(TinyError, match="x_train"):
        tdata.load(str(p), t.shape, t.quant.s(), t.quant.zp(), 10)


def test_exp32_accuracy() -> None:
    x = -np.linspace(0, 80, 10001, dtype=np.float32)
    rel = np.abs(exp32(x).astype(np.float64) / np.exp(x.astype(np.float64)) - 1)
    assert rel.max() < 1e-6
