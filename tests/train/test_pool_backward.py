"""Training through pooling layers (a classic Keras CNN: conv + BN + ReLU, max pools, an average pool,
Flatten, Dense; tests/models.py `pooling_cnn`). The oracle's gradients are checked against TF's
MaxPoolGrad / AvgPoolGrad in test_gradcheck.py; here: the plan (what is saved for the backward) and
the C runtime bit-exact with the oracle on the host, on qemu, and under the sanitizers."""
from __future__ import annotations

import numpy as np
import pytest

from tests import models
from tests.train.conftest import digits_for, train_lockstep
from tiny.passes.sparse_update import plan_training, trace
from tiny.pipeline import load_model
from tiny.train.api import compile_train
from tiny.train.config import load_config
from tiny.train.layers import trainable_layers, updates_for

CONV0, MAX2, CONV2, MAX3, CONV4, AVG, FC = 0, 1, 2, 3, 4, 5, 7


@pytest.fixture(scope="module")
def graph():
    return load_model(str(models.pooling_cnn()))


@pytest.fixture(scope="module")
def data(graph):
    return digits_for(graph)


def test_plan_saves_max_pool_inputs(graph) -> None:
    ops = [op.type for op in graph.ops]
    assert ops[MAX2] == ops[MAX3] == "MAX_POOL_2D" and ops[AVG] == "AVERAGE_POOL_2D"
    assert graph.ops[AVG].attrs["activation"] == "RELU6"
    plan = plan_training(graph, updates_for(graph, 5, {}))       # every bias, down to the first conv
    kinds = {s.op: s for s in plan.steps}
    # a max pool's backward finds each window's max again: its int8 input is saved, and the ReLU
    # mask of the conv below is read from that copy instead of a bit mask of its own
    for mp, conv in ((MAX2, CONV0), (MAX3, CONV2)):
        cap = plan.captures[kinds[mp].x_saved]
        assert (cap.kind, cap.tensor, cap.op) == ("copy", graph.ops[mp].inputs[0], conv)
        assert cap.nbytes == graph.tensors[cap.tensor].size
        assert kinds[conv].mask == kinds[mp].x_saved
        assert kinds[mp].mask is None            # no fused activation: nothing clamps
    # the average pool's fused ReLU6 clamps: a bit mask of its output; it needs no input
    avg = kinds[AVG]
    assert avg.x_saved is None and plan.captures[avg.mask].kind == "mask"
    assert plan.captures[avg.mask].nbytes == (graph.tensors[graph.ops[AVG].outputs[0]].size + 7) // 8
    assert [ln.split()[0] for ln in trace(plan)] == ["ce", "fc", "copy", "avgpool", "conv", "maxpool", "conv",
                                                     "maxpool", "conv"]
    # the classifier alone: nothing below it is planned, no pool input kept
    head = plan_training(graph, updates_for(graph, 1, {FC: 1.0}))
    assert {s.kind for s in head.steps} == {"ce", "fc"}


@pytest.mark.parametrize("board,momentum,shadow", [
    ("host", 0.0, False),
    ("host", 0.9, True),
    pytest.param("qemu-m4-256k", 0.9, False, marks=pytest.mark.qemu),
    pytest.param("qemu-m3", 0.0, False, marks=pytest.mark.qemu)])
def test_training_through_pools_bit_exact(graph, data, board: str, momentum: float, shadow: bool) -> None:
    cfg = load_config("full", lr=0.02, momentum=momentum, shadow=shadow)
    tc = compile_train(graph, board, cfg)
    assert {"maxpool", "avgpool"} <= {s.kind for s in tc.train_plan.steps}
    xtr, ytr, _, _ = data
    _, oracle = train_lockstep(tc, board, xtr, ytr, 20)
    # the first conv (below both max pools and the average pool) learned: gradients came through
    f0 = tc.graph.tensors[tc.graph.ops[CONV0].inputs[1]].data
    assert (oracle.params[CONV0]["filter"] != f0).any()


def test_pools_sanitized(graph, data, tmp_path) -> None:
    """The pool backward's window clipping at every edge and its reads of the saved input, under
    AddressSanitizer + UBSan on the host."""
    from tests.device.test_sanitizers import sanitized_lockstep
    cfg = load_config("sparse", search=False, lr=0.05)
    cfg.bias_last, cfg.weights = 5, {f"#{trainable_layers(graph)[-1]}": 1.0, f"#{CONV0}": 0.5}
    tc = compile_train(graph, "host", cfg)
    xtr, ytr, _, _ = data
    sanitized_lockstep(tc, xtr, ytr, 6, tmp_path)
