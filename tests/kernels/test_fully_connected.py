"""tiny_fully_connected_s8 (C) against tiny.reference.fully_connected.run, bit for bit."""
from __future__ import annotations

import ctypes as C

import numpy as np
import pytest

from tests.kernels.cbuild import build_lib
from tests.kernels.test_conv2d import UBSAN, Act, Ctx, Quant8, dims, ptr, qtensor
from tiny.ir import Graph, IRError, Op, Tensor
from tiny.ops import fully_connected
from tiny.reference.fixedpoint import quantize_multiplier


class FcParams(C.Structure):
    _fields_ = [("input_offset", C.c_int32), ("filter_offset", C.c_int32), ("output_offset", C.c_int32),
                ("activation", Act)]


def rand_fc_graph(rng: np.random.Generator, per_channel: bool | None = None) -> tuple[Graph, Op]:
    depth, oc, batches = int(rng.integers(1, 300)), int(rng.integers(1, 40)), int(rng.integers(1, 4))
    per_channel = bool(rng.random() < 0.5) if per_channel is None else per_channel
    s_in = float(rng.uniform(0.002, 0.1))
    fs = rng.uniform(0.0005, 0.02, oc if per_channel else 1).astype(np.float32)
    s_out = float(s_in * fs.max() * np.sqrt(depth) * rng.uniform(0.05, 40))
    in_shape = (batches, depth) if rng.random() < 0.7 else (batches, 1, 1, depth)
    t = {0: qtensor(0, in_shape, s_in, int(rng.integers(-128, 128))),
         1: qtensor(1, (oc, depth), fs, 0, rng.integers(-127, 128, (oc, depth)).astype(np.int8)),
         2: Tensor(2, "bias", (oc,), "int32", None, rng.integers(-50000, 50000, oc).astype(np.int32)),
         3: qtensor(3, (batches, oc), s_out, int(rng.integers(-128, 128)))}
    act = str(rng.choice(["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]))
    ins = [0, 1, 2] if rng.random() < 0.8 else [0, 1, -1]
    op = Op(0, "FULLY_CONNECTED", ins, [3], dict(activation=act, keep_num_dims=False, weights_format=0))
    return Graph(t, [op], [0], [3]), op


def run_c(lib: C.CDLL, p: dict, x: np.ndarray) -> np.ndarray:
    out = np.zeros(p.out_shape, np.int8)
    x = np.ascontiguousarray(x, np.int8)
    mult, shift = np.ascontiguousarray(p.multiplier, np.int32), np.ascontiguousarray(p.shift, np.int32)
    bias = np.ascontiguousarray(p.bias, np.int32) if p.has_bias else None
    filt = np.ascontiguousarray(p.filter, np.int8)
    b, d, o = p.batches, p.accum_depth, p.out_channels
    prm = FcParams(p.input_offset, p.filter_offset, p.output_offset, Act(p.act_min, p.act_max))
    q = Quant8(ptr(mult, C.c_int32), ptr(shift, C.c_int32))
    rc = lib.tiny_fully_connected_s8(C.byref(Ctx(None, 0)), C.byref(prm), C.byref(q), C.byref(dims((b, d))),
                                     ptr(x, C.c_int8), C.byref(dims((o, d))), ptr(filt, C.c_int8),
                                     C.byref(dims((o,))), ptr(bias, C.c_int32) if bias is not None else None,
                                     C.byref(dims((b, o))), ptr(out, C.c_int8))
    assert rc == 0
    return out


def sweep(lib: C.CDLL, cases: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for case in range(cases):
        g, op = rand_fc_graph(rng)
        p = fully_connected.prepare(g, op)
        if rng.random() < 0.2:
            p.filter_offset = int(rng.integers(-5, 6))  # the per-tensor path's weights offset
        x = rng.integers(-128, 128, g.tensors[0].shape).astype(np.int8)
        want = fully_connected.run(p, [x, None, None])
        got = run_c(lib, p, x)
        assert np.array_equal(got, want), f"case {case}: {np.argwhere(got != want)[:3].tolist()}"


def test_fully_connected_c_matches_reference() -> None:
    sweep(build_lib(["kernels/ref/fully_connected_s8.c"]), 400, seed=21)


def test_fully_connected_c_ubsan() -> None:
    sweep(build_lib(["kernels/ref/fully_connected_s8.c"], flags=UBSAN), 100, seed=22)


def test_per_tensor_multiplier_uses_float32_product() -> None:
    # TFLM's per-tensor path rounds in_scale * filter_scale to float32 before the double division;
    # find scales where that changes the multiplier and check prepare() follows TFLM.
    rng = np.random.default_rng(23)
    hits = 0
    for _ in range(3000):
        g, op = rand_fc_graph(rng, per_channel=False)
        s_in, s_f, s_out = g.tensors[0].quant.s(), g.tensors[1].quant.s(), g.tensors[3].quant.s()
        via_f32 = quantize_multiplier(float(np.float32(s_in) * np.float32(s_f)) / float(s_out))
        via_f64 = quantize_multiplier(float(s_in) * float(s_f) / float(s_out))
        if via_f32 != via_f64:
            hits += 1
            p = fully_connected.prepare(g, op)
            assert (int(p.multiplier[0]), int(p.shift[0])) == via_f32
    assert hits > 0


def test_fully_connected_prepare_rejects_unsupported() -> None:
    g, op = rand_fc_graph(np.random.default_rng(4))
    op.attrs["activation"] = "SIGN_BIT"
    with pytest.raises(IRError, match=r"#0 FULLY_CONNECTED.*SIGN_BIT"):
        fully_connected.prepare(g, op)
