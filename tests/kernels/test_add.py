"""tiny_add_s8 (C) against tiny.reference.add (numpy), bit for bit, over random shapes,
broadcast patterns, scales, zero points and fused activations."""
from __future__ import annotations

import ctypes
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.kernels.cbuild import FIRMWARE, build_lib
from tiny.emit.ctx import EmitCtx
from tiny.ir import Graph, IRError, Op, Quant, Tensor
from tiny.ops import add

ACTS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]


class Dims(ctypes.Structure):
    _fields_ = [("n", ctypes.c_int32), ("h", ctypes.c_int32), ("w", ctypes.c_int32), ("c", ctypes.c_int32)]


def params_struct(fields: tuple[str, ...], p: Any) -> ctypes.Structure:
    cls = type("Params", (ctypes.Structure,), {"_fields_": [(f, ctypes.c_int32) for f in fields]})
    return cls(*[int(getattr(p, f)) for f in fields])


def q(scale: float, zp: int) -> Quant:
    return Quant(scale=np.array([scale], dtype=np.float32), zero_point=np.array([zp], dtype=np.int64))


def binary_graph(kind: str, s1: tuple, s2: tuple, so: tuple, quants: list[tuple[float, int]],
                 act: str = "NONE", const2: np.ndarray | None = None) -> tuple[Graph, Op]:
    t = {0: Tensor(0, "a", s1, "int8", q(*quants[0])),
         1: Tensor(1, "b", s2, "int8", q(*quants[1]), data=const2),
         2: Tensor(2, "out", so, "int8", q(*quants[2]))}
    op = Op(0, kind, [0, 1], [2], {"activation": act})
    return Graph(t, [op], [0] if const2 is not None else [0, 1], [2]), op


def random_shapes(rng: np.random.Generator) -> tuple[tuple, tuple, tuple]:
    """An output shape of rank 1..5 and two operands that broadcast to it (numpy rules)."""
    rank = int(rng.integers(1, 6))
    so = tuple(int(v) for v in rng.integers(1, 6, rank))
    ops = []
    for _ in range(2):
        s = tuple(d if rng.random() < 0.6 else 1 for d in so)
        s = s[int(rng.integers(0, rank + 1)):] if rng.random() < 0.3 else s   # drop leading dims
        ops.append(s)
    return ops[0], ops[1], tuple(np.broadcast_shapes(ops[0], ops[1]))


def run_c(lib: ctypes.CDLL, fn: str, fields: tuple[str, ...], p: dict, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d1, d2, do = p.dims
    out = np.zeros(int(np.prod(do)), dtype=np.int8)
    a = np.ascontiguousarray(a, dtype=np.int8)
    b = np.ascontiguousarray(b, dtype=np.int8)
    i8 = ctypes.POINTER(ctypes.c_int8)
    rc = getattr(lib, fn)(ctypes.byref(params_struct(fields, p)), ctypes.byref(Dims(*d1)), a.ctypes.data_as(i8),
                          ctypes.byref(Dims(*d2)), b.ctypes.data_as(i8), ctypes.byref(Dims(*do)),
                          out.ctypes.data_as(i8))
    assert rc == 0
    return out.reshape(p.out_shape)


def compile_emitted(mod, p: Any, n_inputs: int) -> str:
    """Emit the call into a C function and compile it: the struct fields and prototype must match."""
    e = EmitCtx(prefix="op0", inputs=[f"(const int8_t *)(arena + {64 * i})" for i in range(n_inputs)],
                outputs=["(int8_t *)(arena + 512)"])
    d = mod.DEFS[0]
    call = d.call(p, e, d.portable(p))
    src = ("#include \"tiny/kernels.h\"\nstatic int8_t arena[1024];\n" + "\n".join(e.decls) +
           "\nint run(void) { return (int)" + call.rstrip(";") + "; }\n")
    with tempfile.TemporaryDirectory() as d:
        c = Path(d) / "emitted.c"
        c.write_text(src)
        r = subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", f"-I{FIRMWARE / 'include'}",
                            "-c", str(c), "-o", str(Path(d) / "emitted.o")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr + src
    return src


@pytest.fixture(scope="module")
def lib() -> ctypes.CDLL:
    return build_lib(["kernels/ref/add_s8.c"])


def test_random_sweep(lib: ctypes.CDLL) -> None:
    rng = np.random.default_rng(1234)
    done = 0
    for _ in range(400):
        s1, s2, so = random_shapes(rng)
        scales = np.exp(rng.uniform(np.log(1e-4), np.log(10.0), 2))
        out_scale = float(max(scales) * np.exp(rng.uniform(np.log(0.05), np.log(20.0))))
        quants = [(float(scales[0]), int(rng.integers(-128, 128))), (float(scales[1]), int(rng.integers(-128, 128))),
                  (out_scale, int(rng.integers(-128, 128)))]
        if add.broadcast_layout(s1, s2, so) is None:
            continue        # needs more than 4 broadcast runs: rejected by prepare (tested below)
        g, op = binary_graph("ADD", s1, s2, so, quants, ACTS[int(rng.integers(0, 4))])
        p = add.prepare(g, op)
        a = rng.integers(-128, 128, s1).astype(np.int8)
        b = rng.integers(-128, 128, s2).astype(np.int8)
        want = add.run(p, [a, b])
        assert want.shape == so
        np.testing.assert_array_equal(run_c(lib, "tiny_add_s8", add.PARAM_FIELDS, p, a, b), want)
        done += 1
    assert done > 350


def test_numpy_semantics_on_equal_scales() -> None:
    # With identical scales and zero points 0 the op is an exact saturating integer add.
    g, op = binary_graph("ADD", (1, 3, 4), (4,), (1, 3, 4), [(0.5, 0), (0.5, 0), (0.5, 0)])
    p = add.prepare(g, op)
    a = np.arange(-60, 60, 10, dtype=np.int8).reshape(1, 3, 4)
    b = np.array([1, -2, 100, -100], dtype=np.int8)
    np.testing.assert_array_equal(add.run(p, [a, b]), np.clip(a.astype(int) + b, -128, 127))


def test_constant_operand_is_emitted(lib: ctypes.CDLL) -> None:
    const = np.arange(-4, 4, dtype=np.int8).reshape(1, 1, 1, 8)
    g, op = binary_graph("ADD", (1, 2, 2, 8), (1, 1, 1, 8), (1, 2, 2, 8), [(0.1, 3), (0.05, -2), (0.2, 0)],
                         "RELU", const2=const)
    p = add.prepare(g, op)
    src = compile_emitted(add, p, 2)
    assert "op0_in2" in src and "-4, -3, -2, -1, 0, 1, 2, 3" in src
    a = np.random.default_rng(0).integers(-128, 128, (1, 2, 2, 8)).astype(np.int8)
    np.testing.assert_array_equal(run_c(lib, "tiny_add_s8", add.PARAM_FIELDS, p, a, const), add.run(p, [a, const]))


def test_unsupported_is_rejected() -> None:
    g, op = binary_graph("ADD", (4,), (4,), (4,), [(0.1, 0), (0.1, 0), (0.1, 0)], "TANH")
    with pytest.raises(IRError, match=r"#0 ADD.*'out'.*TANH"):
        add.prepare(g, op)
    g, op = binary_graph("ADD", (4,), (4,), (4,), [(0.1, 0), (0.1, 0), (0.1, 0)])
    g.tensors[0].dtype = "int16"
    with pytest.raises(IRError, match="int16"):
        add.prepare(g, op)
    g, op = binary_graph("ADD", (3,), (4,), (4,), [(0.1, 0), (0.1, 0), (0.1, 0)])
    with pytest.raises(IRError, match="broadcast"):
        add.prepare(g, op)
    # An output scale below 2 * max input scale / 2^20 makes TFLM's Prepare CHECK fail.
    g, op = binary_graph("ADD", (4,), (4,), (4,), [(1.0, 0), (1.0, 0), (1e-7, 0)])
    with pytest.raises(IRError, match="TFLM rejects"):
        add.prepare(g, op)


def test_broadcast_layout_merges_runs() -> None:
    # squeeze-excite: H and W merge into one run, C stays separate
    assert add.broadcast_layout((1, 5, 5, 8), (1, 1, 1, 8), (1, 5, 5, 8)) == ((1, 1, 25, 8), (1, 1, 1, 8), (1, 1, 25, 8))
    assert add.broadcast_layout((1, 5, 5, 8), (), (1, 5, 5, 8)) == ((1, 1, 1, 200), (1, 1, 1, 1), (1, 1, 1, 200))
    assert add.broadcast_layout((2, 1, 3, 1, 5, 1), (1, 4, 1, 6, 1, 7), (2, 4, 3, 6, 5, 7)) is None
    assert add.broadcast_layout((2, 3, 4, 5, 6), (2, 3, 4, 5, 6), (2, 3, 4, 5, 6)) == ((1, 1, 1, 720),) * 3
