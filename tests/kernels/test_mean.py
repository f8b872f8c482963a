"""tiny_mean_s8 (C) against tiny.reference.mean (numpy), bit for bit, over random ranks, axis
sets (negative and duplicate axes too), keep_dims and scales."""
from __future__ import annotations

import ctypes

import numpy as np
import pytest

from tests.kernels.cbuild import build_lib
from tests.kernels.test_add import Dims, compile_emitted, params_struct, q
from tiny.ir import Graph, IRError, Op, Tensor
from tiny.ops import mean


def mean_graph(shape: tuple, axes: list[int], keep: bool, qi: tuple, qo: tuple) -> tuple[Graph, Op]:
    rank = len(shape)
    res = {a % rank for a in axes}
    out = tuple(1 if i in res else d for i, d in enumerate(shape)) if keep else \
        tuple(d for i, d in enumerate(shape) if i not in res)
    t = {0: Tensor(0, "x", shape, "int8", q(*qi)),
         1: Tensor(1, "axes", (len(axes),), "int32", data=np.array(axes, dtype=np.int32)),
         2: Tensor(2, "y", out, "int8", q(*qo))}
    op = Op(0, "MEAN", [0, 1], [2], {"keep_dims": keep})
    return Graph(t, [op], [0], [2]), op


def run_c(lib: ctypes.CDLL, p: dict, x: np.ndarray) -> np.ndarray:
    out = np.zeros(int(np.prod(p.out_shape)), dtype=np.int8)
    x = np.ascontiguousarray(x, dtype=np.int8)
    i8 = ctypes.POINTER(ctypes.c_int8)
    rc = lib.tiny_mean_s8(ctypes.byref(params_struct(mean.PARAM_FIELDS, p)), ctypes.byref(Dims(*p.in_dims)),
                          x.ctypes.data_as(i8), out.ctypes.data_as(i8))
    assert rc == 0
    return out.reshape(p.out_shape)


@pytest.fixture(scope="module")
def lib() -> ctypes.CDLL:
    return build_lib(["kernels/ref/mean_s8.c"])


def test_random_sweep(lib: ctypes.CDLL) -> None:
    rng = np.random.default_rng(7)
    for _ in range(400):
        rank = int(rng.integers(1, 5))
        shape = tuple(int(v) for v in rng.integers(1, 9, rank))
        axes = [int(a) for a in rng.choice(np.arange(-rank, rank), int(rng.integers(1, rank + 2)))]
        si = float(np.exp(rng.uniform(np.log(1e-3), np.log(10.0))))
        so = float(si * np.exp(rng.uniform(np.log(0.01), np.log(100.0))))
        g, op = mean_graph(shape, axes, bool(rng.integers(0, 2)), (si, int(rng.integers(-128, 128))),
                           (so, int(rng.integers(-128, 128))))
        p = mean.prepare(g, op)
        x = rng.integers(-128, 128, shape).astype(np.int8)
        np.testing.assert_array_equal(run_c(lib, p, x), mean.run(p, [x, None]))


def test_global_average_pool_is_close_to_float_mean(lib: ctypes.CDLL) -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, (1, 7, 7, 32)).astype(np.int8)
    for keep in (True, False):
        g, op = mean_graph(x.shape, [1, 2], keep, (0.1, 5), (0.07, -9))
        p = mean.prepare(g, op)
        assert p.axis_mask == 0b0110 and p.count == 49
        got = run_c(lib, p, x)
        np.testing.assert_array_equal(got, mean.run(p, [x, None]))
        real = 0.1 * (x.astype(np.float64) - 5).mean(axis=(1, 2), keepdims=keep)
        assert np.abs((got.astype(np.float64) + 9) * 0.07 - real).max() <= 0.07
        compile_emitted(mean, p, 1)


def test_unsupported_is_rejected() -> None:
    g, op = mean_graph((2, 3), [5], False, (0.1, 0), (0.1, 0))
    with pytest.raises(IRError, match=r"#0 MEAN.*axis 5"):
        mean.prepare(g, op)
    g, op = mean_graph((2, 3, 4, 5, 6), [1], False, (0.1, 0), (0.1, 0))
    with pytest.raises(IRError, match="rank 5"):
        mean.prepare(g, op)
