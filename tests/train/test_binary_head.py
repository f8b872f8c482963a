"""A binary classifier as users write it, Dense(1, activation="sigmoid"): the loss is binary
cross-entropy on the one logit (its LOGISTIC is the model's output, not a layer that trains), the
class is "logit > 0", labels are 0 / 1, and the head is kept: replacing it with a 2-class head (what
tiny did) changed the model's output for the user's firmware and trained nothing (a softmax over
one logit has no gradient). Oracles: TF autodiff for the gradients, the numpy oracle bit for bit on
the board, TFLite Micro for the written model."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests import models
from tests.train.conftest import train_lockstep
from tiny.pipeline import load_model
from tiny.train.api import compile_train
from tiny.train.config import load_config
from tiny.train.layers import label_count, logits_tensor, predicted_class


def _data(g, n: int):
    from tiny.input_domain import model_input_domain, quantize_input
    xa, ya = models.user_shapes(n, "b", 9)
    dom = model_input_domain(g)
    return dom.model_values(quantize_input(xa, dom, warn=None)), (ya == 0).astype(np.int64)


def test_the_logits_are_before_the_sigmoid() -> None:
    g = load_model(models.user_binary_cnn())
    t = logits_tensor(g)
    assert g.tensors[t].size == 1 and g.consumers(t)[0].type == "LOGISTIC" and label_count(g) == 2
    assert predicted_class(np.array([3]), 2) == 1 and predicted_class(np.array([2]), 2) == 0


def test_oracle_gradients_match_tf() -> None:
    from tests.train.test_gradcheck import _check
    from tiny.reference.train import TrainOracle
    from tiny.train.api import training_plan
    g = load_model(models.user_binary_cnn())
    x, y = _data(g, 3)
    y[:] = [1, 0, 1]
    _check(TrainOracle(training_plan(g, load_config("full")), lr=0.0), x, y)


@pytest.mark.parametrize("board", ["host", pytest.param("qemu-m4-256k", marks=pytest.mark.qemu)])
def test_board_is_the_oracle_bit_for_bit(board: str) -> None:
    """Full fine-tune with momentum and the weight shadow, both labels: each step's prediction and
    label probability, then every parameter, equal the oracle's."""
    from tiny.train.headroom import trained_weight_channels, with_headroom
    from tiny.train.api import training_plan
    g = load_model(models.user_binary_cnn())
    cfg = load_config("sparse", momentum=0.9, lr=0.05, shadow=True)
    g = with_headroom(g, trained_weight_channels(training_plan(g, cfg)), 4.0, 2.0)
    lt = g.tensors[logits_tensor(g)]
    assert lt.quant.zp() == 0        # the one logit centred on the decision at 0
    x, y = _data(g, 40)
    assert 0 < y[:40].sum() < 40
    tc = compile_train(g, board, cfg)
    _, oracle = train_lockstep(tc, board, x, y, 40)
    moved = [u.op for u in tc.train_plan.updates if u.weight_channels]
    assert any((oracle.params[op]["filter"] != g.tensors[g.ops[op].inputs[1]].data.reshape(
        oracle.params[op]["filter"].shape)).any() for op in moved)


def test_a_users_binary_model_learns_and_keeps_its_head(tmp_path) -> None:
    """`tiny train` with defaults on an .npz of x and y (0 / 1): the board learns as its float twin on
    the int8 activation grid does, the written model still has one sigmoid output, and it validates
    bit-exact against TFLite Micro (its logit's new zero point included)."""
    m = models.user_binary_cnn()
    data = models.user_binary_task(tmp_path / "disc.npz", n=600)
    r = subprocess.run([sys.executable, "-m", "tiny.cli", "train", str(m), "--board", "host", "--data", str(data),
                        "--json", "-o", str(tmp_path / "out")], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    assert "new head" not in r.stderr
    d = json.loads(r.stdout)
    assert d["accuracy_after"] >= d["accuracy_before"] + 0.08, d
    assert d["accuracy_after"] >= d["float_int8_activations_accuracy"] - 0.02, d
    assert "learning_note" not in d
    assert d["weight_headroom"]["binary_logit"]["zero_point"] == 0
    g1 = load_model(d["output"])
    out = g1.tensors[g1.outputs[0]]
    assert out.shape == (1, 1) and g1.producer(g1.outputs[0]).type == "LOGISTIC"
    assert g1.tensors[logits_tensor(g1)].quant.zp() == 0
    v = subprocess.run([sys.executable, "-m", "tiny.cli", "validate", d["output"], "--board", "host", "--data",
                        str(data), "--json"], capture_output=True, text=True, timeout=600)
    assert v.returncode == 0, v.stderr
    dv = json.loads(v.stdout)
    assert dv["bit_exact"] and dv["samples"] == 600


def test_chance_is_the_majority_class_when_unbalanced() -> None:
    from tiny.train.schedule import chance
    y_train = np.array([0] * 80 + [1] * 20)
    assert chance(np.array([0] * 8 + [1] * 2), y_train, 2) == 0.8
    assert chance(np.array([0, 1, 2, 3]), np.array([0, 1, 2, 3, 3]), 4) == 0.25   # balanced: 1 / classes
