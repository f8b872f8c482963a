"""tiny_lut_s8 (firmware/src/kernels/arm/lut_s8.c, built for the host with TINY_ARM_PLAIN_C) running
the tables the code generator emits (the LUT variant of tiny/ops/base.py) against the portable C kernels
tiny_hard_swish_s8 / tiny_logistic_s8: every int8 input, hundreds of random quantizations, out of
place and in place. Then which kernel generated models call, per board and kernel set."""
from __future__ import annotations

import ctypes
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from tests.kernels.cbuild import build_lib
from tests.kernels.test_logistic import ALL, run_c, unary_graph
from tiny.emit.ctx import EmitCtx
from tiny.emit.model import compile_graph
from tiny.target import Target
from tiny.ops.base import LUT
from tiny.ops import hard_swish, logistic
from tiny.report import kernel_names

N = 259             # the 256 values and a tail past the 4-wide unrolled loop
I8 = ctypes.POINTER(ctypes.c_int8)
PORTABLE = {"HARD_SWISH": ("tiny_hard_swish_s8", hard_swish), "LOGISTIC": ("tiny_logistic_s8", logistic)}


def random_params(kind: str, rng: np.random.Generator) -> Any:
    """Prepared params over the scale ranges of tests/kernels/test_<op>.py."""
    if kind == "HARD_SWISH":
        si = float(np.exp(rng.uniform(np.log(1e-7), np.log(50.0))))
        so = float(si * np.exp(rng.uniform(np.log(1 / 120), np.log(1e6))))
        qo = (so, int(rng.integers(-128, 128)))
    else:
        si, qo = float(np.exp(rng.uniform(np.log(1e-6), np.log(40.0)))), (1 / 256, -128)
    g, op = unary_graph(kind, (N,), (si, int(rng.integers(-128, 128))), qo)
    return PORTABLE[kind][1].prepare(g, op)


def emitted_lib(kind: str, ps: list[Any], tmp: Path) -> ctypes.CDLL:
    """One C file with every emitted table and call (`run(j, in, out)` makes call j), built with the kernel."""
    mod: ModuleType = PORTABLE[kind][1]
    decls, cases = [], []
    for j, p in enumerate(ps):
        e = EmitCtx(prefix=f"op{j}", inputs=["in"], outputs=["out"])
        d = mod.DEFS[0]
        call = d.call(p, e, d.select(p, Target(board="qemu-m4-256k")))
        assert call == f"{LUT}(op{j}_lut, {N}, in, out);"
        decls += e.decls
        cases.append(f"    case {j}: return (int){call[:-1]};")
    src = tmp / f"emitted_{kind.lower()}.c"
    src.write_text("#include \"tiny/kernels.h\"\n" + "\n".join(decls) +
                   "\nint run(int j, const int8_t *in, int8_t *out) {\n    switch (j) {\n" + "\n".join(cases) +
                   "\n    }\n    return -1;\n}\n")
    return build_lib(["kernels/arm/lut_s8.c", str(src)], flags=("-DTINY_ARM_PLAIN_C",))


@pytest.fixture(scope="module")
def portable() -> ctypes.CDLL:
    return build_lib(["kernels/ref/hard_swish_s8.c", "kernels/ref/logistic_s8.c"])


@pytest.mark.parametrize("kind,seed", [("HARD_SWISH", 31), ("LOGISTIC", 32)])
def test_emitted_lut_equals_portable_kernel(kind: str, seed: int, portable: ctypes.CDLL,
                                            tmp_path: Path) -> None:
    rng = np.random.default_rng(seed)
    ps = [random_params(kind, rng) for _ in range(300)]
    lib = emitted_lib(kind, ps, tmp_path)
    fn, mod = PORTABLE[kind]
    x = np.concatenate([rng.permutation(ALL), ALL[[0, 128, 255]]])
    distinct = set()
    for j, p in enumerate(ps):
        want = run_c(portable, fn, mod.PARAM_FIELDS, p, x)
        out = np.zeros_like(x)
        assert lib.run(j, x.ctypes.data_as(I8), out.ctypes.data_as(I8)) == 0
        np.testing.assert_array_equal(out, want, err_msg=f"{kind} case {j}: {p}")
        buf = x.copy()          # in place
        assert lib.run(j, buf.ctypes.data_as(I8), buf.ctypes.data_as(I8)) == 0
        np.testing.assert_array_equal(buf, want, err_msg=f"{kind} case {j} in place")
        distinct.add(want.tobytes())
    assert len(distinct) > 200      # not all the same (saturated) function


def test_lut_kernel_arguments(tmp_path: Path) -> None:
    g, op = unary_graph("LOGISTIC", (N,), (0.05, 3), (1 / 256, -128))
    lib = emitted_lib("LOGISTIC", [logistic.prepare(g, op)], tmp_path)
    table, x, out = np.zeros(256, np.int8), np.zeros(4, np.int8), np.zeros(4, np.int8)
    ptr = [a.ctypes.data_as(I8) for a in (table, x, out)]
    assert lib.tiny_lut_s8(ptr[0], ctypes.c_int32(4), ptr[1], ptr[2]) == 0
    assert lib.tiny_lut_s8(ptr[0], ctypes.c_int32(0), ptr[1], ptr[2]) == 0
    assert lib.tiny_lut_s8(ptr[0], ctypes.c_int32(-1), ptr[1], ptr[2]) == 1        # TINY_ERR_ARG
    assert lib.tiny_lut_s8(None, ctypes.c_int32(4), ptr[1], ptr[2]) == 1


@pytest.mark.parametrize("kind", ["HARD_SWISH", "LOGISTIC"])
@pytest.mark.parametrize("board,kernels,lut", [("qemu-m4-256k", "opt", True), ("qemu-m4-256k", "ref", False),
                                               ("host", "opt", False), ("qemu-m3", "opt", False)])
def test_generated_model_calls(kind: str, board: str, kernels: str, lut: bool) -> None:
    qo = (0.04, -100) if kind == "HARD_SWISH" else (1 / 256, -128)
    g, _ = unary_graph(kind, (1, 4, 4, 8), (0.05, 3), qo)
    c = compile_graph(g, Target(board=board, kernels=kernels))
    src = c.files["model.c"]
    fn = LUT if lut else PORTABLE[kind][0]
    assert c.kernels == {0: fn} and kernel_names(src) == {0: fn}
    assert (f"{LUT}(l0_lut, 128, " in src) == lut and ("static const int8_t l0_lut[256]" in src) == lut


def test_patch_stage_calls_lut() -> None:
    """HARD_SWISH inside a patch stage: the table is a stage declaration, the size per patch."""
    from tiny.passes.patch import build_schedule
    from tiny.passes.patch_geometry import Grid, split_even
    from tiny.pipeline import load_model
    from tiny.interpreter import kernel_for, prepare_all
    from tiny.train import data
    g = load_model(data.base_model("irb"))
    k = 14
    inside = [op.index for op in g.ops[:k] if op.type == "HARD_SWISH"]
    assert inside
    base = [int(kernel_for(op).scratch_bytes(p)) for op, p in zip(g.ops, prepare_all(g))]
    _, h, w, _ = g.tensors[g.ops[k - 1].outputs[0]].shape
    s = build_schedule(g, k, Grid(split_even(h, 2), split_even(w, 2)), base)
    c = compile_graph(g, Target(board="qemu-m4-256k"), schedule=s)
    src = c.files["model.c"]
    for i in inside:
        c_out = g.tensors[g.ops[i].outputs[0]].shape[3]
        assert c.kernels[i] == LUT
        assert f"{LUT}(l{i}_lut, (1 * pg->out_h * pg->out_w * {c_out}), " in src
        assert f"static const int8_t l{i}_lut[256]" in src


def test_lut_tables_count_as_flash() -> None:
    """Each table is 256 bytes of constant data: the flash budget check must see it."""
    from tests import models
    from tiny.frontend.tflite import load
    g = load(models.mobilenet_v3_small(96, 96))
    opt = compile_graph(g, Target(board="qemu-m4-256k"))
    n = sum(f == LUT for f in opt.kernels.values())
    assert n == sum(op.type == "HARD_SWISH" for op in g.ops) > 0
    assert opt.const_bytes - compile_graph(g, Target(board="host")).const_bytes == 256 * n
