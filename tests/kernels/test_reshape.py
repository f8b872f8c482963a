"""tiny_reshape_s8 (C) against tiny.reference.reshape.run."""
from __future__ import annotations

import ctypes as C

import numpy as np
import pytest

from tests.kernels.cbuild import build_lib
from tests.kernels.test_conv2d import UBSAN, ptr, qtensor
from tiny.ir import Graph, IRError, Op, Tensor
from tiny.ops import reshape


def graph(shape: tuple[int, ...], new: tuple[int, ...], dtype: str = "int8") -> tuple[Graph, Op]:
    t = {0: qtensor(0, shape, 0.1, 3, dtype=dtype), 1: Tensor(1, "shape", (len(new),), "int32", None,
                                                               np.array(new, np.int32)),
         2: qtensor(2, tuple(abs(v) for v in new), 0.1, 3, dtype=dtype)}
    op = Op(0, "RESHAPE", [0, 1], [2], {})
    return Graph(t, [op], [0], [2]), op


@pytest.mark.parametrize("flags", [(), UBSAN])
def test_reshape_c_copies(flags: tuple[str, ...]) -> None:
    lib = build_lib(["kernels/ref/reshape_s8.c"], flags=flags)
    rng = np.random.default_rng(51)
    for dtype, np_t in (("int8", np.int8), ("float32", np.float32), ("int32", np.int32)):
        g, op = graph((1, 3, 4, 5), (1, 60), dtype)
        p = reshape.prepare(g, op)
        x = rng.integers(-128, 128, (1, 3, 4, 5)).astype(np_t)
        want = reshape.run(p, [x, None])
        assert want.shape == (1, 60) and np.array_equal(want.reshape(-1), x.reshape(-1))
        out = np.zeros((1, 60), np_t)
        assert lib.tiny_reshape_s8(ptr(x, C.c_int8), ptr(out, C.c_int8), p.nbytes) == 0
        assert np.array_equal(out, want)
        assert lib.tiny_reshape_s8(ptr(out, C.c_int8), ptr(out, C.c_int8), p.nbytes) == 0  # in place
        assert np.array_equal(out, want)


def test_reshape_prepare_checks_sizes() -> None:
    g, op = graph((1, 3, 4, 5), (1, 60))
    g.tensors[2].shape = (1, 59)
    with pytest.raises(IRError, match="#0 RESHAPE"):
        reshape.prepare(g, op)
