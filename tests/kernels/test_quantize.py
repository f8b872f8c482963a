"""tiny_quantize_f32_s8 / tiny_requantize_s8 / tiny_requantize_u8_s8 / tiny_requantize_s8_u8 /
tiny_dequantize_s8_f32 (C) against tiny.reference.quantize.run, bit for bit (floats compared by their
bits)."""
from __future__ import annotations

import ctypes as C

import numpy as np
import pytest

from tests.kernels.cbuild import build_lib
from tests.kernels.test_conv2d import UBSAN, ptr, qtensor
from tiny.ir import Graph, IRError, Op, Quant, Tensor
from tiny.ops import quantize

SOURCES = ["kernels/ref/quantize_s8.c", "kernels/ref/dequantize_s8.c"]


class Affine(C.Structure):
    _fields_ = [("scale", C.c_float), ("zero_point", C.c_int32)]


class Requant(C.Structure):
    _fields_ = [("input_offset", C.c_int32), ("output_offset", C.c_int32), ("multiplier", C.c_int32),
                ("shift", C.c_int32)]


def graph(kind: str, rng: np.random.Generator, n: int) -> tuple[Graph, Op]:
    s_in, s_out = float(rng.uniform(1e-3, 0.2)), float(rng.uniform(1e-3, 0.2))
    z_in, z_out = int(rng.integers(-128, 128)), int(rng.integers(-128, 128))
    if kind == "quantize":
        t = {0: Tensor(0, "x", (n,), "float32"), 1: qtensor(1, (n,), s_out, z_out)}
        op_type = "QUANTIZE"
    elif kind == "requantize":
        t = {0: qtensor(0, (n,), s_in, z_in), 1: qtensor(1, (n,), s_out, z_out)}
        op_type = "QUANTIZE"
    elif kind in ("requantize_u8_s8", "requantize_s8_u8"):
        u8_zp = int(rng.integers(0, 256))
        same = rng.random() < 0.4       # as TF's converter writes uint8 I/O: one scale, zero points 128 apart
        if kind == "requantize_u8_s8":
            s_out, z_in = (s_in, z_out + 128) if same else (s_out, u8_zp)
            dts = ("uint8", "int8")
        else:
            s_out, z_out = (s_in, z_in + 128) if same else (s_out, u8_zp)
            dts = ("int8", "uint8")
        t = {0: qtensor(0, (n,), s_in, z_in, dtype=dts[0]), 1: qtensor(1, (n,), s_out, z_out, dtype=dts[1])}
        op_type = "QUANTIZE"
    else:
        t = {0: qtensor(0, (n,), s_in, z_in), 1: Tensor(1, "y", (n,), "float32")}
        op_type = "DEQUANTIZE"
    op = Op(0, op_type, [0], [1], {})
    return Graph(t, [op], [0], [1]), op


def run_c(lib: C.CDLL, p: dict, x: np.ndarray) -> np.ndarray:
    n = x.size
    if p.kind.startswith("requantize"):
        fn, c_in, c_out = {"requantize": ("tiny_requantize_s8", C.c_int8, C.c_int8),
                           "requantize_u8_s8": ("tiny_requantize_u8_s8", C.c_uint8, C.c_int8),
                           "requantize_s8_u8": ("tiny_requantize_s8_u8", C.c_int8, C.c_uint8)}[p.kind]
        out = np.zeros(n, np.uint8 if c_out is C.c_uint8 else np.int8)
        prm = Requant(p.input_offset, p.output_offset, p.multiplier, p.shift)
        rc = getattr(lib, fn)(C.byref(prm), ptr(x, c_in), ptr(out, c_out), n)
    elif p.kind == "quantize":
        out = np.zeros(n, np.int8)
        rc = lib.tiny_quantize_f32_s8(C.byref(Affine(float(p.scale), p.zero_point)), ptr(x, C.c_float),
                                      ptr(out, C.c_int8), n)
    else:
        out = np.zeros(n, np.float32)
        rc = lib.tiny_dequantize_s8_f32(C.byref(Affine(float(p.scale), p.zero_point)), ptr(x, C.c_int8),
                                        ptr(out, C.c_float), n)
    assert rc == 0
    return out


def inputs(kind: str, p: dict, rng: np.random.Generator, n: int) -> np.ndarray:
    if kind == "requantize_u8_s8":
        return rng.integers(0, 256, n).astype(np.uint8)
    if kind != "quantize":
        return rng.integers(-128, 128, n).astype(np.int8)
    scale = np.float32(p.scale)
    # Exact half-way points (k + 0.5) * scale and their float neighbours stress the rounding.
    k = rng.integers(-200, 200, n).astype(np.float32)
    x = (k + np.float32(0.5)) * scale
    x = np.where(rng.random(n) < 0.3, np.nextafter(x, np.float32(np.inf)), x)
    x = np.where(rng.random(n) < 0.3, rng.uniform(-3, 3, n).astype(np.float32), x)
    return x.astype(np.float32)


def sweep(lib: C.CDLL, cases: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for case in range(cases):
        kind = str(rng.choice(["quantize", "requantize", "dequantize", "requantize_u8_s8", "requantize_s8_u8"]))
        n = int(rng.integers(1, 300))
        g, op = graph(kind, rng, n)
        p = quantize.prepare(g, op)
        x = inputs(kind, p, rng, n)
        want, got = quantize.run(p, [x]), run_c(lib, p, x)
        assert want.dtype == got.dtype
        assert np.array_equal(got.view(np.uint8), want.view(np.uint8)), f"case {case} {kind}"


def test_quantize_c_matches_reference() -> None:
    sweep(build_lib(SOURCES), 300, seed=71)


def test_quantize_c_ubsan() -> None:
    sweep(build_lib(SOURCES, flags=UBSAN), 100, seed=72)


def test_quantize_rounds_half_away_from_zero() -> None:
    g, op = graph("quantize", np.random.default_rng(0), 7)
    g.tensors[1].quant = Quant(np.array([0.5], np.float32), np.array([0]))
    p = quantize.prepare(g, op)
    x = np.array([0.25, -0.25, 0.75, -0.75, 1000.0, -np.inf, np.nan], np.float32)
    want = [1, -1, 2, -2, 127, -128, 0]
    assert quantize.run(p, [x]).tolist() == want
    assert run_c(build_lib(SOURCES), p, x).tolist() == want


def test_quantize_rejects_int16() -> None:
    g, op = graph("requantize", np.random.default_rng(0), 4)
    g.tensors[1].dtype = "int16"
    with pytest.raises(IRError, match="#0 QUANTIZE.*int16"):
        quantize.prepare(g, op)
