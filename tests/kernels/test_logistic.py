"""tiny_logistic_s8 (C) against tiny.reference.logistic (numpy): exhaustive over the 256 int8
inputs for hundreds of input scales and zero points, plus a float sanity bound."""
from __future__ import annotations

import ctypes

import numpy as np
import pytest

from tests.kernels.cbuild import build_lib
from tests.kernels.test_add import compile_emitted, params_struct, q
from tiny.ir import Graph, IRError, Op, Tensor
from tiny.ops import logistic

ALL = np.arange(-128, 128, dtype=np.int8)


def unary_graph(kind: str, shape: tuple, qi: tuple, qo: tuple, attrs: dict | None = None) -> tuple[Graph, Op]:
    t = {0: Tensor(0, "x", shape, "int8", q(*qi)), 1: Tensor(1, "y", shape, "int8", q(*qo))}
    op = Op(0, kind, [0], [1], attrs or {})
    return Graph(t, [op], [0], [1]), op


def run_c(lib: ctypes.CDLL, fn: str, fields: tuple[str, ...], p: dict, x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.int8)
    out = np.zeros_like(x)
    i8 = ctypes.POINTER(ctypes.c_int8)
    rc = getattr(lib, fn)(ctypes.byref(params_struct(fields, p)), ctypes.c_int32(x.size), x.ctypes.data_as(i8),
                          out.ctypes.data_as(i8))
    assert rc == 0
    return out


@pytest.fixture(scope="module")
def lib() -> ctypes.CDLL:
    return build_lib(["kernels/ref/logistic_s8.c"])


def test_exhaustive_over_scales(lib: ctypes.CDLL) -> None:
    rng = np.random.default_rng(11)
    scales = np.concatenate([np.exp(rng.uniform(np.log(1e-6), np.log(40.0), 300)),
                             [2.0 ** -k for k in range(-5, 20)]])   # exact powers hit frexp edges
    for s in scales:
        zp = int(rng.integers(-128, 128))
        g, op = unary_graph("LOGISTIC", (256,), (float(s), zp), (1 / 256, -128))
        p = logistic.prepare(g, op)
        want = logistic.run(p, [ALL])
        np.testing.assert_array_equal(run_c(lib, "tiny_logistic_s8", logistic.PARAM_FIELDS, p, ALL), want)
        if p.input_range_radius == 0:
            # scale >= 8: TFLM's radius is 0 and even x == zero point saturates (to -128).
            assert np.array_equal(want, np.where(ALL.astype(int) > zp, 127, -128))
            continue
        if p.input_range_radius < 3:
            continue    # scale >= 4: the radius clamps near |x| = 4, several LSB off the float curve
        real = 1 / (1 + np.exp(np.clip(-np.float32(s) * (ALL.astype(np.float64) - zp), -700, 700)))
        assert np.abs((want.astype(np.float64) + 128) / 256 - real).max() <= 1.5 / 256


def test_emit_and_rejections() -> None:
    g, op = unary_graph("LOGISTIC", (1, 8), (0.05, 3), (1 / 256, -128))
    src = compile_emitted(logistic, logistic.prepare(g, op), 1)
    assert "tiny_logistic_s8(&op0_params, 8," in src
    g, op = unary_graph("LOGISTIC", (1, 8), (0.05, 3), (1 / 256, 0))
    with pytest.raises(IRError, match=r"#0 LOGISTIC.*zero point -128"):
        logistic.prepare(g, op)
    g, op = unary_graph("LOGISTIC", (1, 8), (0.05, 3), (1 / 256, -128))
    g.tensors[0].dtype = g.tensors[1].dtype = "int16"
    with pytest.raises(IRError, match="int16"):
        logistic.prepare(g, op)
