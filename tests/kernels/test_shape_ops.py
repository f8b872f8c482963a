"""tiny_transpose_s8, tiny_reduce_max_s8, tiny_mean_s8 as SUM, tiny_resize_nearest_neighbor_s8 and
tiny_resize_bilinear_s8 (C) against their numpy references, bit for bit, over random shapes,
permutations, axis sets and resize modes (the numpy references are checked against TFLM in
tests/reference/test_shape_ops.py)."""
from __future__ import annotations

import ctypes

import numpy as np
import pytest

from tests.kernels.cbuild import build_lib
from tests.kernels.test_add import compile_emitted as _compile_emitted
from tests.kernels.test_add import Dims, params_struct, q
from tests.kernels.test_mean import mean_graph
from tiny.ir import Graph, IRError, Op, Tensor
from tiny.ops import mean, reduce_max, resize, transpose

I8 = ctypes.POINTER(ctypes.c_int8)


def compile_emitted(mod, p, n_inputs: int) -> str:
    """tests.kernels.test_add.compile_emitted for the OpDef of p's own op type (a module may define several)."""
    from types import SimpleNamespace

    from tiny.ops import REGISTRY
    kind = getattr(p, "op", None) or mod.DEFS[0].name
    return _compile_emitted(SimpleNamespace(DEFS=[REGISTRY[kind]]), p, n_inputs)


@pytest.fixture(scope="module")
def lib() -> ctypes.CDLL:
    return build_lib(["kernels/ref/transpose_s8.c", "kernels/ref/reduce_max_s8.c", "kernels/ref/mean_s8.c",
                      "kernels/ref/resize_nearest_neighbor_s8.c", "kernels/ref/resize_bilinear_s8.c"])


def _ptr(a: np.ndarray):
    return a.ctypes.data_as(I8)


def transpose_graph(shape: tuple, perm: list[int]) -> tuple[Graph, Op]:
    out = tuple(shape[a] for a in perm)
    t = {0: Tensor(0, "x", shape, "int8", q(0.1, 3)),
         1: Tensor(1, "perm", (len(perm),), "int32", data=np.array(perm, dtype=np.int32)),
         2: Tensor(2, "y", out, "int8", q(0.1, 3))}
    op = Op(0, "TRANSPOSE", [0, 1], [2])
    return Graph(t, [op], [0], [2]), op


def test_transpose_random(lib: ctypes.CDLL) -> None:
    rng = np.random.default_rng(11)
    for _ in range(300):
        rank = int(rng.integers(1, 5))
        shape = tuple(int(v) for v in rng.integers(1, 7, rank))
        perm = [int(v) for v in rng.permutation(rank)]
        if rng.random() < 0.3:
            perm = [a - rank for a in perm]            # negative axes, as TFLite allows
        g, op = transpose_graph(shape, perm)
        p = transpose.prepare(g, op)
        x = rng.integers(-128, 128, shape).astype(np.int8)
        out = np.zeros(x.size, dtype=np.int8)
        cls = type("P", (ctypes.Structure,), {"_fields_": [("perm", ctypes.c_int32 * 4)]})
        rc = lib.tiny_transpose_s8(ctypes.byref(cls((ctypes.c_int32 * 4)(*p["perm4"]))),
                                   ctypes.byref(Dims(*p["in_dims"])), _ptr(x), _ptr(out))
        assert rc == 0
        want = transpose.run(p, [x, None])
        np.testing.assert_array_equal(out.reshape(want.shape), want)
        np.testing.assert_array_equal(want, np.transpose(x, [a % rank for a in perm]))
    compile_emitted(transpose, p, 1)


def test_transpose_rejects_bad_perm() -> None:
    g, op = transpose_graph((2, 3, 4), [0, 2, 1])
    g.tensors[1] = Tensor(1, "perm", (3,), "int32", data=np.array([0, 0, 1], dtype=np.int32))
    with pytest.raises(IRError, match=r"op #0 TRANSPOSE \(output 'y'\).*not a permutation"):
        transpose.prepare(g, op)


def test_reduce_max_and_sum_random(lib: ctypes.CDLL) -> None:
    rng = np.random.default_rng(12)
    for i in range(300):
        rank = int(rng.integers(1, 5))
        shape = tuple(int(v) for v in rng.integers(1, 8, rank))
        axes = [int(a) for a in rng.choice(np.arange(-rank, rank), int(rng.integers(1, rank + 2)))]
        keep = bool(rng.integers(0, 2))
        x = rng.integers(-128, 128, shape).astype(np.int8)
        # REDUCE_MAX: same quantization in and out (TFLM requires it)
        zp = int(rng.integers(-128, 128))
        g, op = mean_graph(shape, axes, keep, (0.05, zp), (0.05, zp))
        op.type = "REDUCE_MAX"
        p = reduce_max.prepare(g, op)
        out = np.zeros(int(np.prod(p["out_shape"])), dtype=np.int8)
        assert lib.tiny_reduce_max_s8(ctypes.byref(params_struct(("axis_mask",), p)),
                                      ctypes.byref(Dims(*p["in_dims"])), _ptr(x), _ptr(out)) == 0
        want = reduce_max.run(p, [x, None])
        np.testing.assert_array_equal(out.reshape(want.shape), want)
        np.testing.assert_array_equal(want.reshape(-1), x.max(axis=p["axes"]).reshape(-1))
        # SUM runs as tiny_mean_s8 without the 1/count fold
        si = float(np.exp(rng.uniform(np.log(1e-3), np.log(1.0))))
        g, op = mean_graph(shape, axes, keep, (si, int(rng.integers(-128, 128))),
                           (si * float(np.exp(rng.uniform(0, 4))), int(rng.integers(-128, 128))))
        op.type = "SUM"
        p = mean.prepare(g, op)
        out = np.zeros(int(np.prod(p["out_shape"])), dtype=np.int8)
        assert lib.tiny_mean_s8(ctypes.byref(params_struct(mean.PARAM_FIELDS, p)),
                                ctypes.byref(Dims(*p["in_dims"])), _ptr(x), _ptr(out)) == 0
        np.testing.assert_array_equal(out.reshape(p["out_shape"]), mean.run(p, [x, None]))
    compile_emitted(reduce_max, reduce_max.prepare(*_max_graph()), 1)


def _max_graph() -> tuple[Graph, Op]:
    g, op = mean_graph((1, 4, 4, 3), [1, 2], False, (0.1, 0), (0.1, 0))
    op.type = "REDUCE_MAX"
    return g, op


def test_reduce_max_rejects_requantization() -> None:
    g, op = mean_graph((1, 4, 4, 3), [1], False, (0.1, 0), (0.2, 0))
    op.type = "REDUCE_MAX"
    with pytest.raises(IRError, match="REDUCE_MAX.*TFLM requires them equal"):
        reduce_max.prepare(g, op)


def resize_graph(kind: str, shape: tuple, size: tuple, align: bool, half: bool) -> tuple[Graph, Op]:
    n, _, _, c = shape
    t = {0: Tensor(0, "x", shape, "int8", q(0.1, -4)),
         1: Tensor(1, "size", (2,), "int32", data=np.array(size, dtype=np.int32)),
         2: Tensor(2, "y", (n, *size, c), "int8", q(0.1, -4))}
    op = Op(0, kind, [0, 1], [2], {"align_corners": align, "half_pixel_centers": half})
    return Graph(t, [op], [0], [2]), op


@pytest.mark.parametrize("kind", ["RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR"])
def test_resize_random(lib: ctypes.CDLL, kind: str) -> None:
    rng = np.random.default_rng(13)
    fn = getattr(lib, "tiny_" + kind.lower() + "_s8")
    for _ in range(200):
        shape = (int(rng.integers(1, 3)), *(int(v) for v in rng.integers(1, 10, 3)))
        size = tuple(int(v) for v in rng.integers(1, 25, 2))
        align, half = [(False, False), (True, False), (False, True)][int(rng.integers(0, 3))]
        if kind == "RESIZE_NEAREST_NEIGHBOR" and rng.random() < 0.2:
            align = half = True                           # TFLM allows both for nearest
        g, op = resize_graph(kind, shape, size, align, half)
        p = resize.prepare(g, op)
        x = rng.integers(-128, 128, shape).astype(np.int8)
        out = np.zeros(int(np.prod(p["out_shape"])), dtype=np.int8)
        rc = fn(ctypes.byref(params_struct(("align_corners", "half_pixel_centers"), p)),
                ctypes.byref(Dims(*p["in_shape"])), _ptr(x), ctypes.byref(Dims(*p["out_shape"])), _ptr(out))
        assert rc == 0
        np.testing.assert_array_equal(out.reshape(p["out_shape"]), resize.run(p, [x, None]))
    compile_emitted(resize, p, 1)


def test_resize_nearest_x2_repeats_pixels() -> None:
    g, op = resize_graph("RESIZE_NEAREST_NEIGHBOR", (1, 3, 4, 2), (6, 8), False, False)
    p = resize.prepare(g, op)
    x = np.arange(24, dtype=np.int8).reshape(1, 3, 4, 2)
    np.testing.assert_array_equal(resize.run(p, [x, None]), x.repeat(2, axis=1).repeat(2, axis=2))


def test_resize_bilinear_rejects_align_and_half() -> None:
    g, op = resize_graph("RESIZE_BILINEAR", (1, 3, 4, 2), (6, 8), True, True)
    with pytest.raises(IRError, match="RESIZE_BILINEAR.*align_corners and half_pixel_centers"):
        resize.prepare(g, op)


def test_slice_random() -> None:
    from tiny.ops import slice as slice_op
    lib = build_lib(["kernels/ref/slice_s8.c"])
    rng = np.random.default_rng(14)
    cls = type("P", (ctypes.Structure,), {"_fields_": [("begin", ctypes.c_int32 * 4), ("stride", ctypes.c_int32 * 4)]})
    for _ in range(300):
        rank = int(rng.integers(1, 5))
        shape = tuple(int(v) for v in rng.integers(1, 8, rank))
        begin = [int(rng.integers(0, d)) for d in shape]
        size = [int(rng.integers(1, d - b + 1)) if rng.random() < 0.8 else -1 for b, d in zip(begin, shape)]
        out = tuple(d - b if s == -1 else s for b, s, d in zip(begin, size, shape))
        t = {0: Tensor(0, "x", shape, "int8", q(0.1, 0)),
             1: Tensor(1, "begin", (rank,), "int32", data=np.array(begin, dtype=np.int32)),
             2: Tensor(2, "size", (rank,), "int32", data=np.array(size, dtype=np.int32)),
             3: Tensor(3, "y", out, "int8", q(0.1, 0))}
        op = Op(0, "SLICE", [0, 1, 2], [3])
        p = slice_op.prepare(Graph(t, [op], [0], [3]), op)
        x = rng.integers(-128, 128, shape).astype(np.int8)
        got = np.zeros(int(np.prod(out)), dtype=np.int8)
        rc = lib.tiny_slice_s8(ctypes.byref(cls((ctypes.c_int32 * 4)(*p["begin"]), (ctypes.c_int32 * 4)(1, 1, 1, 1))),
                               ctypes.byref(Dims(*p["in_dims"])), _ptr(x), ctypes.byref(Dims(*p["out_dims"])), _ptr(got))
        assert rc == 0
        want = slice_op.run(p, [x, None, None])
        np.testing.assert_array_equal(got.reshape(want.shape), want)
        np.testing.assert_array_equal(want, x[tuple(slice(b, b + s) for b, s in zip(begin, out))])
    compile_emitted(slice_op, p, 1)


def test_strided_slice_random() -> None:
    from tiny.ops import strided_slice
    lib = build_lib(["kernels/ref/slice_s8.c"])
    rng = np.random.default_rng(15)
    cls = type("P", (ctypes.Structure,), {"_fields_": [("begin", ctypes.c_int32 * 4), ("stride", ctypes.c_int32 * 4)]})
    done = 0
    while done < 300:
        rank = int(rng.integers(1, 5))
        shape = tuple(int(v) for v in rng.integers(1, 8, rank))
        begin = [int(rng.integers(-d - 1, d + 1)) for d in shape]
        end = [int(rng.integers(-d - 1, d + 2)) for d in shape]
        strides = [int(rng.choice([-3, -2, -1, 1, 2, 3])) for _ in shape]
        attrs = {"begin_mask": int(rng.integers(0, 16)), "end_mask": int(rng.integers(0, 16)), "shrink_axis_mask": 0}
        sl = tuple(slice(None if attrs["begin_mask"] >> i & 1 else begin[i], None if attrs["end_mask"] >> i & 1 else end[i],
                         strides[i]) for i in range(rank))
        x = rng.integers(-128, 128, shape).astype(np.int8)
        want = x[sl]
        if want.size == 0:
            continue
        t = {0: Tensor(0, "x", shape, "int8", q(0.1, 0)),
             1: Tensor(1, "b", (rank,), "int32", data=np.array(begin, dtype=np.int32)),
             2: Tensor(2, "e", (rank,), "int32", data=np.array(end, dtype=np.int32)),
             3: Tensor(3, "s", (rank,), "int32", data=np.array(strides, dtype=np.int32)),
             4: Tensor(4, "y", want.shape, "int8", q(0.1, 0))}
        op = Op(0, "STRIDED_SLICE", [0, 1, 2, 3], [4], attrs)
        p = strided_slice.prepare(Graph(t, [op], [0], [4]), op)
        got = np.zeros(want.size, dtype=np.int8)
        rc = lib.tiny_slice_s8(ctypes.byref(cls((ctypes.c_int32 * 4)(*p.begin), (ctypes.c_int32 * 4)(*p.stride))),
                               ctypes.byref(Dims(*p.in_dims)), _ptr(x), ctypes.byref(Dims(*p.out_dims)), _ptr(got))
        assert rc == 0
        np.testing.assert_array_equal(strided_slice.run(p, [x]), want)     # numpy's own slicing as oracle
        np.testing.assert_array_equal(got.reshape(want.shape), want)
        done += 1
    compile_emitted(strided_slice, p, 1)
