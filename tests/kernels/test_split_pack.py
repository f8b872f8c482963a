"""tiny_split_s8 (SPLIT, SPLIT_V, UNPACK) and PACK through tiny_concatenation_s8 (C) against the
numpy references (checked against TFLM in tests/reference/test_split_pack.py), bit for bit, over
random ranks, shapes, axes (axis 0 and negative ones too) and piece sizes; the emitted calls compile."""
from __future__ import annotations

import ctypes
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from tests.kernels.cbuild import FIRMWARE, build_lib
from tests.kernels.test_add import q
from tiny.emit.ctx import EmitCtx
from tiny.ir import Graph, IRError, Op, Tensor
from tiny.ops import REGISTRY, results

I8 = ctypes.POINTER(ctypes.c_int8)


class Four(ctypes.Structure):
    _fields_ = [("outer", ctypes.c_int32), ("input_size", ctypes.c_int32), ("output_size", ctypes.c_int32),
                ("offset", ctypes.c_int32)]


@pytest.fixture(scope="module")
def lib() -> ctypes.CDLL:
    return build_lib(["kernels/ref/split_s8.c", "kernels/ref/concatenation_s8.c"])




def split_graph(kind: str, shape: tuple, axis: int, sizes: list[int], rng: np.random.Generator) -> tuple[Graph, Op]:
    rank = len(shape)
    a = axis % rank
    outs = [shape[:a] + (() if kind == "UNPACK" else (s,)) + shape[a + 1:] for s in sizes]
    t = {0: Tensor(0, "x", shape, "int8", q(0.1, 3))}
    for k, o in enumerate(outs):
        t[10 + k] = Tensor(10 + k, f"y{k}", o, "int8", q(0.1, 3))
    ys = [10 + k for k in range(len(outs))]
    if kind == "SPLIT":
        t[1] = Tensor(1, "axis", (), "int32", data=np.array(axis, dtype=np.int32))
        op = Op(0, kind, [1, 0], ys)
    elif kind == "SPLIT_V":
        given = list(sizes)
        if rng.random() < 0.4:
            given[int(rng.integers(len(given)))] = -1
        t[1] = Tensor(1, "size_splits", (len(given),), "int32", data=np.array(given, dtype=np.int32))
        t[2] = Tensor(2, "axis", (1,), "int32", data=np.array([axis], dtype=np.int32))
        op = Op(0, kind, [0, 1, 2], ys)
    else:
        op = Op(0, kind, [0], ys, attrs={"axis": axis, "num": len(sizes)})
    return Graph(t, [op], [0], ys), op


def _run_c(lib: ctypes.CDLL, src_fn: str, calls: list[tuple[Four, np.ndarray, np.ndarray]]) -> None:
    for params, a, b in calls:
        assert getattr(lib, src_fn)(ctypes.byref(params), a.ctypes.data_as(I8), b.ctypes.data_as(I8)) == 0


def test_split_random(lib: ctypes.CDLL) -> None:
    rng = np.random.default_rng(21)
    for it in range(300):
        kind = ("SPLIT", "SPLIT_V", "UNPACK")[it % 3]
        rank = int(rng.integers(1, 5))
        shape = tuple(int(v) for v in rng.integers(1, 6, rank))
        axis = int(rng.integers(-rank, rank))
        d = shape[axis]
        if kind == "UNPACK":
            sizes = [1] * d
        elif kind == "SPLIT":
            n = int(rng.choice([k for k in range(1, d + 1) if d % k == 0]))
            sizes = [d // n] * n
        else:
            cuts = sorted(int(v) for v in rng.integers(0, d + 1, int(rng.integers(0, 3))))
            sizes = [b - a for a, b in zip([0, *cuts], [*cuts, d])]
        g, op = split_graph(kind, shape, axis, sizes, rng)
        d_ = REGISTRY[kind]
        p = d_.prepare(g, op)
        x = rng.integers(-128, 128, shape).astype(np.int8)
        args = [g.tensors[t].data if g.tensors[t].is_const else x for t in op.inputs]
        want = results(g, op, d_.run(p, args))
        # independent of the reference: numpy's own split along the axis
        pieces = np.split(x, np.cumsum(sizes)[:-1], axis=axis)
        for k, tid in enumerate(op.outputs):
            np.testing.assert_array_equal(want[tid], pieces[k].reshape(g.tensors[tid].shape))
        outs = [np.zeros(g.tensors[t].size, dtype=np.int8) for t in op.outputs]
        offset = 0
        for k, s in enumerate(p.sizes):      # the fields emit() writes, one call per output
            params = Four(p.outer, shape[axis] * p.inner, s * p.inner, offset)
            offset += s * p.inner
            _run_c(lib, "tiny_split_s8", [(params, x, outs[k])])
        for k, tid in enumerate(op.outputs):
            np.testing.assert_array_equal(outs[k].reshape(want[tid].shape), want[tid])
    _compile_emitted(g, op)


def test_pack_random(lib: ctypes.CDLL) -> None:
    rng = np.random.default_rng(22)
    for _ in range(200):
        rank = int(rng.integers(1, 4))
        shape = tuple(int(v) for v in rng.integers(1, 5, rank))
        n = int(rng.integers(1, 5))
        axis = int(rng.integers(-rank - 1, rank + 1))
        a = axis % (rank + 1)
        out = shape[:a] + (n,) + shape[a:]
        t = {i: Tensor(i, f"x{i}", shape, "int8", q(0.1, 3)) for i in range(n)}
        t[10] = Tensor(10, "y", out, "int8", q(0.1, 3))
        op = Op(0, "PACK", list(range(n)), [10], attrs={"axis": axis})
        g = Graph(t, [op], list(range(n)), [10])
        d = REGISTRY["PACK"]
        p = d.prepare(g, op)
        xs = [rng.integers(-128, 128, shape).astype(np.int8) for _ in range(n)]
        want = d.run(p, xs)
        np.testing.assert_array_equal(want, np.stack(xs, axis=axis))
        y = np.zeros(int(np.prod(out)), dtype=np.int8)
        for i in range(n):
            _run_c(lib, "tiny_concatenation_s8", [(Four(p.outer, p.inner, n * p.inner, i * p.inner), xs[i], y)])
        np.testing.assert_array_equal(y.reshape(out), want)
    _compile_emitted(g, op)


def test_split_errors_name_the_op() -> None:
    rng = np.random.default_rng(0)
    g, op = split_graph("SPLIT_V", (4, 6), 1, [2, 4], rng)
    g.tensors[1] = Tensor(1, "size_splits", (2,), "int32", data=np.array([-1, -1], dtype=np.int32))
    with pytest.raises(IRError, match=r"op #0 SPLIT_V \(output 'y0'\).*more than one -1"):
        REGISTRY["SPLIT_V"].prepare(g, op)
    g, op = split_graph("UNPACK", (4, 6), 1, [1] * 6, rng)
    op.attrs["axis"] = 2
    with pytest.raises(IRError, match=r"op #0 UNPACK \(output 'y0'\).*axis 2 is outside"):
        REGISTRY["UNPACK"].prepare(g, op)


def _compile_emitted(g: Graph, op: Op) -> None:
    """The emitted calls (several outputs; a mutable state pointer) compile against the kernel headers."""
    d = REGISTRY[op.type]
    p = d.prepare(g, op)
    ctype = {"int8": "int8_t", "int16": "int16_t"}
    e = EmitCtx(prefix="op0", inputs=["NULL" if g.tensors[t].is_const else
                                      f"({'' if g.tensors[t].variable else 'const '}{ctype[g.tensors[t].dtype]} *)"
                                      f"(arena + {256 * i})" for i, t in enumerate(op.inputs)],
                outputs=[f"(int8_t *)(arena + {2048 + 64 * k})" for k in range(len(op.outputs))])
    call = d.call(p, e, d.portable(p))
    body = "\n".join(f"    if ({c.rstrip(';')} != TINY_OK) return 1;" for c in call.splitlines())
    src = ("#include \"tiny/kernels.h\"\nstatic int8_t arena[4096];\n" + "\n".join(e.decls) +
           "\nint run(void) {\n" + body + "\n    return 0;\n}\n")
    with tempfile.TemporaryDirectory() as tmp:
        c = Path(tmp) / "emitted.c"
        c.write_text(src)
        r = subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", f"-I{FIRMWARE / 'include'}",
                            "-c", str(c), "-o", str(Path(tmp) / "emitted.o")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr + src
