"""Shared pieces of the training tests: the digits-transfer base model and its data."""
from __future__ import annotations

import numpy as np
import pytest

from tiny.pipeline import load_model
from tiny.train import data as tdata


@pytest.fixture(scope="session")
def base_graph():
    return load_model(tdata.base_model())


@pytest.fixture(scope="session")
def transfer_data(base_graph):
    return digits_for(base_graph)


def digits_for(g) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """digits-transfer's target split in the int8 input of model `g` (10 classes)."""
    t = g.tensors[g.inputs[0]]
    return tdata.load("digits-transfer", t.shape, t.quant.s(), t.quant.zp(), 10)


def twin_and_int8_logits(g, x: np.ndarray, int8_activations: bool = False) -> tuple[np.ndarray, np.ndarray, float]:
    """(float twin's logits, the int8 reference's logits as real values, the logits' scale) on int8
    inputs x (tiny.train.float_ref.FloatTwin against tiny.interpreter.run_graph)."""
    from tiny.interpreter import prepare_all, run_graph
    from tiny.train.float_ref import FloatTwin, dequantize_inputs
    from tiny.train.layers import logits_tensor
    lg = logits_tensor(g)
    t_in, t_lg = g.tensors[g.inputs[0]], g.tensors[lg]
    tw = FloatTwin(g, lg, int8_activations=int8_activations)
    f = tw._fwd(tw.tf.constant(dequantize_inputs(x, t_in.quant.s(), t_in.quant.zp()))).numpy()
    params = prepare_all(g)
    q = np.stack([run_graph(g, [x[i:i + 1]], params)[lg].reshape(-1) for i in range(len(x))])
    return f, t_lg.quant.s() * (q.astype(np.float32) - t_lg.quant.zp()), float(t_lg.quant.s())


def device_tensors(tc, ck) -> dict[str, np.ndarray]:
    """Checkpoint blobs by parameter name, typed like the oracle's arrays."""
    out = {}
    for name, blob in zip(tc.param_names, ck.params):
        role = name.split(".")[1]
        dt = {"w": np.int8, "b": np.int32, "m": np.int32, "e": np.int32, "mw": np.float32, "mb": np.float32,
              "ms": np.float32, "wf": np.int8}[role]
        out[name] = np.frombuffer(blob, dtype=dt)
    return out


def assert_same_as_oracle(tc, ck, oracle) -> None:
    dev = device_tensors(tc, ck)
    for name, ref in oracle.tensors().items():
        assert np.array_equal(dev[name], ref.reshape(-1)), f"{name}: {np.sum(dev[name] != ref.reshape(-1))} differ"
    for (op, role), ref in oracle.mom.items():
        got = dev[f"{op}.m{role}"]
        assert np.array_equal(got.view(np.uint32), np.ascontiguousarray(ref).reshape(-1).view(np.uint32)), \
            f"momentum {op}.{role} differs"


def train_lockstep(tc, board: str, xtr, ytr, n: int, exact_p: bool = True):
    """n TRAIN_STEPs on the board and the oracle side by side (each step's prediction and, with
    exact_p, its label probability must agree), then the board's checkpoint equals the oracle's
    state. Returns (checkpoint, oracle)."""
    from tiny.train.api import oracle_for
    from tiny.train.device import TrainDevice
    from tiny.workflow import open_session
    oracle = oracle_for(tc)
    with open_session(tc, board) as s:
        dev = TrainDevice(s, len(tc.param_names))
        for i in range(n):
            r = dev.step(xtr[i:i + 1], int(ytr[i]), i)
            ro = oracle.step(xtr[i:i + 1], int(ytr[i]))
            assert r["pred"] == ro["pred"] and (not exact_p or r["p_label"] == ro["p_label"]), i
        ck = dev.checkpoint()
    assert ck.steps == n
    assert_same_as_oracle(tc, ck, oracle)
    return ck, oracle


def gradients_match_tf(g) -> None:
    """The oracle's gradients for the full recipe on model g against TF autodiff (test_gradcheck)."""
    from tests.train.test_gradcheck import _check
    from tiny.reference.train import TrainOracle
    from tiny.train.api import training_plan
    from tiny.train.config import load_config
    xtr, ytr, _, _ = digits_for(g)
    _check(TrainOracle(training_plan(g, load_config("full")), lr=0.0), xtr, ytr)


def full_training_learns_bit_exact(g, board: str, below: tuple[int, ...], steps: int = 15) -> None:
    """Full training with momentum on `board` in lockstep with the oracle (bit-exact), and the layers
    `below` (under the ops the test is about) changed their weights."""
    from tiny.train.api import compile_train
    from tiny.train.config import load_config
    tc = compile_train(g, board, load_config("full", lr=0.02, momentum=0.9))
    xtr, ytr, _, _ = digits_for(g)
    _, oracle = train_lockstep(tc, board, xtr, ytr, steps)
    for i in below:
        assert (oracle.params[i]["filter"] != tc.graph.tensors[tc.graph.ops[i].inputs[1]].data).any(), i
