"""tiny_depthwise_conv2d_s8 (C) against tiny.reference.depthwise_conv2d.run, bit for bit."""
from __future__ import annotations

import ctypes as C
from dataclasses import replace

import numpy as np
import pytest

from tests.kernels.cbuild import build_lib
from tests.kernels.test_conv2d import UBSAN, Act, Ctx, Quant8, Tile, dims, ptr, qtensor
from tiny.ir import Graph, IRError, Op, Tensor
from tiny.ops import conv2d, depthwise_conv2d


class DwParams(C.Structure):
    _fields_ = [("input_offset", C.c_int32), ("output_offset", C.c_int32), ("ch_mult", C.c_int32),
                ("stride", Tile), ("padding", Tile), ("dilation", Tile), ("activation", Act)]


def rand_dw_graph(rng: np.random.Generator) -> tuple[Graph, Op]:
    c, m = int(rng.integers(1, 9)), int(rng.integers(1, 4))
    oc = c * m
    kh, kw = (int(v) for v in rng.integers(1, 8, 2))
    sh, sw = (int(v) for v in rng.integers(1, 4, 2))
    dh, dw = (int(v) for v in (rng.integers(1, 4, 2) if rng.random() < 0.3 else (1, 1)))
    pad = str(rng.choice(["SAME", "VALID"]))
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    h, w = int(rng.integers(eh, eh + 11)), int(rng.integers(ew, ew + 11))
    n = int(rng.integers(1, 3))
    oh, ow = conv2d.out_size(pad, h, kh, sh, dh), conv2d.out_size(pad, w, kw, sw, dw)
    s_in = float(rng.uniform(0.002, 0.1))
    fs = rng.uniform(0.0005, 0.02, oc if rng.random() < 0.8 else 1).astype(np.float32)
    s_out = float(s_in * fs.max() * np.sqrt(kh * kw) * rng.uniform(0.05, 40))
    t = {0: qtensor(0, (n, h, w, c), s_in, int(rng.integers(-128, 128))),
         1: qtensor(1, (1, kh, kw, oc), fs, 0, rng.integers(-127, 128, (1, kh, kw, oc)).astype(np.int8), axis=3),
         2: Tensor(2, "bias", (oc,), "int32", None, rng.integers(-20000, 20000, oc).astype(np.int32)),
         3: qtensor(3, (n, oh, ow, oc), s_out, int(rng.integers(-128, 128)))}
    act = str(rng.choice(["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]))
    ins = [0, 1, 2] if rng.random() < 0.85 else [0, 1, -1]
    op = Op(0, "DEPTHWISE_CONV_2D", ins, [3], dict(activation=act, padding=pad, stride_h=sh, stride_w=sw,
                                                   dilation_h=dh, dilation_w=dw, depth_multiplier=m))
    return Graph(t, [op], [0], [3]), op


def run_c(lib: C.CDLL, p: dict, x: np.ndarray) -> np.ndarray:
    out = np.zeros(p.out_shape, np.int8)
    mult, shift = np.ascontiguousarray(p.multiplier, np.int32), np.ascontiguousarray(p.shift, np.int32)
    bias = np.ascontiguousarray(p.bias, np.int32) if p.has_bias else None
    filt = np.ascontiguousarray(p.filter, np.int8)
    prm = DwParams(p.input_offset, p.output_offset, p.depth_multiplier, Tile(p.stride_h, p.stride_w),
                   Tile(p.pad_top, p.pad_left), Tile(p.dilation_h, p.dilation_w),
                   Act(p.act_min, p.act_max))
    q = Quant8(ptr(mult, C.c_int32), ptr(shift, C.c_int32))
    rc = lib.tiny_depthwise_conv2d_s8(C.byref(Ctx(None, 0)), C.byref(prm), C.byref(q), C.byref(dims(x.shape)),
                                      ptr(x, C.c_int8), C.byref(dims(p.filter_shape)), ptr(filt, C.c_int8),
                                      C.byref(dims((p.filter_shape[3],))),
                                      ptr(bias, C.c_int32) if bias is not None else None,
                                      C.byref(dims(out.shape)), ptr(out, C.c_int8))
    assert rc == 0
    return out


def sweep(lib: C.CDLL, cases: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for case in range(cases):
        g, op = rand_dw_graph(rng)
        p = depthwise_conv2d.prepare(g, op)
        x = rng.integers(-128, 128, g.tensors[0].shape).astype(np.int8)
        if rng.random() < 0.3:  # patch-style explicit padding and output size
            p.pad_top, p.pad_left = (int(v) for v in rng.integers(0, 4, 2))
            p.out_shape = (p.out_shape[0], int(rng.integers(1, 6)), int(rng.integers(1, 6)), p.out_shape[3])
        want = depthwise_conv2d.run(p, [x, None, None])
        got = run_c(lib, p, x)
        assert np.array_equal(got, want), f"case {case}: {np.argwhere(got != want)[:3].tolist()}"


def test_depthwise_c_matches_reference() -> None:
    sweep(build_lib(["kernels/ref/depthwise_conv2d_s8.c"]), 300, seed=11)


def test_depthwise_c_ubsan() -> None:
    sweep(build_lib(["kernels/ref/depthwise_conv2d_s8.c"], flags=UBSAN), 80, seed=12)


def test_depthwise_reference_matches_grouped_conv() -> None:
    # A depthwise conv is a grouped conv with one input channel per group: an independent path.
    rng = np.random.default_rng(13)
    for _ in range(40):
        g, op = rand_dw_graph(rng)
        p = depthwise_conv2d.prepare(g, op)
        _, kh, kw, oc = p.filter_shape
        c = g.tensors[0].shape[3]
        pc = replace(p, filter=np.transpose(p.filter, (3, 1, 2, 0)), filter_shape=(oc, kh, kw, 1), groups=c)
        x = rng.integers(-128, 128, g.tensors[0].shape).astype(np.int8)
        assert np.array_equal(depthwise_conv2d.run(p, [x]), conv2d.run(pc, [x]))


def test_depthwise_prepare_rejects_bad_multiplier() -> None:
    g, op = rand_dw_graph(np.random.default_rng(3))
    op.attrs["depth_multiplier"] = op.attrs["depth_multiplier"] + 1
    with pytest.raises(IRError, match="DEPTHWISE_CONV_2D.*depth_multiplier"):
        depthwise_conv2d.prepare(g, op)
