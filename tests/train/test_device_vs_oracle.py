"""The board's int8 weights after N SGD steps are identical to the numpy oracle's (host and QEMU),
and a run whose QEMU is killed mid-way resumes from its checkpoint to the same weights."""
from __future__ import annotations

import pytest

from tests.train.conftest import assert_same_as_oracle, train_lockstep
from tiny.train.api import compile_train, oracle_for
from tiny.train.config import load_config
from tiny.train.run import run_training, sample_index
from tiny.train.schedule import lrs


def _run(g, data, board: str, recipe: str, n: int, momentum: float = 0.0, qas: bool = True, lr: float = 0.05,
         shadow: bool = False):
    xtr, ytr, _, _ = data
    tc = compile_train(g, board, load_config(recipe, momentum=momentum, qas=qas, lr=lr, shadow=shadow))
    ck, oracle = train_lockstep(tc, board, xtr, ytr, n)
    return tc, ck, oracle


def test_host_sparse_momentum_100_steps_identical(base_graph, transfer_data) -> None:
    tc, ck, oracle = _run(base_graph, transfer_data, "host", "sparse", 100, momentum=0.9)
    # the run really changed weights (not a trivially equal pair of untouched tensors)
    orig = {u.op: base_graph.tensors[base_graph.ops[u.op].inputs[1]].data for u in tc.train_plan.updates
            if u.weight_channels}
    assert any((oracle.params[op]["filter"] != w).any() for op, w in orig.items())


@pytest.mark.parametrize("recipe,qas", [("bias", True), ("full", True), ("sparse", False)])
def test_host_other_recipes_identical(base_graph, transfer_data, recipe: str, qas: bool) -> None:
    _run(base_graph, transfer_data, "host", recipe, 30, qas=qas, lr=0.05 if qas else 1000.0)


def _shadow_moved(tc, oracle) -> None:
    """The weight shadow is checkpointed and carries fractions (not a pair of untouched zero arrays)."""
    names = [n for n in tc.param_names if n.endswith(".wf")]
    assert names and sorted(names) == sorted(f"{op}.wf" for op in oracle.frac)
    assert all((f != 0).any() for f in oracle.frac.values())


def test_host_full_with_weight_shadow_identical(base_graph, transfer_data) -> None:
    """conv, depthwise and FC weights on the shadow (portable backward kernels), with momentum."""
    tc, _, oracle = _run(base_graph, transfer_data, "host", "full", 30, momentum=0.9, lr=0.005, shadow=True)
    _shadow_moved(tc, oracle)
    assert tc.train_memory["shadow_bytes"] == sum(len(f) for f in oracle.frac.values())


@pytest.mark.qemu
def test_qemu_m4_sparse_with_weight_shadow_identical(base_graph, transfer_data) -> None:
    """The same on the optimized (DSP/FPU) backward kernels of a Cortex-M4."""
    tc, _, oracle = _run(base_graph, transfer_data, "qemu-m4-256k", "sparse", 40, shadow=True, lr=0.03)
    _shadow_moved(tc, oracle)


@pytest.mark.qemu
@pytest.mark.parametrize("board", ["qemu-m4-256k", "qemu-f746"])
def test_qemu_weight_shadow_with_momentum_identical(base_graph, transfer_data, board: str) -> None:
    """The shadow step with momentum (the head recipe's default) in the Cortex-M4/M7 assembly."""
    tc, _, oracle = _run(base_graph, transfer_data, board, "sparse", 30, momentum=0.9, shadow=True, lr=0.03)
    _shadow_moved(tc, oracle)


@pytest.mark.qemu
def test_qemu_m4_sparse_identical(base_graph, transfer_data) -> None:
    _run(base_graph, transfer_data, "qemu-m4-256k", "sparse", 100, momentum=0.9)


@pytest.mark.qemu
def test_resume_after_qemu_is_killed(base_graph, transfer_data) -> None:
    killed = []

    def kill(step: int, sess) -> None:
        if step == 24 and not killed:
            killed.append(step)
            sess.transport.qemu.proc.kill()   # the board dies mid-run
    logs: list[str] = []
    # (lr 0.04: a firmware of its own, so parallel tests never build the same project at once)
    res = run_training(None, "qemu-m4-256k", "sparse", steps=40, lr=0.04, momentum=0.9, checkpoint_every=10,
                       eval_samples=4, on_step=kill, log=logs.append, early_stop=False, float_reference=False,
                       search=False)
    assert killed and res.data["resumes"] == 1 and any("resuming from the checkpoint at step 20" in m for m in logs)
    # an uninterrupted oracle run over the same samples ends with the same weights
    xtr, ytr, _, _ = transfer_data
    tc = compile_train(base_graph, "qemu-m4-256k", load_config("sparse", lr=0.04, momentum=0.9))
    oracle = oracle_for(tc)
    rates = lrs(40, 0.04)     # the run's warm-up + cosine schedule, one rate per step
    assert rates[0] < rates[2] > rates[-1]
    for step in range(40):
        i = sample_index(step, len(xtr))
        oracle.step(xtr[i:i + 1], int(ytr[i]), lr=rates[step])
    assert res.checkpoint.steps == 40
    assert_same_as_oracle(tc, res.checkpoint, oracle)
