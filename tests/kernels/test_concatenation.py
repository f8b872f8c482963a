"""tiny_concatenation_s8 (C), one call per input, against tiny.reference.concatenation.run."""
from __future__ import annotations

import ctypes as C

import numpy as np
import pytest

from tests.kernels.cbuild import build_lib
from tests.kernels.test_conv2d import UBSAN, ptr, qtensor
from tiny.ir import Graph, IRError, Op
from tiny.ops import concatenation


class ConcatParams(C.Structure):
    _fields_ = [("outer", C.c_int32), ("input_size", C.c_int32), ("output_size", C.c_int32),
                ("offset", C.c_int32)]


def rand_concat_graph(rng: np.random.Generator) -> tuple[Graph, Op]:
    rank = int(rng.integers(1, 5))
    axis = int(rng.integers(-rank, rank))
    base = [int(v) for v in rng.integers(1, 6, rank)]
    k = int(rng.integers(1, 6))
    s, zp = float(rng.uniform(0.005, 0.1)), int(rng.integers(-128, 128))
    t, sizes = {}, []
    for i in range(k):
        shp = list(base)
        shp[axis] = int(rng.integers(1, 5))
        sizes.append(shp[axis])
        t[i] = qtensor(i, tuple(shp), s, zp)
    out = list(base)
    out[axis] = sum(sizes)
    t[k] = qtensor(k, tuple(out), s, zp)
    op = Op(0, "CONCATENATION", list(range(k)), [k], dict(axis=axis, activation="NONE"))
    return Graph(t, [op], list(range(k)), [k]), op


def run_c(lib: C.CDLL, p: dict, xs: list[np.ndarray]) -> np.ndarray:
    out = np.zeros(p.out_shape, np.int8)
    total, offset = sum(p.sizes) * p.inner, 0
    for x, size in zip(xs, p.sizes):
        x = np.ascontiguousarray(x, np.int8)
        prm = ConcatParams(p.outer, size * p.inner, total, offset)
        assert lib.tiny_concatenation_s8(C.byref(prm), ptr(x, C.c_int8), ptr(out, C.c_int8)) == 0
        offset += size * p.inner
    return out


def sweep(lib: C.CDLL, cases: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for case in range(cases):
        g, op = rand_concat_graph(rng)
        p = concatenation.prepare(g, op)
        xs = [rng.integers(-128, 128, g.tensors[i].shape).astype(np.int8) for i in op.inputs]
        want = concatenation.run(p, xs)
        assert np.array_equal(want, np.concatenate(xs, axis=op.attrs["axis"]))
        assert np.array_equal(run_c(lib, p, xs), want), f"case {case}"


def test_concatenation_c_matches_reference() -> None:
    sweep(build_lib(["kernels/ref/concatenation_s8.c"]), 300, seed=61)


def test_concatenation_c_ubsan() -> None:
    sweep(build_lib(["kernels/ref/concatenation_s8.c"], flags=UBSAN), 100, seed=62)


def test_concatenation_rejects_mixed_quantization() -> None:
    # TFLM's Prepare fails on int8 inputs whose scale or zero point differ from the output's.
    g, op = rand_concat_graph(np.random.default_rng(3))
    g.tensors[0].quant.scale = g.tensors[0].quant.scale * np.float32(1.5)
    with pytest.raises(IRError, match="CONCATENATION.*quantized differently"):
        concatenation.prepare(g, op)
