"""Training through the ops that only move data: a PyTorch CNN's explicit PAD before a stride-2 layer
and its flatten (TRANSPOSE to NCHW, then RESHAPE) before its Linear layer, in a float32-I/O export
(tests/models.py `pytorch_flatten`); MEAN over one axis at a time (`pytorch_style`); CONCATENATION
of two branches and their input, and of one tensor with itself (`concat_cnn`). Checked: every layer trains (none
stays frozen), the oracle's gradients against TF autodiff, and the C runtime bit-exact with the
oracle on the host and on qemu."""
from __future__ import annotations

import numpy as np
import pytest

from tests import models
from tests.train.conftest import digits_for, train_lockstep
from tiny.pipeline import load_model
from tiny.train.api import compile_train, training_plan
from tiny.train.config import load_config
from tiny.train.layers import frozen_by_ops, trainable_layers


@pytest.fixture(scope="module")
def graph():
    return load_model(str(models.pytorch_flatten()))


@pytest.fixture(scope="module")
def data(graph):
    from tiny.train import data as tdata
    dom, xtr, ytr, xte, yte = tdata.model_data(graph, "digits-transfer", warn=None)
    assert dom.quantize_op == 0 and xtr.dtype == np.float32
    return xtr, ytr


def test_every_layer_trains_through_the_pad_and_the_transpose(graph) -> None:
    types = [op.type for op in graph.ops]
    assert types == ["QUANTIZE", "CONV_2D", "PAD", "DEPTHWISE_CONV_2D", "TRANSPOSE", "RESHAPE", "FULLY_CONNECTED",
                     "DEQUANTIZE"]
    assert trainable_layers(graph) == [1, 3, 6] and frozen_by_ops(graph) == {}
    plan = training_plan(graph, load_config("full"))
    assert [s.kind for s in plan.steps] == ["ce", "fc", "copy", "transpose", "dw", "pad", "conv"]


def test_gradients_through_the_transpose_match_tf(graph, data) -> None:
    from tests.train.test_gradcheck import _check
    from tiny.reference.train import TrainOracle
    xtr, ytr = data
    _check(TrainOracle(training_plan(graph, load_config("full")), lr=0.0), xtr, ytr)


@pytest.mark.parametrize("board", ["host", pytest.param("qemu-m4-256k", marks=pytest.mark.qemu)])
def test_training_through_the_transpose_bit_exact(graph, data, board: str) -> None:
    tc = compile_train(graph, board, load_config("full", lr=0.02))
    xtr, ytr = data
    _, oracle = train_lockstep(tc, board, xtr, ytr, 20)
    w0 = tc.graph.tensors[tc.graph.ops[1].inputs[1]].data
    assert (oracle.params[1]["filter"] != w0).any()          # the first conv learned, below the PAD


@pytest.mark.parametrize("board", ["host", pytest.param("qemu-m4-256k", marks=pytest.mark.qemu)])
def test_mean_one_axis_at_a_time(board: str) -> None:
    """The MCUNet-family export pattern (tests/models.py `pytorch_style`): TRANSPOSE to NCHW, then MEAN
    over W and then H (rank 4 -> 3 -> 2): gradients against TF, training bit-exact with the oracle."""
    from tests.train.test_gradcheck import _check
    from tiny.reference.train import TrainOracle
    from tiny.train import data as tdata
    from tiny.input_domain import model_input_domain
    g = load_model(str(models.pytorch_style()))
    dom = model_input_domain(g)
    xq, ytr, _, _ = tdata.load("digits-transfer", g.tensors[g.inputs[0]].shape, dom.scale, dom.zero_point, 10,
                               domain=dom, warn=None)
    xtr, ytr = dom.model_values(xq), ytr % 6     # its 6-class head
    if board == "host":
        _check(TrainOracle(training_plan(g, load_config("full")), lr=0.0), xtr, ytr)
    tc = compile_train(g, board, load_config("full", lr=0.02))
    assert [s.kind for s in tc.train_plan.steps].count("mean") == 2
    _, oracle = train_lockstep(tc, board, xtr, ytr, 15)
    assert (oracle.params[1]["filter"] != tc.graph.tensors[tc.graph.ops[1].inputs[1]].data).any()


@pytest.mark.parametrize("board", ["host", pytest.param("qemu-m4-256k", marks=pytest.mark.qemu)])
def test_concatenation(board: str) -> None:
    from tests.train.test_gradcheck import _check
    from tiny.reference.train import TrainOracle
    g = load_model(str(models.concat_cnn()))
    assert [op.type for op in g.ops].count("CONCATENATION") == 2 and g.ops[4].inputs[0] == g.ops[4].inputs[1]
    assert trainable_layers(g) == [0, 1, 2, 5, 7] and frozen_by_ops(g) == {}
    xtr, ytr, _, _ = digits_for(g)
    plan = training_plan(g, load_config("full"))
    cat = [s for s in plan.steps if s.kind == "concat"]
    assert [len(s.ins) for s in cat] == [2, 3] and cat[0].in_first == [True, False]   # one tensor, both slots
    assert cat[1].in_first == [True] * 3 and cat[1].ins[2] == g.ops[0].outputs[0]   # three inputs, the third the
    # stem's output, which the branches' steps add to afterwards
    if board == "host":
        _check(TrainOracle(plan, lr=0.0), xtr, ytr)
    tc = compile_train(g, board, load_config("full", lr=0.02, momentum=0.9))
    _, oracle = train_lockstep(tc, board, xtr, ytr, 15)
    for i in (1, 2):        # both branches below the concatenations learned
        assert (oracle.params[i]["filter"] != tc.graph.tensors[tc.graph.ops[i].inputs[1]].data).any()
