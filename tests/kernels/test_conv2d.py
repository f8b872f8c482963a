"""tiny_conv2d_s8 (C, via ctypes) against tiny.reference.conv2d.run, bit for bit, on random
shapes and quantization parameters; no TensorFlow involved."""
from __future__ import annotations

import ctypes as C

import numpy as np
import pytest

from tests.kernels.cbuild import build_lib
from tiny.ir import Graph, IRError, Op, Quant, Tensor
from tiny.ops import conv2d

UBSAN = ("-fsanitize=undefined", "-fno-sanitize-recover")
I8P, I32P = C.POINTER(C.c_int8), C.POINTER(C.c_int32)


class Dims(C.Structure):
    _fields_ = [(k, C.c_int32) for k in "nhwc"]


class Tile(C.Structure):
    _fields_ = [("h", C.c_int32), ("w", C.c_int32)]


class Act(C.Structure):
    _fields_ = [("min", C.c_int32), ("max", C.c_int32)]


class Ctx(C.Structure):
    _fields_ = [("buf", C.c_void_p), ("size", C.c_int32)]


class Quant8(C.Structure):
    _fields_ = [("multiplier", I32P), ("shift", I32P)]


class ConvParams(C.Structure):
    _fields_ = [("input_offset", C.c_int32), ("output_offset", C.c_int32), ("stride", Tile),
                ("padding", Tile), ("dilation", Tile), ("activation", Act)]


def dims(shape: tuple[int, ...]) -> Dims:
    """tiny_dims for a shape, with EmitCtx.dims's rules (2-D is {n, 1, 1, c})."""
    s = [int(v) for v in shape]
    if len(s) == 2:
        return Dims(s[0], 1, 1, s[1])
    return Dims(*([1] * (4 - len(s)) + s))


def ptr(a: np.ndarray, t: type) -> C._Pointer:
    return a.ctypes.data_as(C.POINTER(t))


def qtensor(tid: int, shape: tuple[int, ...], scale: np.ndarray | float, zp: int | np.ndarray = 0,
            data: np.ndarray | None = None, dtype: str = "int8", axis: int = 0) -> Tensor:
    sc = np.atleast_1d(np.asarray(scale, dtype=np.float32))
    z = np.broadcast_to(np.atleast_1d(np.asarray(zp, dtype=np.int64)), sc.shape).copy()
    return Tensor(tid, f"t{tid}", tuple(shape), dtype, Quant(sc, z, axis), data)


def rand_conv_graph(rng: np.random.Generator) -> tuple[Graph, Op]:
    groups = 1 if rng.random() < 0.8 else int(rng.integers(2, 4))
    ic = int(rng.integers(1, 6))
    cin, oc = ic * groups, groups * int(rng.integers(1, 5))
    kh, kw = (int(v) for v in rng.integers(1, 6, 2))
    sh, sw = (int(v) for v in rng.integers(1, 4, 2))
    dh, dw = (int(v) for v in (rng.integers(1, 3, 2) if rng.random() < 0.3 else (1, 1)))
    pad = str(rng.choice(["SAME", "VALID"]))
    h = int(rng.integers((kh - 1) * dh + 1, 14))
    w = int(rng.integers((kw - 1) * dw + 1, 14))
    n = int(rng.integers(1, 3))
    oh, ow = conv2d.out_size(pad, h, kh, sh, dh), conv2d.out_size(pad, w, kw, sw, dw)
    s_in = float(rng.uniform(0.002, 0.1))
    fs = rng.uniform(0.0005, 0.02, oc if rng.random() < 0.8 else 1).astype(np.float32)
    # Output scale spans multipliers well below and above 1 (positive shifts).
    s_out = float(s_in * fs.max() * np.sqrt(kh * kw * ic) * rng.uniform(0.05, 40))
    t = {0: qtensor(0, (n, h, w, cin), s_in, int(rng.integers(-128, 128))),
         1: qtensor(1, (oc, kh, kw, ic), fs, 0, rng.integers(-127, 128, (oc, kh, kw, ic)).astype(np.int8)),
         2: Tensor(2, "bias", (oc,), "int32", None, rng.integers(-40000, 40000, oc).astype(np.int32)),
         3: qtensor(3, (n, oh, ow, oc), s_out, int(rng.integers(-128, 128)))}
    act = str(rng.choice(["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]))
    ins = [0, 1, 2] if rng.random() < 0.85 else [0, 1, -1]
    op = Op(0, "CONV_2D", ins, [3], dict(activation=act, padding=pad, stride_h=sh, stride_w=sw,
                                         dilation_h=dh, dilation_w=dw))
    return Graph(t, [op], [0], [3]), op


def run_c(lib: C.CDLL, p: dict, x: np.ndarray) -> np.ndarray:
    out = np.zeros(p.out_shape, np.int8)
    x = np.ascontiguousarray(x, np.int8)
    mult, shift = np.ascontiguousarray(p.multiplier, np.int32), np.ascontiguousarray(p.shift, np.int32)
    bias = np.ascontiguousarray(p.bias, np.int32) if p.has_bias else None
    filt = np.ascontiguousarray(p.filter, np.int8)
    prm = ConvParams(p.input_offset, p.output_offset, Tile(p.stride_h, p.stride_w),
                     Tile(p.pad_top, p.pad_left), Tile(p.dilation_h, p.dilation_w),
                     Act(p.act_min, p.act_max))
    q = Quant8(ptr(mult, C.c_int32), ptr(shift, C.c_int32))
    rc = lib.tiny_conv2d_s8(C.byref(Ctx(None, 0)), C.byref(prm), C.byref(q), C.byref(dims(x.shape)),
                            ptr(x, C.c_int8), C.byref(dims(p.filter_shape)), ptr(filt, C.c_int8),
                            C.byref(dims((p.filter_shape[0],))),
                            ptr(bias, C.c_int32) if bias is not None else None,
                            C.byref(dims(out.shape)), ptr(out, C.c_int8))
    assert rc == 0
    return out


def sweep(lib: C.CDLL, cases: int, seed: int, patches: bool = True) -> None:
    rng = np.random.default_rng(seed)
    for case in range(cases):
        g, op = rand_conv_graph(rng)
        p = conv2d.prepare(g, op)
        x = rng.integers(-128, 128, g.tensors[0].shape).astype(np.int8)
        if patches and rng.random() < 0.3:
            # A patch schedule runs the kernel with arbitrary explicit padding and output size.
            p.pad_top, p.pad_left = (int(v) for v in rng.integers(0, 3, 2))
            p.out_shape = (p.out_shape[0], int(rng.integers(1, 6)), int(rng.integers(1, 6)),
                              p.out_shape[3])
        want = conv2d.run(p, [x, None, None])
        got = run_c(lib, p, x)
        assert np.array_equal(got, want), f"case {case}: {np.argwhere(got != want)[:3].tolist()} {p['out_shape']}"


def test_conv2d_c_matches_reference() -> None:
    sweep(build_lib(["kernels/ref/conv2d_s8.c"]), 300, seed=1)


def test_conv2d_c_ubsan() -> None:
    sweep(build_lib(["kernels/ref/conv2d_s8.c"], flags=UBSAN), 80, seed=2)


def test_conv2d_reference_matches_naive_loops() -> None:
    # An independent scalar transcription of TFLM's loop nest checks the vectorised numpy path.
    from tiny.reference.fixedpoint import multiply_by_quantized_multiplier as mbqm
    rng = np.random.default_rng(5)
    for _ in range(25):
        g, op = rand_conv_graph(rng)
        p = conv2d.prepare(g, op)
        x = rng.integers(-128, 128, g.tensors[0].shape).astype(np.int64)
        n, h, w, cin = x.shape
        oc, kh, kw, ic = p.filter_shape
        per_group = oc // p.groups
        _, oh, ow, _ = p.out_shape
        want = np.zeros(p.out_shape, np.int64)
        for b in range(n):
            for oy in range(oh):
                for ox in range(ow):
                    for o in range(oc):
                        acc = 0
                        for ky in range(kh):
                            for kx in range(kw):
                                iy = oy * p.stride_h - p.pad_top + ky * p.dilation_h
                                ix = ox * p.stride_w - p.pad_left + kx * p.dilation_w
                                if 0 <= iy < h and 0 <= ix < w:
                                    c0 = (o // per_group) * ic
                                    acc += int(np.dot(p.filter[o, ky, kx].astype(np.int64),
                                                      x[b, iy, ix, c0:c0 + ic] + p.input_offset))
                        acc += int(p.bias[o]) if p.has_bias else 0
                        v = int(mbqm(np.int64(acc), p.multiplier[o], p.shift[o])) + p.output_offset
                        want[b, oy, ox, o] = min(max(v, p.act_min), p.act_max)
        assert np.array_equal(conv2d.run(p, [x.astype(np.int8)]), want.astype(np.int8))


def test_conv2d_prepare_rejects_unsupported() -> None:
    g, op = rand_conv_graph(np.random.default_rng(0))
    op.attrs["activation"] = "TANH"
    with pytest.raises(IRError, match=r"#0 CONV_2D.*t3.*TANH"):
        conv2d.prepare(g, op)
    g, op = rand_conv_graph(np.random.default_rng(0))
    g.tensors[0].dtype = "int16"
    with pytest.raises(IRError, match="int16"):
        conv2d.prepare(g, op)


# ---------------------------------------------------------------- emitted C, end to end
def _chain_graph(rng: np.random.Generator) -> Graph:
    """float -> QUANTIZE -> CONV -> DW(x2) -> {AVG, MAX} -> CONCAT -> PAD -> RESHAPE -> FC
    -> QUANTIZE(int8) -> DEQUANTIZE, built directly as IR (no TensorFlow)."""
    def q(tid: int, shape: tuple[int, ...], s: float) -> Tensor:
        return qtensor(tid, shape, s, int(rng.integers(-100, 100)))
    t: dict[int, Tensor] = {0: Tensor(0, "x", (1, 9, 8, 3), "float32"), 1: q(1, (1, 9, 8, 3), 0.02)}
    t[2] = qtensor(2, (5, 3, 3, 3), rng.uniform(0.002, 0.01, 5), 0,
                   rng.integers(-127, 128, (5, 3, 3, 3)).astype(np.int8))
    t[3] = Tensor(3, "b1", (5,), "int32", None, rng.integers(-3000, 3000, 5).astype(np.int32))
    t[4] = q(4, (1, 5, 4, 5), 0.05)
    t[5] = qtensor(5, (1, 3, 3, 10), rng.uniform(0.002, 0.01, 10), 0,
                   rng.integers(-127, 128, (1, 3, 3, 10)).astype(np.int8), axis=3)
    t[6] = Tensor(6, "b2", (10,), "int32", None, rng.integers(-3000, 3000, 10).astype(np.int32))
    t[7] = q(7, (1, 5, 4, 10), 0.04)
    s7, z7 = t[7].quant.s(), t[7].quant.zp()
    t[8] = qtensor(8, (1, 3, 2, 10), s7, z7)
    t[9] = qtensor(9, (1, 3, 2, 10), s7, z7)
    t[10] = qtensor(10, (1, 3, 2, 20), s7, z7)
    t[11] = Tensor(11, "pads", (4, 2), "int32", None, np.array([[0, 0], [1, 0], [0, 2], [1, 1]], np.int32))
    t[12] = qtensor(12, (1, 4, 4, 22), s7, z7)
    t[13] = Tensor(13, "shape", (2,), "int32", None, np.array([1, 352], np.int32))
    t[14] = qtensor(14, (1, 352), s7, z7)
    t[15] = qtensor(15, (7, 352), rng.uniform(0.001, 0.004, 7), 0, rng.integers(-127, 128, (7, 352)).astype(np.int8))
    t[16] = q(16, (1, 7), 0.08)
    t[17] = q(17, (1, 7), 0.03)
    t[18] = Tensor(18, "y", (1, 7), "float32")
    win = dict(padding="SAME", stride_h=2, stride_w=2)
    ops = [Op(0, "QUANTIZE", [0], [1]),
           Op(1, "CONV_2D", [1, 2, 3], [4], dict(activation="RELU6", dilation_h=1, dilation_w=1, **win)),
           Op(2, "DEPTHWISE_CONV_2D", [4, 5, 6], [7], dict(activation="NONE", padding="SAME", stride_h=1,
                                                           stride_w=1, dilation_h=1, dilation_w=1, depth_multiplier=2)),
           Op(3, "AVERAGE_POOL_2D", [7], [8], dict(activation="NONE", filter_h=3, filter_w=3, **win)),
           Op(4, "MAX_POOL_2D", [7], [9], dict(activation="RELU", filter_h=3, filter_w=3, **win)),
           Op(5, "CONCATENATION", [8, 9], [10], dict(axis=-1, activation="NONE")),
           Op(6, "PAD", [10, 11], [12]),
           Op(7, "RESHAPE", [12, 13], [14]),
           Op(8, "FULLY_CONNECTED", [14, 15, -1], [16], dict(activation="NONE", weights_format=0)),
           Op(9, "QUANTIZE", [16], [17]),
           Op(10, "DEQUANTIZE", [17], [18])]
    return Graph(t, ops, [0], [18])


def _emit_and_run(g: Graph, x: np.ndarray, flags: tuple[str, ...] = ()) -> dict[int, np.ndarray]:
    import subprocess
    import tempfile
    from pathlib import Path

    from tests.kernels.cbuild import FIRMWARE
    from tiny.emit.ctx import EmitCtx
    from tiny.ir import DTYPES
    from tiny.interpreter import kernel_for
    ctype = {"int8": "int8_t", "float32": "float", "int32": "int32_t"}
    offs, off = {}, 0
    for tid in g.activations():
        offs[tid] = off
        off += (g.tensors[tid].nbytes + 3) // 4 * 4
    decls, body = [], []
    for op in g.ops:
        mod = kernel_for(op)
        p = mod.prepare(g, op)
        ins = ["NULL" if tid < 0 or g.tensors[tid].is_const else
               f"(const {ctype[g.tensors[tid].dtype]} *)(arena + {offs[tid]})" for tid in op.inputs]
        o = op.outputs[0]
        e = EmitCtx(prefix=f"l{op.index}", inputs=ins, outputs=[f"({ctype[g.tensors[o].dtype]} *)(arena + {offs[o]})"])
        call = mod.call(p, e, mod.portable(p))
        decls += e.decls
        body += [f"    if ({c.strip()[:-1]} != TINY_OK) return {op.index + 1};" for c in call.splitlines()]
    src = "\n".join(['#include "tiny/kernels.h"', *decls, "int run(uint8_t *arena);",
                     "int run(uint8_t *arena) {", *body, "    return 0;", "}"])
    kernels = [FIRMWARE / "src/kernels/ref" / f"{n}_s8.c" for n in
               ("conv2d", "depthwise_conv2d", "fully_connected", "avg_pool", "max_pool", "pad", "reshape",
                "concatenation", "quantize", "dequantize")]
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "model.c").write_text(src)
        so = Path(d) / "model.so"
        r = subprocess.run(["gcc", "-std=c99", "-O1", "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror",
                            f"-I{FIRMWARE / 'include'}", *flags, str(Path(d) / "model.c"), *map(str, kernels),
                            "-o", str(so)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr + "\n" + src[:3000]
        lib = C.CDLL(str(so))
        arena = np.zeros(off, np.uint8)
        arena[offs[g.inputs[0]]:offs[g.inputs[0]] + x.nbytes] = np.frombuffer(x.tobytes(), np.uint8)
        assert lib.run(arena.ctypes.data_as(C.POINTER(C.c_uint8))) == 0
    out = {}
    for tid, o in offs.items():
        t = g.tensors[tid]
        out[tid] = np.frombuffer(arena[o:o + t.nbytes].tobytes(), DTYPES[t.dtype]).reshape(t.shape)
    return out


@pytest.mark.parametrize("flags", [(), UBSAN])
def test_emitted_c_matches_reference(flags: tuple[str, ...]) -> None:
    from tiny.interpreter import run_graph
    rng = np.random.default_rng(91)
    g = _chain_graph(rng)
    x = rng.uniform(-3, 3, (1, 9, 8, 3)).astype(np.float32)
    want = run_graph(g, [x])
    got = _emit_and_run(g, x, flags)
    assert {g.ops[i].type for i in range(len(g.ops))} >= {"CONV_2D", "CONCATENATION", "DEQUANTIZE"}
    for tid, v in want.items():
        assert np.array_equal(got[tid].view(np.uint8), np.asarray(v).view(np.uint8)), g.tensors[tid].name


def test_activation_bounds_divide_in_float32() -> None:
    # TFLM computes TfLiteRound(6.0f / scale) in float32. For this scale float32 gives exactly 81.5
    # (rounds to 82) while a double division gives 81.49999... (rounds to 81).
    g, op = rand_conv_graph(np.random.default_rng(0))
    scale = np.float32(0.07361963391304016)
    assert float(np.float32(6.0) / scale) == 81.5 and round(6.0 / float(scale)) == 81
    g.tensors[3].quant = Quant(np.array([scale], np.float32), np.array([-128]))
    op.attrs["activation"] = "RELU6"
    assert conv2d.activation_bounds(g, op, g.tensors[3]) == (-128, -128 + 82)
