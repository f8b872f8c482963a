"""SVDF (int8, int16 state): tiny's numpy reference against TFLM over several consecutive
invocations of one interpreter (the state carries from one to the next) and a reset in between,
every tensor of every step, the states included. The model is written with the schema's object API
(tests/models.py::build_svdf_model): the converter emits SVDF from no Keras / TF pattern."""
from __future__ import annotations

import numpy as np
import pytest

from tests.models import build_svdf_model
from tiny import oracle
from tiny.frontend.tflite import load_bytes
from tiny.interpreter import run_sequence
from tiny.ir import IRError
from tiny.ops import opdef


def _steps(g, n: int, seed: int) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    shape = g.tensors[g.inputs[0]].shape
    return [[rng.integers(-128, 128, shape).astype(np.int8)] for _ in range(n)]


@pytest.mark.parametrize("seed,input_zp", [(26, -3), (7, 40)])
def test_sequence_with_reset_matches_tflm(seed: int, input_zp: int) -> None:
    g = load_bytes(build_svdf_model(seed=seed, input_zp=input_zp), name=f"svdf{seed}")
    assert [op.type for op in g.ops] == ["SVDF", "SVDF", "FULLY_CONNECTED"] and len(g.variables()) == 2
    steps = _steps(g, 9, seed)
    steps[6] = steps[0]                       # after the reset at 6 the model sees step 0 again
    theirs = oracle.run_sequence(g, steps, resets={6})
    ours = run_sequence(g, steps, resets={6})
    for k, (a, b) in enumerate(zip(ours, theirs)):
        for tid, want in b.items():
            assert a[tid].dtype == want.dtype and np.array_equal(a[tid], want), \
                f"step {k}: tensor '{g.tensors[tid].name}' differs: tiny {a[tid].ravel()[:8]} TFLM {want.ravel()[:8]}"
    st = g.variables()[0]
    # the state evolves (the test would be blind to it otherwise) and the reset restarts it
    assert not np.array_equal(theirs[2][st], theirs[3][st])
    assert len({theirs[k][g.outputs[1]].tobytes() for k in range(6)}) > 1
    for tid in theirs[0]:
        np.testing.assert_array_equal(theirs[6][tid], theirs[0][tid])
    # one invocation without state given starts from the reset state
    from tiny.interpreter import run_graph
    one = run_graph(g, steps[0])
    np.testing.assert_array_equal(one[g.outputs[1]], theirs[0][g.outputs[1]])


def test_svdf_refuses_a_non_variable_state() -> None:
    g = load_bytes(build_svdf_model(), name="svdf")
    op = g.ops[0]
    g.tensors[op.inputs[4]].variable = False
    with pytest.raises(IRError, match=r"op #0 SVDF \(output 'svdf1/out'\): state 'svdf1/state' is not a variable"):
        opdef(op).prepare(g, op)
