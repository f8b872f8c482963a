"""tiny_pad_s8 (C) against tiny.reference.pad.run, bit for bit."""
from __future__ import annotations

import ctypes as C

import numpy as np
import pytest

from tests.kernels.cbuild import build_lib
from tests.kernels.test_conv2d import UBSAN, Dims, dims, ptr, qtensor
from tiny.ir import Graph, IRError, Op, Tensor
from tiny.ops import pad


class PadParams(C.Structure):
    _fields_ = [("before", Dims), ("pad_value", C.c_int32)]


def rand_pad_graph(rng: np.random.Generator) -> tuple[Graph, Op]:
    rank = int(rng.integers(1, 5))
    shape = tuple(int(v) for v in rng.integers(1, 7, rank))
    pads = rng.integers(0, 4, (rank, 2))
    out = tuple(int(v) for v in np.asarray(shape) + pads.sum(axis=1))
    s, zp = float(rng.uniform(0.005, 0.1)), int(rng.integers(-128, 128))
    t = {0: qtensor(0, shape, s, zp), 1: Tensor(1, "paddings", (rank, 2), "int32", None, pads.astype(np.int32)),
         2: qtensor(2, out, s, zp)}
    op = Op(0, "PAD", [0, 1], [2], {})
    return Graph(t, [op], [0], [2]), op


def run_c(lib: C.CDLL, p: dict, x: np.ndarray) -> np.ndarray:
    out = np.zeros(p.out_shape, np.int8)
    x = np.ascontiguousarray(x, np.int8)
    prm = PadParams(Dims(*p.before), p.pad_value)
    assert lib.tiny_pad_s8(C.byref(prm), C.byref(dims(p.in_shape)), ptr(x, C.c_int8),
                           C.byref(dims(p.out_shape)), ptr(out, C.c_int8)) == 0
    return out.reshape(p.out_shape_orig)


def sweep(lib: C.CDLL, cases: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for case in range(cases):
        g, op = rand_pad_graph(rng)
        p = pad.prepare(g, op)
        x = rng.integers(-128, 128, g.tensors[0].shape).astype(np.int8)
        want = pad.run(p, [x, None])
        # An independent numpy.pad check of the reference itself.
        pads = g.tensors[1].data
        assert np.array_equal(want, np.pad(x, pads, constant_values=g.tensors[2].quant.zp()))
        assert np.array_equal(run_c(lib, p, x), want), f"case {case}"


def test_pad_c_matches_reference() -> None:
    sweep(build_lib(["kernels/ref/pad_s8.c"]), 300, seed=41)


def test_pad_c_ubsan() -> None:
    sweep(build_lib(["kernels/ref/pad_s8.c"], flags=UBSAN), 100, seed=42)


def test_pad_prepare_rejects_negative_paddings() -> None:
    g, op = rand_pad_graph(np.random.default_rng(2))
    g.tensors[1].data = g.tensors[1].data.copy()
    g.tensors[1].data[0, 0] = -1
    with pytest.raises(IRError, match="#0 PAD"):
        pad.prepare(g, op)
