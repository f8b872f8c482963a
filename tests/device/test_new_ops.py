"""Models using the ops real converted models need (float I/O through QUANTIZE / DEQUANTIZE,
TRANSPOSE, one-axis MEAN, SUM, REDUCE_MAX, RESIZE_*, several inputs and outputs), end to end:
generated C on the board vs TFLM vs the numpy reference, every output of every sample."""
from __future__ import annotations

import numpy as np
import pytest

from tests import models
from tiny.analysis import np_dtype
from tiny.compare import validate
from tiny.pipeline import load_model
from tiny.workflow import compile_for, open_session


def _check(g, board: str, schedule: str) -> None:
    c = compile_for(g, board, schedule)
    if schedule == "patch":
        assert c.schedule is not None and c.schedule.split >= 1, "expected a patch stage"
    with open_session(c, board) as s:
        res = validate(g, s, board, samples=2, readable=c.readable_ops)
    assert res.samples == 2 and res.bit_exact, res.as_json()


def test_zoo_several_inputs_and_outputs_on_host() -> None:
    g = load_model(models.shape_ops_zoo())
    assert len(g.inputs) == 2 and len(g.outputs) == 8
    assert all(g.tensors[t].dtype == "float32" for t in g.inputs + g.outputs)
    assert {"TRANSPOSE", "SUM", "REDUCE_MAX", "MEAN", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR",
            "BATCH_MATMUL", "SLICE", "STRIDED_SLICE"} <= \
        {op.type for op in g.ops}
    _check(g, "host", "layer")


def test_outputs_are_told_apart_on_host() -> None:
    """Each output index returns its own tensor: the device's outputs equal TFLM's in order, and
    differ from one another (a swapped or repeated output would fail)."""
    from tiny import oracle
    g = load_model(models.fpn_detector())
    c = compile_for(g, "host")
    rng = np.random.default_rng(5)
    x = rng.integers(-128, 128, g.tensors[g.inputs[0]].shape, dtype=np.int64).astype(np.int8)
    want = oracle.run(g, [x])
    with open_session(c, "host") as s:
        outs = s.run([x])
    assert len(outs) == 4
    for tid, raw, w in zip(g.outputs, outs, want):
        t = g.tensors[tid]
        np.testing.assert_array_equal(np.frombuffer(raw, dtype=np_dtype(t.dtype)).reshape(t.shape), w)
    # the converter orders the outputs its own way
    assert sorted(w.shape for w in want) == [(1, 6, 6, 1), (1, 12, 12, 2), (1, 12, 12, 3), (1, 12, 12, 4)]
    assert "TRANSPOSE_CONV" in {op.type for op in g.ops}


def test_elementwise_zoo_on_host() -> None:
    g = load_model(models.elementwise_zoo())
    assert {"SUB", "MAXIMUM", "MINIMUM", "RELU", "RELU6", "LEAKY_RELU", "PRELU", "TANH"} <= {op.type for op in g.ops}
    assert len(g.inputs) == 2 and len(g.outputs) == 8
    _check(g, "host", "layer")


def test_split_zoo_on_host() -> None:
    """SPLIT, SPLIT_V, UNPACK (several outputs each, some consumed, some model outputs) and PACK of
    activations, bit-exact with TFLM on every tensor and every output."""
    g = load_model(models.split_zoo())
    assert {"SPLIT", "SPLIT_V", "UNPACK", "PACK"} <= {op.type for op in g.ops}
    assert len(g.outputs) == 6
    _check(g, "host", "layer")


def _svdf_sequence(board: str) -> None:
    """Eight invocations on one board session, the SVDF states carried between them and reset
    (RESET_STATE) before step 5, which repeats step 0: every output and both states after every step
    equal TFLM's (one interpreter invoked in the same order) and the numpy reference's. validate()
    then resets before each of its samples."""
    from tiny import oracle
    from tiny.interpreter import run_sequence
    g = load_model(models.svdf_kws())
    assert [op.type for op in g.ops] == ["SVDF", "SVDF", "FULLY_CONNECTED"]
    c = compile_for(g, board, "layer")
    rng = np.random.default_rng(9)
    steps = [[rng.integers(-128, 128, g.tensors[g.inputs[0]].shape).astype(np.int8)] for _ in range(8)]
    steps[5] = steps[0]
    want, ref = oracle.run_sequence(g, steps, {5}), run_sequence(g, steps, {5})
    with open_session(c, board) as s:
        for k, xs in enumerate(steps):
            if k == 5:
                s.reset_state()
            outs = s.run(xs)
            for tid, raw in zip(g.outputs, outs):
                t = g.tensors[tid]
                got = np.frombuffer(raw, dtype=np_dtype(t.dtype)).reshape(t.shape)
                np.testing.assert_array_equal(got, want[k][tid], err_msg=f"step {k} output {t.name}")
                np.testing.assert_array_equal(ref[k][tid], want[k][tid])
            for tid in g.variables():
                t = g.tensors[tid]
                got = np.frombuffer(s.read_tensor(tid, t.nbytes), dtype=np.int16).reshape(t.shape)
                np.testing.assert_array_equal(got, want[k][tid], err_msg=f"step {k} state {t.name}")
        np.testing.assert_array_equal(want[5][g.outputs[1]], want[0][g.outputs[1]])
        res = validate(g, s, board, samples=2, readable=c.readable_ops)
    assert res.samples == 2 and res.bit_exact, res.as_json()


def test_svdf_state_sequence_on_host() -> None:
    _svdf_sequence("host")


@pytest.mark.qemu
@pytest.mark.slow
def test_svdf_state_sequence_on_qemu() -> None:
    _svdf_sequence("qemu-m4-256k")


@pytest.mark.parametrize("name", ["pytorch_style", "fpn_detector"])
def test_patch_schedule_on_host(name: str) -> None:
    _check(load_model(getattr(models, name)()), "host", "patch")


@pytest.mark.qemu
def test_pytorch_style_patch_on_qemu() -> None:
    """Float input through QUANTIZE inside a patch stage, TRANSPOSE, one-axis MEANs, REDUCE_MAX and
    two float outputs, on the Cortex-M4 board."""
    _check(load_model(models.pytorch_style()), "qemu-m4-256k", "patch")


@pytest.mark.qemu
@pytest.mark.slow
@pytest.mark.parametrize("name,schedule", [("fpn_detector", "patch"), ("fpn_detector", "layer"),
                                           ("shape_ops_zoo", "layer"), ("pytorch_style", "layer"),
                                           ("elementwise_zoo", "layer"), ("split_zoo", "layer")])
def test_models_on_qemu(name: str, schedule: str) -> None:
    _check(load_model(getattr(models, name)()), "qemu-m4-256k", schedule)


def _forced_stage(g, board: str, split: int):
    """Compile with ops #0..#split-1 in a 3x3 patch stage (not the searched schedule)."""
    from tiny.emit.model import compile_graph
    from tiny.interpreter import kernel_for, prepare_all
    from tiny.passes.patch import build_schedule
    from tiny.passes.patch_geometry import Grid, split_even
    from tiny.target import Target
    base = [int(kernel_for(op).scratch_bytes(p)) for op, p in zip(g.ops, prepare_all(g))]
    _, h, w, _ = g.tensors[g.ops[split - 1].outputs[0]].shape
    return compile_graph(g, Target(board=board), schedule=build_schedule(g, split, Grid(split_even(h, 3),
                                                                                     split_even(w, 3)), base))


@pytest.mark.parametrize("board", ["host", pytest.param("qemu-m4-256k", marks=[pytest.mark.qemu, pytest.mark.slow])])
def test_activations_inside_a_patch_stage(board: str) -> None:
    """LEAKY_RELU, TANH (its LUT variant on the DSP board) and MAXIMUM run patch by patch inside the
    stage, bit-exact with TFLM."""
    g = load_model(models.activation_stack())
    split = [op.type for op in g.ops].index("MEAN")
    assert {"LEAKY_RELU", "TANH", "MAXIMUM"} <= {op.type for op in g.ops[:split]}
    c = _forced_stage(g, board, split)
    assert c.schedule.split == split
    with open_session(c, board) as s:
        res = validate(g, s, board, samples=2, readable=c.readable_ops)
    assert res.bit_exact, res.as_json()
