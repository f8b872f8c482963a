"""tiny_mul_s8 (C) against tiny.reference.mul (numpy), bit for bit, over random shapes,
broadcast patterns (incl. squeeze-excite and scalar constants), scales and activations."""
from __future__ import annotations

import ctypes

import numpy as np
import pytest

from tests.kernels.cbuild import build_lib
from tests.kernels.test_add import ACTS, binary_graph, compile_emitted, random_shapes, run_c
from tiny.ir import IRError
from tiny.ops import add, mul


@pytest.fixture(scope="module")
def lib() -> ctypes.CDLL:
    return build_lib(["kernels/ref/mul_s8.c"])


def test_random_sweep(lib: ctypes.CDLL) -> None:
    rng = np.random.default_rng(99)
    done, left_shifts = 0, 0
    for _ in range(400):
        s1, s2, so = random_shapes(rng)
        if add.broadcast_layout(s1, s2, so) is None:
            continue
        scales = np.exp(rng.uniform(np.log(1e-3), np.log(10.0), 2))
        # Output scales from far below to far above s1 * s2: multipliers shift left and right.
        out_scale = float(scales[0] * scales[1] * np.exp(rng.uniform(np.log(1e-3), np.log(1e4))))
        quants = [(float(scales[0]), int(rng.integers(-128, 128))), (float(scales[1]), int(rng.integers(-128, 128))),
                  (out_scale, int(rng.integers(-128, 128)))]
        g, op = binary_graph("MUL", s1, s2, so, quants, ACTS[int(rng.integers(0, 4))])
        p = mul.prepare(g, op)
        left_shifts += p.out_shift > 0
        a = rng.integers(-128, 128, s1).astype(np.int8)
        b = rng.integers(-128, 128, s2).astype(np.int8)
        np.testing.assert_array_equal(run_c(lib, "tiny_mul_s8", mul.PARAM_FIELDS, p, a, b), mul.run(p, [a, b]))
        done += 1
    assert done > 350 and left_shifts > 20


def test_squeeze_excite_and_scalar_constant(lib: ctypes.CDLL) -> None:
    rng = np.random.default_rng(5)
    x = rng.integers(-128, 128, (1, 7, 7, 16)).astype(np.int8)
    gate = rng.integers(-128, 128, (1, 1, 1, 16)).astype(np.int8)
    g, op = binary_graph("MUL", x.shape, gate.shape, x.shape, [(0.05, -3), (1 / 256, -128), (0.04, 2)])
    p = mul.prepare(g, op)
    want = mul.run(p, [x, gate])
    np.testing.assert_array_equal(run_c(lib, "tiny_mul_s8", mul.PARAM_FIELDS, p, x, gate), want)
    # Broadcasting pairs each pixel with the gate of its channel: check one element by hand.
    real = 0.05 * (int(x[0, 3, 4, 5]) + 3) * (1 / 256) * (int(gate[0, 0, 0, 5]) + 128)
    assert abs((int(want[0, 3, 4, 5]) - 2) * 0.04 - real) <= 0.04
    sixth = np.array(85, dtype=np.int8)     # hard-sigmoid's "* 1/6" as a scalar constant
    g, op = binary_graph("MUL", (1, 1, 1, 16), (), (1, 1, 1, 16), [(0.02, -128), (1 / 510, 0), (1 / 256, -128)],
                         const2=sixth)
    p = mul.prepare(g, op)
    assert "op0_in2" in compile_emitted(mul, p, 2)
    np.testing.assert_array_equal(run_c(lib, "tiny_mul_s8", mul.PARAM_FIELDS, p, gate, sixth), mul.run(p, [gate, sixth]))


def test_unsupported_is_rejected() -> None:
    g, op = binary_graph("MUL", (4,), (4,), (4,), [(0.1, 0), (0.1, 0), (0.1, 0)], "SIGN_BIT")
    with pytest.raises(IRError, match=r"#0 MUL.*SIGN_BIT"):
        mul.prepare(g, op)
    g, op = binary_graph("MUL", (4,), (4,), (4,), [(0.1, 0), (0.1, 0), (0.1, 0)])
    g.tensors[2].dtype = "int16"
    with pytest.raises(IRError, match="output 'out' is int16"):
        mul.prepare(g, op)
