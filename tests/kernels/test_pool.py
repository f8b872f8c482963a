"""tiny_avg_pool_s8 / tiny_max_pool_s8 (C) against tiny.reference.pool.run, bit for bit."""
from __future__ import annotations

import ctypes as C
from dataclasses import replace

import numpy as np
import pytest

from tests.kernels.cbuild import build_lib
from tests.kernels.test_conv2d import UBSAN, Act, Ctx, Tile, dims, ptr, qtensor
from tiny.ir import Graph, IRError, Op
from tiny.ops import conv2d, pool

SOURCES = ["kernels/ref/avg_pool_s8.c", "kernels/ref/max_pool_s8.c"]


class PoolParams(C.Structure):
    _fields_ = [("stride", Tile), ("padding", Tile), ("activation", Act)]


def rand_pool_graph(rng: np.random.Generator, kind: str) -> tuple[Graph, Op]:
    fh, fw = (int(v) for v in rng.integers(1, 8, 2))
    sh, sw = (int(v) for v in rng.integers(1, 4, 2))
    pad = str(rng.choice(["SAME", "VALID"]))
    h, w = int(rng.integers(fh, fh + 12)), int(rng.integers(fw, fw + 12))
    n, c = int(rng.integers(1, 3)), int(rng.integers(1, 10))
    oh, ow = conv2d.out_size(pad, h, fh, sh), conv2d.out_size(pad, w, fw, sw)
    s, zp = float(rng.uniform(0.005, 0.1)), int(rng.integers(-128, 128))
    t = {0: qtensor(0, (n, h, w, c), s, zp), 1: qtensor(1, (n, oh, ow, c), s, zp)}
    act = str(rng.choice(["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]))
    op = Op(0, kind, [0], [1], dict(activation=act, padding=pad, stride_h=sh, stride_w=sw,
                                    filter_h=fh, filter_w=fw))
    return Graph(t, [op], [0], [1]), op


def run_c(lib: C.CDLL, p: dict, x: np.ndarray) -> tuple[int, np.ndarray]:
    out = np.zeros(p.out_shape, np.int8)
    prm = PoolParams(Tile(p.stride_h, p.stride_w), Tile(p.pad_top, p.pad_left),
                     Act(p.act_min, p.act_max))
    fn = lib.tiny_avg_pool_s8 if p.kind == "avg" else lib.tiny_max_pool_s8
    rc = fn(C.byref(Ctx(None, 0)), C.byref(prm), C.byref(dims(x.shape)), ptr(x, C.c_int8),
            C.byref(dims((1, p.filter_h, p.filter_w, 1))), C.byref(dims(out.shape)), ptr(out, C.c_int8))
    return rc, out


def sweep(lib: C.CDLL, cases: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for case in range(cases):
        g, op = rand_pool_graph(rng, str(rng.choice(["AVERAGE_POOL_2D", "MAX_POOL_2D"])))
        p = pool.prepare(g, op)
        x = rng.integers(-128, 128, g.tensors[0].shape).astype(np.int8)
        if rng.random() < 0.3:  # patch-style explicit padding and output size
            p.pad_top = int(rng.integers(0, p.filter_h))
            p.pad_left = int(rng.integers(0, p.filter_w))
            p.out_shape = (p.out_shape[0], int(rng.integers(1, 5)), int(rng.integers(1, 5)), p.out_shape[3])
        try:
            want = pool.run(p, [x])
        except ValueError:  # an empty window: the C kernel must refuse it too
            assert run_c(lib, p, x)[0] == 1
            continue
        rc, got = run_c(lib, p, x)
        assert rc == 0 and np.array_equal(got, want), f"case {case} {p['kind']}: {np.argwhere(got != want)[:3]}"


def test_pool_c_matches_reference() -> None:
    sweep(build_lib(SOURCES), 400, seed=31)


def test_pool_c_ubsan() -> None:
    sweep(build_lib(SOURCES, flags=UBSAN), 100, seed=32)


def test_avg_pool_rounds_half_away_from_zero() -> None:
    # Window sums of +-1 and +-3 over 2 pixels: TFLM gives +-1 and +-2 (half away from zero).
    g, op = rand_pool_graph(np.random.default_rng(0), "AVERAGE_POOL_2D")
    p = pool.prepare(g, op)
    p = replace(p, in_shape=(1, 1, 2, 4), out_shape=(1, 1, 1, 4), filter_h=1, filter_w=2, stride_h=1, stride_w=1,
                pad_top=0, pad_left=0, act_min=-128, act_max=127)
    x = np.array([[[[1, -1, 3, -3], [0, 0, 0, 0]]]], np.int8)
    assert pool.run(p, [x]).reshape(-1).tolist() == [1, -1, 2, -2]
    assert run_c(build_lib(SOURCES), p, x)[1].reshape(-1).tolist() == [1, -1, 2, -2]


def test_pool_prepare_rejects_requantizing_pool() -> None:
    g, op = rand_pool_graph(np.random.default_rng(1), "MAX_POOL_2D")
    g.tensors[1].quant.zero_point[:] += 1
    with pytest.raises(IRError, match="MAX_POOL_2D.*quantization"):
        pool.prepare(g, op)
