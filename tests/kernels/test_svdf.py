"""tiny_svdf_s8 (C) against the numpy SVDF reference (checked against TFLM in
tests/reference/test_svdf.py), bit for bit, over random sizes, ranks, batches, zero points and
scales, for several consecutive calls with the int16 state carried between them in place."""
from __future__ import annotations

import ctypes

import numpy as np

from tests.kernels.cbuild import build_lib
from tests.kernels.test_split_pack import _compile_emitted
from tiny.ir import Graph, Op, Quant, Tensor
from tiny.ops import REGISTRY, results


def _q(scale: float, zp: int = 0) -> Quant:
    return Quant(np.array([scale], dtype=np.float32), np.array([zp], dtype=np.int64))


class Params(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int32) for n in ("batch", "input_size", "filters", "memory", "rank", "input_offset",
                                               "state_zp", "output_zp", "multiplier1", "shift1", "multiplier2",
                                               "shift2")]


def svdf_graph(rng: np.random.Generator) -> tuple[Graph, Op]:
    batch, n_in = int(rng.integers(1, 4)), int(rng.integers(1, 20))
    rank, units, memory = int(rng.integers(1, 4)), int(rng.integers(1, 6)), int(rng.integers(1, 8))
    filters = rank * units
    s_in, s_st, s_out = (float(np.exp(rng.uniform(np.log(1e-3), np.log(1.0)))) for _ in range(3))
    s_wf, s_wt = float(np.exp(rng.uniform(np.log(1e-3), np.log(0.1)))), float(np.exp(rng.uniform(-14, -6)))
    t = {0: Tensor(0, "x", (batch, n_in), "int8", _q(s_in, int(rng.integers(-128, 128)))),
         1: Tensor(1, "wf", (filters, n_in), "int8", _q(s_wf),
                   data=rng.integers(-127, 128, (filters, n_in)).astype(np.int8)),
         2: Tensor(2, "wt", (filters, memory), "int16", _q(s_wt),
                   data=rng.integers(-32767, 32768, (filters, memory)).astype(np.int16)),
         3: Tensor(3, "bias", (units,), "int32", _q(s_st * s_wt),
                   data=rng.integers(-(1 << 20), 1 << 20, units).astype(np.int32)),
         4: Tensor(4, "state", (batch, filters * memory), "int16", _q(s_st), variable=True),
         5: Tensor(5, "y", (batch, units), "int8", _q(s_out, int(rng.integers(-128, 128))))}
    op = Op(0, "SVDF", [0, 1, 2, 3, 4], [5], attrs={"rank": rank, "activation": "NONE"})
    return Graph(t, [op], [0], [5]), op


def test_svdf_random_sequences() -> None:
    lib = build_lib(["kernels/ref/svdf_s8.c"])
    rng = np.random.default_rng(31)
    d = REGISTRY["SVDF"]
    saturated = exact = 0
    for _ in range(150):
        g, op = svdf_graph(rng)
        p = d.prepare(g, op)
        c = Params(p.batch, p.input_size, p.filters, p.memory, p.rank, -p.input_zp, p.state_zp, p.output_zp,
                   p.m1, p.s1, p.m2, p.s2)
        wf = np.ascontiguousarray(p.weights_feature)
        wt = np.ascontiguousarray(p.weights_time)
        bias = np.ascontiguousarray(p.bias)
        state_c = g.tensors[4].reset_value()
        state_np = state_c.copy()
        for _step in range(4):
            x = rng.integers(-128, 128, g.tensors[0].shape).astype(np.int8)
            got = np.zeros(g.tensors[5].shape, dtype=np.int8)
            rc = lib.tiny_svdf_s8(ctypes.byref(c), x.ctypes.data_as(ctypes.c_void_p), wf.ctypes.data_as(ctypes.c_void_p),
                                  wt.ctypes.data_as(ctypes.c_void_p), bias.ctypes.data_as(ctypes.c_void_p),
                                  state_c.ctypes.data_as(ctypes.c_void_p), got.ctypes.data_as(ctypes.c_void_p))
            assert rc == 0
            want = results(g, op, d.run(p, [x, None, None, None, state_np]))
            state_np = want[4]
            np.testing.assert_array_equal(state_c, state_np)
            np.testing.assert_array_equal(got, want[5])
            saturated += int(np.isin(want[5], (-128, 127)).all())
            exact += 1
    assert saturated < exact // 2, "mostly saturated outputs: the sweep would test little"
    _compile_emitted(g, op)
