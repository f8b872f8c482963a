"""tiny_sub_s8, tiny_maximum_minimum_s8, tiny_prelu_s8, tiny_relu_s8, tiny_relu6_s8 and
tiny_leaky_relu_s8 (C) against their numpy references, bit for bit, over random shapes,
broadcasts, scales and zero points (the numpy references are checked against TFLM in
tests/reference/test_shape_ops.py)."""
from __future__ import annotations

import ctypes

import numpy as np
import pytest

from tests.kernels.cbuild import build_lib
from tests.kernels.test_add import compile_emitted as _compile_emitted
from tests.kernels.test_add import ACTS, Dims, binary_graph, params_struct, q, random_shapes, run_c
from tiny.ir import Graph, IRError, Op, Tensor
from tiny.ops import activation, add, maximum_minimum, prelu, sub

I8 = ctypes.POINTER(ctypes.c_int8)


def compile_emitted(mod, p, n_inputs: int) -> str:
    """tests.kernels.test_add.compile_emitted for the OpDef of p's own op type (a module may define several)."""
    from types import SimpleNamespace

    from tiny.ops import REGISTRY
    kind = getattr(p, "op", None) or mod.DEFS[0].name
    return _compile_emitted(SimpleNamespace(DEFS=[REGISTRY[kind]]), p, n_inputs)


@pytest.fixture(scope="module")
def lib() -> ctypes.CDLL:
    return build_lib(["kernels/ref/sub_s8.c", "kernels/ref/maximum_minimum_s8.c", "kernels/ref/prelu_s8.c",
                      "kernels/ref/relu_s8.c"])


def _scale(rng: np.random.Generator) -> float:
    return float(np.exp(rng.uniform(np.log(1e-3), np.log(2.0))))


@pytest.mark.parametrize("kind", ["SUB", "MAXIMUM", "MINIMUM", "PRELU"])
def test_binary_random(lib: ctypes.CDLL, kind: str) -> None:
    rng = np.random.default_rng({"SUB": 1, "MAXIMUM": 2, "MINIMUM": 3, "PRELU": 4}[kind])
    mod = {"SUB": sub, "MAXIMUM": maximum_minimum, "MINIMUM": maximum_minimum, "PRELU": prelu}[kind]
    fn, fields = {"SUB": ("tiny_sub_s8", add.PARAM_FIELDS), "MAXIMUM": ("tiny_maximum_minimum_s8", ("is_min",)),
                  "MINIMUM": ("tiny_maximum_minimum_s8", ("is_min",)),
                  "PRELU": ("tiny_prelu_s8", prelu.PARAM_FIELDS)}[kind]
    done = 0
    while done < 300:
        s1, s2, so = random_shapes(rng)
        if kind == "PRELU" and tuple(np.broadcast_shapes(s1, so)) != tuple(s1):
            continue                                     # PRELU broadcasts alpha only
        si = _scale(rng)
        quants = [(si, int(rng.integers(-128, 128))), (_scale(rng), int(rng.integers(-128, 128))),
                  (si * float(np.exp(rng.uniform(-2, 2))), int(rng.integers(-128, 128)))]
        act = ACTS[int(rng.integers(0, len(ACTS)))] if kind == "SUB" else "NONE"
        g, op = binary_graph(kind, s1, s2, so, quants, act)
        try:
            p = mod.prepare(g, op)
        except IRError:
            continue                                     # a scale TFLM rejects too
        a = rng.integers(-128, 128, s1).astype(np.int8)
        b = rng.integers(-128, 128, s2).astype(np.int8)
        np.testing.assert_array_equal(run_c(lib, fn, fields, p, a, b), mod.run(p, [a, b]))
        done += 1
    compile_emitted(mod, p, 2)


def test_sub_is_close_to_float(lib: ctypes.CDLL) -> None:
    rng = np.random.default_rng(9)
    g, op = binary_graph("SUB", (2, 3, 4), (4,), (2, 3, 4), [(0.05, 3), (0.02, -7), (0.06, 1)])
    p = sub.prepare(g, op)
    a = rng.integers(-128, 128, (2, 3, 4)).astype(np.int8)
    b = rng.integers(-128, 128, (4,)).astype(np.int8)
    got = run_c(lib, "tiny_sub_s8", add.PARAM_FIELDS, p, a, b).astype(np.float64)
    real = 0.05 * (a - 3.0) - 0.02 * (b - (-7.0))
    assert np.abs(np.clip(real / 0.06 + 1, -128, 127) - got).max() <= 1


def unary_graph(kind: str, shape: tuple, qi: tuple, qo: tuple, alpha: float = 0.2) -> tuple[Graph, Op]:
    t = {0: Tensor(0, "x", shape, "int8", q(*qi)), 1: Tensor(1, "y", shape, "int8", q(*qo))}
    op = Op(0, kind, [0], [1], {"alpha": alpha})
    return Graph(t, [op], [0], [1]), op


@pytest.mark.parametrize("kind", ["RELU", "RELU6", "LEAKY_RELU"])
def test_activations_random(lib: ctypes.CDLL, kind: str) -> None:
    rng = np.random.default_rng(len(kind))
    for _ in range(300):
        shape = tuple(int(v) for v in rng.integers(1, 7, int(rng.integers(1, 5))))
        si = _scale(rng)
        qo = (si * float(np.exp(rng.uniform(-1.5, 1.5))), int(rng.integers(-128, 128)))
        g, op = unary_graph(kind, shape, (si, int(rng.integers(-128, 128))), qo, float(rng.uniform(0, 1.5)))
        p = activation.prepare(g, op)
        x = rng.integers(-128, 128, shape).astype(np.int8)
        out = np.zeros(x.size, dtype=np.int8)
        rc = getattr(lib, f"tiny_{kind.lower()}_s8")(ctypes.byref(params_struct(activation.FIELDS[kind], p)),
                                                      x.size, x.ctypes.data_as(I8), out.ctypes.data_as(I8))
        assert rc == 0
        np.testing.assert_array_equal(out.reshape(shape), activation.run(p, [x]))
    compile_emitted(activation, p, 1)


def test_relu6_clamps_raw_values() -> None:
    g, op = unary_graph("RELU6", (256,), (0.05, -10), (0.05, -10))
    p = activation.prepare(g, op)
    x = np.arange(-128, 128, dtype=np.int8)
    y = activation.run(p, [x])
    assert p["upper"] == 110 and y.min() == -10 and y.max() == 110       # round(6 / 0.05) - 10


def test_negative_leaky_alpha_is_refused() -> None:
    g, op = unary_graph("LEAKY_RELU", (4,), (0.1, 0), (0.1, 0), alpha=-0.5)
    with pytest.raises(IRError, match=r"op #0 LEAKY_RELU .*alpha -0.5"):
        activation.prepare(g, op)


def test_tanh_all_inputs(lib_tanh: ctypes.CDLL) -> None:
    from tiny.ops import tanh
    rng = np.random.default_rng(17)
    x = np.arange(-128, 128, dtype=np.int8)
    for _ in range(60):
        si = float(np.exp(rng.uniform(np.log(1e-4), np.log(1.0))))
        g, op = unary_graph("TANH", (256,), (si, int(rng.integers(-128, 128))), (1 / 128, 0))
        p = tanh.prepare(g, op)
        out = np.zeros(256, dtype=np.int8)
        assert lib_tanh.tiny_tanh_s8(ctypes.byref(params_struct(tanh.PARAM_FIELDS, p)), 256,
                                     x.ctypes.data_as(I8), out.ctypes.data_as(I8)) == 0
        want = tanh.run(p, [x])
        np.testing.assert_array_equal(out, want)
        real = np.tanh(si * (x.astype(np.float64) - p["input_zero_point"]))
        assert np.abs(want / 128.0 - real).max() <= 1.0 / 128 + 1e-9
    compile_emitted(tanh, p, 1)


@pytest.fixture(scope="module")
def lib_tanh() -> ctypes.CDLL:
    return build_lib(["kernels/ref/tanh_s8.c"])


def test_batch_matmul_random() -> None:
    from tiny.ops import batch_matmul
    lib = build_lib(["kernels/ref/batch_matmul_s8.c"])
    rng = np.random.default_rng(21)
    fields = [(f, ctypes.c_int32) for f in batch_matmul.PARAM_FIELDS] + \
        [("lhs_batch", ctypes.c_int32 * 3), ("rhs_batch", ctypes.c_int32 * 3)]
    cls = type("P", (ctypes.Structure,), {"_fields_": fields})
    for _ in range(200):
        nb = int(rng.integers(0, 4))
        batch = [int(v) for v in rng.integers(1, 4, nb)]
        bl = [d if rng.random() < 0.7 else 1 for d in batch]
        br = [d if rng.random() < 0.7 else 1 for d in batch]
        rows, depth, cols = (int(v) for v in rng.integers(1, 9, 3))
        adj_x, adj_y = bool(rng.integers(0, 2)), bool(rng.integers(0, 2))
        ls = (*bl, depth, rows) if adj_x else (*bl, rows, depth)
        rs = (*br, cols, depth) if adj_y else (*br, depth, cols)
        if len(ls) < 2 or len(rs) < 2:
            continue
        out = (*np.broadcast_shapes(tuple(bl), tuple(br)), rows, cols)
        t = {0: Tensor(0, "a", ls, "int8", q(0.05, int(rng.integers(-128, 128)))),
             1: Tensor(1, "b", rs, "int8", q(0.03, int(rng.integers(-128, 128)))),
             2: Tensor(2, "y", out, "int8", q(float(np.exp(rng.uniform(-1, 2))), int(rng.integers(-128, 128))))}
        op = Op(0, "BATCH_MATMUL", [0, 1], [2], {"adj_x": adj_x, "adj_y": adj_y})
        p = batch_matmul.prepare(Graph(t, [op], [0, 1], [2]), op)
        a = rng.integers(-128, 128, ls).astype(np.int8)
        b = rng.integers(-128, 128, rs).astype(np.int8)
        got = np.zeros(int(np.prod(out)), dtype=np.int8)
        c = cls(*[int(p[f]) for f in batch_matmul.PARAM_FIELDS], (ctypes.c_int32 * 3)(*p["lhs_batch"]),
                (ctypes.c_int32 * 3)(*p["rhs_batch"]))
        assert lib.tiny_batch_matmul_s8(ctypes.byref(c), a.ctypes.data_as(I8), b.ctypes.data_as(I8),
                                        got.ctypes.data_as(I8)) == 0
        want = batch_matmul.run(p, [a, b])
        np.testing.assert_array_equal(got.reshape(want.shape), want)
    compile_emitted(batch_matmul, p, 2)


def test_transpose_conv_random() -> None:
    from tiny.ops import transpose_conv
    lib = build_lib(["kernels/ref/transpose_conv_s8.c"])
    rng = np.random.default_rng(31)

    class Tile(ctypes.Structure):
        _fields_ = [("h", ctypes.c_int32), ("w", ctypes.c_int32)]

    class Conv(ctypes.Structure):
        _fields_ = [("input_offset", ctypes.c_int32), ("output_offset", ctypes.c_int32), ("stride", Tile),
                    ("padding", Tile), ("dilation", Tile), ("act_min", ctypes.c_int32), ("act_max", ctypes.c_int32)]

    class Quant(ctypes.Structure):
        _fields_ = [("multiplier", ctypes.POINTER(ctypes.c_int32)), ("shift", ctypes.POINTER(ctypes.c_int32))]
    i32 = ctypes.POINTER(ctypes.c_int32)
    for _ in range(120):
        n, ih, iw, ic, oc = (int(v) for v in (rng.integers(1, 3), *rng.integers(1, 6, 2), *rng.integers(1, 5, 2)))
        kh, kw, sh, sw = (int(v) for v in (*rng.integers(1, 5, 2), *rng.integers(1, 4, 2)))
        padding = ["SAME", "VALID"][int(rng.integers(0, 2))]
        oh = ih * sh if padding == "SAME" else (ih - 1) * sh + kh
        ow = iw * sw if padding == "SAME" else (iw - 1) * sw + kw
        fs = np.exp(rng.uniform(-6, -3, oc)).astype(np.float32)
        t = {0: Tensor(0, "shape", (4,), "int32", data=np.array([n, oh, ow, oc], dtype=np.int32)),
             1: Tensor(1, "w", (oc, kh, kw, ic), "int8",
                       Quant_(fs), data=rng.integers(-127, 128, (oc, kh, kw, ic)).astype(np.int8)),
             2: Tensor(2, "x", (n, ih, iw, ic), "int8", q(0.05, int(rng.integers(-128, 128)))),
             3: Tensor(3, "b", (oc,), "int32", data=rng.integers(-3000, 3000, oc).astype(np.int32)),
             4: Tensor(4, "y", (n, oh, ow, oc), "int8", q(0.02, int(rng.integers(-128, 128))))}
        op = Op(0, "TRANSPOSE_CONV", [0, 1, 2, 3] if rng.random() < 0.7 else [0, 1, 2], [4],
                {"padding": padding, "stride_h": sh, "stride_w": sw, "activation": "NONE"})
        p = transpose_conv.prepare(Graph(t, [op], [2], [4]), op)
        x = rng.integers(-128, 128, (n, ih, iw, ic)).astype(np.int8)
        got = np.zeros(n * oh * ow * oc, dtype=np.int8)
        prm = Conv(p["input_offset"], p["output_offset"], Tile(sh, sw), Tile(p["pad_top"], p["pad_left"]), Tile(1, 1),
                   p["act_min"], p["act_max"])
        m, s = np.ascontiguousarray(p["multiplier"]), np.ascontiguousarray(p["shift"])
        bias = np.ascontiguousarray(p["bias"]) if p["has_bias"] else None
        rc = lib.tiny_transpose_conv_s8(None, ctypes.byref(prm), ctypes.byref(Quant(m.ctypes.data_as(i32), s.ctypes.data_as(i32))),
                                        ctypes.byref(Dims(n, ih, iw, ic)), x.ctypes.data_as(I8),
                                        ctypes.byref(Dims(oc, kh, kw, ic)), p["filter"].ctypes.data_as(I8),
                                        ctypes.byref(Dims(1, 1, 1, oc)), bias.ctypes.data_as(i32) if bias is not None else None,
                                        ctypes.byref(Dims(n, oh, ow, oc)), got.ctypes.data_as(I8))
        assert rc == 0
        want = transpose_conv.run(p, [None, None, x, None])
        np.testing.assert_array_equal(got.reshape(want.shape), want)
    compile_emitted(transpose_conv, p, 3)


def Quant_(scales: np.ndarray):
    from tiny.ir import Quant
    return Quant(scale=scales, zero_point=np.zeros(scales.shape, dtype=np.int64), axis=0)
