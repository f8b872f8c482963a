"""SPLIT, SPLIT_V, UNPACK and PACK on int8 activations: tiny's numpy reference against TFLM on
converted models, every output of each op (consumed by later ops or model outputs), positive and
negative axes, SPLIT_V with a -1 size."""
from __future__ import annotations

import numpy as np
import pytest

from tests.reference._tf_func import const, func_graph
from tests.reference._tf_models import tf
from tests.reference.test_add import check_ops
from tiny.ir import IRError
from tiny.ops import opdef


def _conv(x, rng, c_out):
    T = tf()
    return T.nn.conv2d(x, const(rng, (3, 3, int(x.shape[-1]), c_out)), 1, "SAME")


def test_split_and_split_v() -> None:
    T = tf()
    rng = np.random.default_rng(0)

    def fn(x):
        y = _conv(x, rng, 6)
        a, b, c = T.split(y, 3, axis=-1)                    # SPLIT, negative axis
        d, e = T.split(y, [2, -1], axis=1)                  # SPLIT_V with a -1
        f, h, k = T.split(y, [1, 4, 2], axis=2)             # SPLIT_V, middle axis
        return a + c, T.nn.relu(b), d, T.nn.relu6(e), h, T.concat([f, k], axis=2)
    g = func_graph(fn, [(1, 5, 7, 3)], seed=1)
    kinds = [op.type for op in g.ops]
    assert kinds.count("SPLIT") >= 1 and kinds.count("SPLIT_V") >= 2, kinds
    for seed in range(2):
        check_ops(g, ["SPLIT", "SPLIT_V"], seed=seed, whole_graph=True)


def test_unpack_and_pack() -> None:
    T = tf()
    rng = np.random.default_rng(2)

    def fn(x):
        y = T.reshape(_conv(x, rng, 6), (5, 7, 6))
        u = T.unstack(y[:, :3, :], axis=1)                  # UNPACK, 3 outputs
        v = T.unstack(T.reshape(y, (5, 21, 2)), axis=-1)    # UNPACK, negative axis
        return T.stack([u[0], u[2]], axis=-1), u[1], T.stack([v[1], v[0]], axis=0)
    # Every output used: with dead UNPACK outputs the converter at times leaves the op in float.
    g = func_graph(fn, [(1, 5, 7, 3)], seed=3)
    kinds = [op.type for op in g.ops]
    assert kinds.count("UNPACK") == 2 and kinds.count("PACK") == 2, kinds
    for seed in range(2):
        check_ops(g, ["UNPACK", "PACK"], seed=seed, whole_graph=True)


def test_split_rank2() -> None:
    """Rank-2 data (the converter leaves splits along axis 0, the batch, in float; the kernel tests
    cover axis 0)."""
    T = tf()
    rng = np.random.default_rng(6)

    def fn(x):
        y = T.reshape(_conv(x, rng, 6), (35, 6))
        s0, s1, s2 = T.split(y, 3, axis=-1)
        g0, g1 = T.split(y, [2, 4], axis=1)
        return s0 + s2, s1, T.nn.relu(g1), g0
    g = func_graph(fn, [(1, 5, 7, 3)], seed=7)
    assert {"SPLIT", "SPLIT_V"} <= {op.type for op in g.ops}
    for seed in range(2):
        check_ops(g, ["SPLIT", "SPLIT_V"], seed=seed, whole_graph=True)


def test_split_rejects_a_non_constant_axis_and_uneven_split() -> None:
    T = tf()
    rng = np.random.default_rng(4)
    g = func_graph(lambda x: T.split(_conv(x, rng, 6), 2, axis=-1), [(1, 3, 3, 2)], seed=5)
    op = next(op for op in g.ops if op.type == "SPLIT")
    g.tensors[op.inputs[0]].data = np.array(1, dtype=np.int32).reshape(g.tensors[op.inputs[0]].shape)
    with pytest.raises(IRError, match=r"op #\d+ SPLIT \(output '.*'\): .*equal pieces"):
        opdef(op).prepare(g, op)
