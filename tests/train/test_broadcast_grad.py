"""The gradient of a 1x1 conv's output that only a global average pool consumes is the same at
every position of a channel (before the conv's output mask): the plan holds it as one float per
channel plus a slab of 64 channels at every position (tiny/passes/sparse_update.py
`_broadcast_grads`), and the C runtime runs the conv's backward kernel slab by slab, the conv's bias
and weights (all, or the first n channels with the rest in flash) training from the slabs. Checked:
the plan's steps and workspace, and training bit-exact with the numpy oracle (which materializes the
whole tensor) on the portable and the optimized backward kernels, with momentum and weight shadow."""
from __future__ import annotations

import pytest

from tests import models
from tests.train.conftest import digits_for, train_lockstep
from tiny.passes.sparse_update import plan_training, trace
from tiny.pipeline import load_model
from tiny.train.api import compile_train
from tiny.train.config import load_config
from tiny.train.layers import trainable_layers, updates_for

PW, MEAN = 2, 3     # ops of pooled_pointwise_cnn: conv s2, depthwise, 1x1 conv (7x5x100), mean, FC


@pytest.fixture(scope="module")
def graph():
    return load_model(str(models.pooled_pointwise_cnn()))


@pytest.fixture(scope="module")
def data(graph):
    return digits_for(graph)


def test_plan_holds_the_pooled_gradient_per_channel(graph) -> None:
    assert graph.ops[PW].type == "CONV_2D" and graph.ops[MEAN].type == "MEAN"
    t = graph.ops[PW].outputs[0]
    assert graph.tensors[t].shape == (1, 7, 5, 100)
    head = trainable_layers(graph)[-1]
    # biases of the 1x1 conv and the classifier, the classifier's weights
    plan = plan_training(graph, updates_for(graph, 2, {head: 1.0}))
    assert [(s.kind, s.op) for s in plan.steps if s.bcast] == [("mean", MEAN), ("conv", PW)]
    lines = trace(plan)      # (what `tiny report --train` lists)
    assert [ln for ln in lines if "per channel" in ln] == [
        ln for ln in lines if ln.startswith(("mean", "conv"))]
    # at the mean's step: its output gradient (100) + the 1x1 conv's output gradient as 100
    # per-channel floats and a 64-channel slab of the 35 positions, not 35 x 100
    assert plan.ws_floats == 100 + 100 + 35 * 64
    # biases down to the depthwise layer (the 1x1 conv now passes an input gradient on): still per channel
    deep = plan_training(graph, updates_for(graph, 3, {head: 1.0}))
    assert any(s.bcast for s in deep.steps)
    assert deep.ws_floats < graph.tensors[t].size
    # the 1x1 conv's weights training too: a slab holds every position of its channels
    w = plan_training(graph, updates_for(graph, 2, {head: 1.0, PW: 0.5}))
    assert [(s.kind, s.op) for s in w.steps if s.bcast] == [("mean", MEAN), ("conv", PW)]
    assert w.ws_floats == plan.ws_floats
    # a trained requantization scale (MobileTL) reads the saved output: the whole tensor
    from tiny.train.layers import LayerUpdate
    ups = [LayerUpdate(op=PW, bias=True, weight_channels=0, scale=True), *updates_for(graph, 1, {head: 1.0})]
    sc = plan_training(graph, ups)
    assert not any(s.bcast for s in sc.steps) and sc.ws_floats >= graph.tensors[t].size


# (ratio of the 1x1 conv's 100 channels whose weights train: 50 ends inside the first 64-channel
# slab, the second slab frozen in flash; 70 ends inside the second; 1.0 the whole filter in SRAM)
@pytest.mark.parametrize("board,kernels,ratio,extra", [
    ("host", "opt", None, {}),
    ("host", "opt", 0.5, {}),
    ("host", "opt", 0.7, {"shadow": True}),
    ("host", "opt", 1.0, {}),
    pytest.param("qemu-m4-256k", "opt", None, {}, marks=pytest.mark.qemu),     # the DSP 1x1 backward kernel
    pytest.param("qemu-m4-256k", "opt", 0.7, {"shadow": True}, marks=pytest.mark.qemu),
    pytest.param("qemu-m4-256k", "ref", 0.5, {}, marks=pytest.mark.qemu)])     # the portable one
def test_training_bit_exact_with_the_oracle(graph, data, board: str, kernels: str, ratio, extra) -> None:
    cfg = load_config("sparse", search=False, lr=0.05, momentum=0.9, **extra)
    head = trainable_layers(graph)[-1]
    cfg.bias_last, cfg.weights = 3, {f"#{head}": 1.0, **({f"#{PW}": ratio} if ratio else {})}
    tc = compile_train(graph, board, cfg, kernels=kernels)
    assert [(s.kind, s.op) for s in tc.train_plan.steps if s.bcast] == [("mean", MEAN), ("conv", PW)]
    assert tc.train_plan.split_channels(PW) == (round(100 * ratio) if ratio and ratio < 1 else 0)
    xtr, ytr, _, _ = data
    ck, oracle = train_lockstep(tc, board, xtr, ytr, 25)
    # the 1x1 conv's bias (and its trained weights) moved: the gradient came through the slabs
    g = tc.graph
    assert (oracle.params[PW]["bias"] != g.tensors[g.ops[PW].inputs[2]].data).any()
    if ratio:
        n = round(100 * ratio)
        assert (oracle.params[PW]["filter"][:n] != g.tensors[g.ops[PW].inputs[1]].data[:n]).any()


def test_slabs_sanitized(graph, data, tmp_path) -> None:
    """The slabs written after the per-channel vector and the kernel's reads of them, under
    AddressSanitizer + UBSan on the host, with the 1x1 conv's input gradient passed on."""
    from tests.device.test_sanitizers import sanitized_lockstep
    cfg = load_config("sparse", search=False, lr=0.05)
    cfg.bias_last, cfg.weights = 4, {f"#{trainable_layers(graph)[-1]}": 1.0}
    tc = compile_train(graph, "host", cfg)
    assert any(s.bcast for s in tc.train_plan.steps)
    xtr, ytr, _, _ = data
    sanitized_lockstep(tc, xtr, ytr, 6, tmp_path)


@pytest.mark.qemu
def test_mobilenet_v2_fixed_scheme_in_128k_on_qemu() -> None:
    """MobileNetV2-0.35@128's fixed sparse scheme under a 128 KB training budget (it fits only with
    the per-channel pooled gradient: the whole 4x4x1280 float gradient is 80 KB): 3 steps on
    qemu-m4-256k in lockstep with the oracle."""
    g = load_model(str(models.mobilenet_v2(0.35, 128, 128)))
    xtr, ytr, _, _ = digits_for(g)
    tc = compile_train(g, "qemu-m4-256k", load_config("sparse", search=False), "auto", 131072)
    assert any(s.bcast for s in tc.train_plan.steps)
    assert tc.train_memory["train_peak_sram_bytes"] <= 131072
    train_lockstep(tc, "qemu-m4-256k", xtr, ytr, 3)
