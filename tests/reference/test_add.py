"""ADD: tiny's numpy reference against TFLM on Keras-built int8 models.

Also hosts the two helpers the element-wise reference tests share: `keras_graph` (any number of
model inputs, representative data with a chosen range per input) and `check_ops` (each op of a
given type, fed TFLM's own input tensors, must reproduce TFLM's output tensor exactly)."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from tests.reference._tf_models import random_inputs, tf
from tiny.ir import Graph, TinyError
from tiny.oracle import run_all
from tiny.interpreter import kernel_for, run_graph
from tiny.ops import results


def keras_graph(build: Callable[..., Any], shapes: Sequence[tuple[int, ...]], ranges: Sequence[float] | None = None,
                seed: int = 0, n_rep: int = 16) -> Graph:
    """Keras model `build(*inputs)` -> int8 .tflite -> Graph. Representative data for input i is
    uniform in [-ranges[i], ranges[i]], which sets that input's quantization scale.

    Inputs are named in0, in1, ... and the samples are given by name: the converter orders a
    model's inputs its own way (g.inputs need not follow the Keras order)."""
    from tiny.frontend.keras import quantize
    from tiny.frontend.tflite import load_bytes
    k = tf().keras
    ins = [k.Input(s, batch_size=1, name=f"in{i}") for i, s in enumerate(shapes)]
    model = k.Model(ins, build(*ins))
    ranges = ranges or [1.0] * len(shapes)
    rng = np.random.default_rng(seed)
    reps = [{f"in{i}": rng.uniform(-r, r, (1, *s)).astype(np.float32) for i, (s, r) in enumerate(zip(shapes, ranges))}
            for _ in range(n_rep)]

    def rep() -> Any:
        yield from reps
    return load_bytes(quantize(model, rep), name=f"seed{seed}")


def check_ops(g: Graph, kinds: Sequence[str], xs: list[np.ndarray] | None = None, seed: int = 0,
              whole_graph: bool = False) -> dict[int, np.ndarray]:
    """Every op of a type in `kinds`, run on TFLM's values of its inputs, must equal TFLM's output.

    With whole_graph, tiny.interpreter.run_graph must also match TFLM on every tensor (for models made
    only of these ops). Returns TFLM's tensors."""
    xs = xs if xs is not None else random_inputs(g, seed)
    theirs = run_all(g, xs)
    checked = 0
    for op in g.ops:
        if op.type not in kinds:
            continue
        mod = kernel_for(op)
        p = mod.prepare(g, op)
        args = [None if t < 0 else (g.tensors[t].data if g.tensors[t].is_const else theirs[t]) for t in op.inputs]
        out = mod.run(p, args)
        if len(op.outputs) == 1:    # shape and dtype as returned, before results() reshapes them
            got = np.asarray(out)
            assert got.dtype == theirs[op.outputs[0]].dtype and got.shape == theirs[op.outputs[0]].shape, \
                (g.layer_label(op), got.shape, theirs[op.outputs[0]].shape)
        for tid, got in results(g, op, out).items():   # every output of a multi-output op (SPLIT)
            if tid not in op.outputs:
                continue        # a state input's new value: the caller compares state sequences
            want = theirs[tid]
            assert got.dtype == want.dtype and got.shape == want.shape, (g.layer_label(op), got.shape, want.shape)
            if not np.array_equal(got, want):
                bad = np.argwhere(got != want)
                raise AssertionError(f"{g.layer_label(op)} output '{g.tensors[tid].name}': {len(bad)}/{got.size} "
                                     f"differ; first at {tuple(bad[0])}: tiny {got[tuple(bad[0])]} vs TFLM "
                                     f"{want[tuple(bad[0])]}; params {p}")
        checked += 1
    assert checked, f"no {kinds} op in {[op.type for op in g.ops]}"
    if whole_graph:
        ours = run_graph(g, xs)
        for tid, want in theirs.items():
            assert np.array_equal(ours[tid], want), g.tensors[tid].name
    return theirs


def L() -> Any:
    return tf().keras.layers


@pytest.mark.parametrize("r1,r2", [(1.0, 1.0), (0.01, 5.0), (80.0, 0.3), (1e-3, 1e-3)])
def test_two_inputs_scales(r1: float, r2: float) -> None:
    g = keras_graph(lambda a, b: L().Add()([a, b]), [(5, 6, 7), (5, 6, 7)], [r1, r2], seed=int(r1 * 10))
    assert [op.type for op in g.ops] == ["ADD"]
    for seed in range(3):
        check_ops(g, ["ADD"], seed=seed, whole_graph=True)


@pytest.mark.parametrize("s1,s2", [((4, 4, 3), (1, 1, 3)), ((4, 4, 3), (3,)), ((6, 1, 5), (1, 4, 1)),
                                   ((2, 3, 4), (3, 1))])
def test_broadcasting(s1: tuple, s2: tuple) -> None:
    g = keras_graph(lambda a, b: a + b, [s1, s2], [2.0, 0.5], seed=len(s1) + len(s2))
    # Keras' batch dim makes (3,) a (1, 3) input; the converter may reshape it first.
    assert [op.type for op in g.ops][-1] == "ADD"
    check_ops(g, ["ADD"])


@pytest.mark.parametrize("act", [None, "relu", "relu6"])
def test_residual_with_fused_activation(act: str | None) -> None:
    def build(x: Any) -> Any:
        y = L().Add()([L().Conv2D(3, 1)(x), x])
        return y if act is None else L().Activation(act)(y)
    g = keras_graph(build, [(6, 6, 3)], [3.0], seed=3)
    add = [op for op in g.ops if op.type == "ADD"]
    assert len(add) == 1 and add[0].attrs["activation"] == (act or "none").upper()
    for seed in range(3):
        check_ops(g, ["ADD"], seed=seed)


def test_constant_operand() -> None:
    bias = np.linspace(-2.0, 3.0, 8).astype(np.float32)
    g = keras_graph(lambda a: a + bias, [(3, 3, 8)], [1.5], seed=4)
    add = [op for op in g.ops if op.type == "ADD"]
    assert len(add) == 1 and any(g.tensors[t].is_const for t in add[0].inputs)
    check_ops(g, ["ADD"], whole_graph=True)


@pytest.mark.slow
def test_seeded_sweep() -> None:
    converted = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        rank = int(rng.integers(1, 4))
        so = tuple(int(v) for v in rng.integers(1, 7, rank))
        s2 = tuple(d if rng.random() < 0.6 else 1 for d in so)
        ranges = [float(v) for v in np.exp(rng.uniform(np.log(1e-3), np.log(100.0), 2))]
        try:
            g = keras_graph(lambda a, b: a + b, [so, s2], ranges, seed=seed)
        except TinyError as e:
            # TF 2.21's converter turns some broadcasts (e.g. (1,4,5) + (1,4,1)) into BiasAdd and
            # then fails ('tf.Transpose ... same rank') or emits a TRANSPOSE tiny does not read.
            assert "conversion failed" in str(e) or "TRANSPOSE" in str(e), e
            continue
        converted += 1
        for k in range(3):
            check_ops(g, ["ADD"], seed=k, whole_graph=True)
    assert converted >= 14
