"""Training through gates and element-wise products (tests/models.py `se_cnn`): squeeze-excite blocks
with a sigmoid gate (LOGISTIC, then MUL of [1,H,W,C] by [1,1,1,C]) and with MobileNetV3's
hard-sigmoid gate (MUL by a constant), a TANH, a broadcast ADD of two activations, a product of one
tensor with itself, a LEAKY_RELU and a standalone RELU. Checked: every layer trains, the oracle's gradients against
TF autodiff, and the C runtime bit-exact with the oracle on the host and on qemu."""
from __future__ import annotations

import pytest

from tests import models
from tests.train.conftest import digits_for, full_training_learns_bit_exact, gradients_match_tf, train_lockstep
from tiny.pipeline import load_model
from tiny.train.api import compile_train, training_plan
from tiny.train.config import load_config
from tiny.train.layers import frozen_by_ops, trainable_layers


@pytest.fixture(scope="module")
def graph():
    return load_model(str(models.se_cnn()))


def test_every_layer_trains_through_the_gates(graph) -> None:
    types = [op.type for op in graph.ops]
    assert {"LOGISTIC", "TANH", "RELU", "LEAKY_RELU"} <= set(types) and types.count("MUL") == 4
    assert trainable_layers(graph) == [0, 2, 3, 6, 9, 10, 13, 19, 22] and frozen_by_ops(graph) == {}
    plan = training_plan(graph, load_config("full"))
    kinds = [s.kind for s in plan.steps]
    assert kinds.count("mul") == 4 and {"logistic", "tanh", "leaky", "add", "copy"} <= set(kinds)
    square = next(s for s in plan.steps if s.kind == "mul" and graph.ops[s.op].inputs[0] == graph.ops[s.op].inputs[1])
    assert square.ins == [square.ins[0]] * 2 and square.in_first == [False, False]   # x * x: both slots, after
    # the ADD of x + x * x gave x its first contribution


def test_gradients_through_the_gates_match_tf(graph) -> None:
    gradients_match_tf(graph)


@pytest.mark.parametrize("board", ["host", pytest.param("qemu-m4-256k", marks=pytest.mark.qemu)])
def test_training_through_the_gates_bit_exact(graph, board: str) -> None:
    # the stem and the sigmoid gate's convs, below every gate, learn
    full_training_learns_bit_exact(graph, board, (0, 2, 3))


def test_mobilenet_v3_small_trains_bit_exact() -> None:
    """MobileNetV3-Small (Keras, converted to int8): its squeeze-excite gates (hard-sigmoid: conv +
    ReLU6, MUL by 1/6, broadcast MUL) and hard-swish ops no longer stop the gradient: every layer is
    trainable, and training all of them on the host runtime is bit-exact with the oracle."""
    from tiny.train.layers import weight_layers
    g = load_model(str(models.mobilenet_v3_small()))
    assert trainable_layers(g) == weight_layers(g) and frozen_by_ops(g) == {}
    tc = compile_train(g, "host", load_config("full", lr=0.02))
    assert sum(s.kind == "mul" for s in tc.train_plan.steps) == 18
    xtr, ytr, _, _ = digits_for(g)
    _, oracle = train_lockstep(tc, "host", xtr, ytr, 2)
    # the gradient reaches the stem, below every gate (random weights: too small to move it in 2 steps)
    assert (oracle.last_grads[(0, "w")] != 0).any()
    assert (oracle.params[50]["filter"] != g.tensors[g.ops[50].inputs[1]].data).any()   # below 5 gates: learned


def test_float_twin_follows_the_int8_gates(graph) -> None:
    """The float twins (same-scheme and full fine-tune references) run the gates in TF: on the int8
    activation grid their logits follow the int8 reference's to a few quanta and agree on the class."""
    import numpy as np
    from tests.train.conftest import twin_and_int8_logits
    from tiny.train.float_ref import unsupported
    from tiny.train.layers import logits_tensor
    assert unsupported(graph, logits_tensor(graph)) is None
    _, _, xte, _ = digits_for(graph)
    f, real, s = twin_and_int8_logits(graph, xte[:64], int8_activations=True)
    assert np.abs(f - real).mean() < 2 * s
    assert np.mean(f.argmax(1) == real.argmax(1)) >= 0.9
