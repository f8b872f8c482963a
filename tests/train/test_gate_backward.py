"""Training through gates and element-wise products (tests/models.py `se_cnn`): squeeze-excite blocks
with a sigmoid gate (LOGISTIC, then MUL of [1,H,W,C] by [1,1,1,C]) and with MobileNetV3's
hard-sigmoid gate (MUL by a constant), a TANH, a broadcast ADD of two activations, a product of one
tensor with itself and a standalone RELU. Checked: every layer trains, the oracle's gradients against
TF autodiff, and the C runtime bit-exact with the oracle on the host and on qemu."""
from __future__ import annotations

import pytest

from tests import models
from tests.train.conftest import digits_for, train_lockstep
from tiny.pipeline import load_model
from tiny.train.api import compile_train, training_plan
from tiny.train.config import load_config
from tiny.train.layers import frozen_by_ops, trainable_layers


@pytest.fixture(scope="module")
def graph():
    return load_model(str(models.se_cnn()))


def test_every_layer_trains_through_the_gates(graph) -> None:
    types = [op.type for op in graph.ops]
    assert {"LOGISTIC", "TANH", "RELU"} <= set(types) and types.count("MUL") == 4
    assert trainable_layers(graph) == [0, 2, 3, 6, 8, 9, 12, 18, 21] and frozen_by_ops(graph) == {}
    plan = training_plan(graph, load_config("full"))
    kinds = [s.kind for s in plan.steps]
    assert kinds.count("mul") == 4 and {"logistic", "tanh", "add", "copy"} <= set(kinds)
    square = next(s for s in plan.steps if s.kind == "mul" and graph.ops[s.op].inputs[0] == graph.ops[s.op].inputs[1])
    assert square.ins == [square.ins[0]] * 2 and square.in_first == [False, False]   # x * x: both slots, after
    # the ADD of x + x * x gave x its first contribution


def test_gradients_through_the_gates_match_tf(graph) -> None:
    from tests.train.test_gradcheck import _check
    from tiny.reference.train import TrainOracle
    xtr, ytr, _, _ = digits_for(graph)
    _check(TrainOracle(training_plan(graph, load_config("full")), lr=0.0), xtr, ytr)


@pytest.mark.parametrize("board", ["host", pytest.param("qemu-m4-256k", marks=pytest.mark.qemu)])
def test_training_through_the_gates_bit_exact(graph, board: str) -> None:
    tc = compile_train(graph, board, load_config("full", lr=0.02, momentum=0.9))
    xtr, ytr, _, _ = digits_for(graph)
    _, oracle = train_lockstep(tc, board, xtr, ytr, 15)
    for i in (0, 2, 3):      # the stem and the sigmoid gate's convs, below every gate, learned
        assert (oracle.params[i]["filter"] != tc.graph.tensors[tc.graph.ops[i].inputs[1]].data).any()
