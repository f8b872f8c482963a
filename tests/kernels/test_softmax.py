"""tiny_softmax_s8 (C) against tiny.reference.softmax (numpy), bit for bit, over random row
counts/lengths, input scales, betas and input patterns (ties at the maximum, long rows)."""
from __future__ import annotations

import ctypes

import numpy as np
import pytest

from tests.kernels.cbuild import build_lib
from tests.kernels.test_add import compile_emitted, params_struct
from tests.kernels.test_logistic import unary_graph
from tiny.ir import IRError
from tiny.ops import softmax


def run_c(lib: ctypes.CDLL, p: dict, x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.int8)
    out = np.zeros_like(x)
    i8 = ctypes.POINTER(ctypes.c_int8)
    rc = lib.tiny_softmax_s8(ctypes.byref(params_struct(softmax.PARAM_FIELDS, p)), ctypes.c_int32(p.num_rows),
                             ctypes.c_int32(p.row_size), x.ctypes.data_as(i8), out.ctypes.data_as(i8))
    assert rc == 0
    return out


@pytest.fixture(scope="module")
def lib() -> ctypes.CDLL:
    return build_lib(["kernels/ref/softmax_s8.c"])


def test_random_sweep(lib: ctypes.CDLL) -> None:
    rng = np.random.default_rng(31)
    for i in range(400):
        shape = (int(rng.integers(1, 4)), int(rng.integers(1, 5)), int(rng.integers(1, 120 if i % 10 else 700)))
        s = float(np.exp(rng.uniform(np.log(2e-5), np.log(100.0))))
        beta = float(rng.choice([1.0, 0.5, 2.0, 0.1]))
        g, op = unary_graph("SOFTMAX", shape, (s, int(rng.integers(-128, 128))), (1 / 256, -128), {"beta": beta})
        p = softmax.prepare(g, op)
        kind = i % 3
        if kind == 0:
            x = rng.integers(-128, 128, shape)
        elif kind == 1:                         # few distinct values: many ties at the maximum
            x = rng.integers(100, 128, shape)
        else:                                   # near-constant rows (long rows overflow TFLM's exponent)
            x = np.full(shape, int(rng.integers(-128, 128))) - rng.integers(0, 2, shape)
        x = x.astype(np.int8)
        want = softmax.run(p, [x])
        np.testing.assert_array_equal(run_c(lib, p, x), want)


def test_close_to_float_softmax(lib: ctypes.CDLL) -> None:
    rng = np.random.default_rng(2)
    x = rng.integers(-128, 128, (4, 10)).astype(np.int8)
    g, op = unary_graph("SOFTMAX", x.shape, (0.05, 0), (1 / 256, -128), {"beta": 1.0})
    p = softmax.prepare(g, op)
    got = run_c(lib, p, x)
    z = 0.05 * x.astype(np.float64)
    real = np.exp(z - z.max(axis=1, keepdims=True))
    real /= real.sum(axis=1, keepdims=True)
    assert np.abs((got.astype(np.float64) + 128) / 256 - real).max() <= 1.5 / 256


def test_emit_and_rejections() -> None:
    g, op = unary_graph("SOFTMAX", (2, 3, 10), (0.1, 0), (1 / 256, -128), {"beta": 1.0})
    assert "tiny_softmax_s8(&op0_params, 6, 10," in compile_emitted(softmax, softmax.prepare(g, op), 1)
    g, op = unary_graph("SOFTMAX", (1, 10), (0.1, 0), (1 / 128, -128), {"beta": 1.0})
    with pytest.raises(IRError, match=r"#0 SOFTMAX.*scale 1/256"):
        softmax.prepare(g, op)
    g, op = unary_graph("SOFTMAX", (1, 10), (1e-9, 0), (1 / 256, -128), {"beta": 1.0})
    with pytest.raises(IRError, match="too small"):
        softmax.prepare(g, op)
