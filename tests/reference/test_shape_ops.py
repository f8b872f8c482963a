"""TRANSPOSE, SUM, REDUCE_MAX, MEAN over one axis, RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR,
SQUEEZE, EXPAND_DIMS: tiny's numpy reference against TFLM on converted int8 models.

Each model carries many branches of one family as several outputs, so one conversion covers
every mode (align_corners / half_pixel_centers, axis sets, keep_dims, permutations)."""
from __future__ import annotations

import numpy as np
import pytest

from tests.reference._tf_func import const, func_graph
from tests.reference._tf_models import tf
from tests.reference.test_add import check_ops
from tiny.ir import IRError
from tiny.interpreter import kernel_for


def _conv(x, rng, c_out):
    T = tf()
    return T.nn.conv2d(x, const(rng, (3, 3, int(x.shape[-1]), c_out)), 1, "SAME") + const(rng, (c_out,), 0.3)


def test_transpose_and_reductions() -> None:
    """The PyTorch-export pattern: NHWC -> NCHW, then one-axis reductions; other perms and ranks."""
    T = tf()
    rng = np.random.default_rng(0)

    def fn(x):
        y = _conv(x, rng, 6)
        nchw = T.transpose(y, [0, 3, 1, 2])
        m = T.reduce_mean(T.reduce_mean(nchw, axis=3), axis=2)
        return (m, T.transpose(y, [0, 2, 1, 3]), T.transpose(T.reshape(y, (1, 35, 6)), [2, 0, 1]),
                T.transpose(T.reshape(y, (35, 6)), [1, 0]),
                T.reduce_sum(nchw, axis=1, keepdims=True), T.reduce_sum(y, axis=[1, 2]),
                T.reduce_max(nchw, axis=[2, 3]), T.reduce_max(y, axis=-1, keepdims=True),
                T.reduce_max(y, axis=[0, 1, 2, 3]), T.reduce_mean(y, axis=[1, 3], keepdims=True))
    g = func_graph(fn, [(1, 5, 7, 3)], seed=1)
    kinds = {op.type for op in g.ops}
    assert {"TRANSPOSE", "MEAN", "SUM", "REDUCE_MAX"} <= kinds, kinds
    for seed in range(2):
        check_ops(g, ["TRANSPOSE", "MEAN", "SUM", "REDUCE_MAX"], seed=seed)


def test_resize_modes() -> None:
    """Nearest and bilinear, up and down, with align_corners / half_pixel_centers."""
    T = tf()
    rng = np.random.default_rng(2)

    def fn(x):
        y = _conv(x, rng, 4)
        outs = []
        for size in ((10, 14), (3, 5), (5, 7), (1, 1), (11, 4)):
            for align, half in ((False, False), (True, False), (False, True)):
                outs.append(T.compat.v1.image.resize_nearest_neighbor(y, size, align_corners=align,
                                                                      half_pixel_centers=half))
                outs.append(T.compat.v1.image.resize_bilinear(y, size, align_corners=align,
                                                              half_pixel_centers=half))
        return tuple(outs)
    g = func_graph(fn, [(1, 5, 7, 3)], seed=3, ranges=[3.0])
    modes = {(op.type, op.attrs["align_corners"], op.attrs["half_pixel_centers"]) for op in g.ops
             if op.type.startswith("RESIZE")}
    assert len(modes) == 6, modes
    for seed in range(2):
        check_ops(g, ["RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR"], seed=seed)


def test_squeeze_expand_dims_and_float_io() -> None:
    """SQUEEZE / EXPAND_DIMS are copies; the model takes float32 and returns float32 (QUANTIZE /
    DEQUANTIZE at its edges) and has two outputs: every tensor must match TFLM."""
    T = tf()
    rng = np.random.default_rng(4)

    def fn(x):
        y = T.nn.relu(_conv(x, rng, 5))
        p = T.reduce_mean(y, axis=[1, 2], keepdims=True)            # (1, 1, 1, 5)
        s = T.squeeze(p, axis=[1, 2])                                 # (1, 5)
        e = T.expand_dims(T.reduce_max(y, axis=[1, 2]), axis=1)     # (1, 1, 5)
        return T.matmul(s, const(rng, (5, 3))), e
    g = func_graph(fn, [(1, 6, 6, 2)], seed=5, float_io=True)
    kinds = [op.type for op in g.ops]
    assert kinds[0] == "QUANTIZE" and kinds.count("DEQUANTIZE") == 2 and len(g.outputs) == 2, kinds
    assert g.tensors[g.inputs[0]].dtype == "float32"
    assert {"SQUEEZE", "EXPAND_DIMS"} & set(kinds) or "RESHAPE" in kinds, kinds
    for seed in range(2):
        check_ops(g, list(set(kinds)), seed=seed, whole_graph=True)


def test_slice() -> None:
    T = tf()
    rng = np.random.default_rng(9)

    def fn(x):
        y = _conv(x, rng, 5)
        return (T.slice(y, [0, 1, 2, 1], [1, 3, -1, 3]), T.slice(T.reshape(y, (1, 35, 5)), [0, 4, 0], [1, 20, 5]),
                T.slice(T.reshape(y, (35, 5)), [30, 2], [5, 3]))
    g = func_graph(fn, [(1, 5, 7, 3)], seed=10)
    assert [op.type for op in g.ops].count("SLICE") == 3, [op.type for op in g.ops]
    for seed in range(2):
        check_ops(g, ["SLICE"], seed=seed)


def test_strided_slice() -> None:
    """STRIDED_SLICE on activations: steps, negative steps and indices, begin/end masks, shrink."""
    T = tf()
    rng = np.random.default_rng(13)

    def fn(x):
        y = _conv(x, rng, 6)
        return (y[:, 1:4, ::2, :], y[:, -1], y[:, ::-1, 1:, ::3], y[:, :, -2:-6:-2, 2:5], y[0, 2, :, -1])
    g = func_graph(fn, [(1, 5, 7, 3)], seed=14)
    assert [op.type for op in g.ops].count("STRIDED_SLICE") >= 3, [op.type for op in g.ops]
    for seed in range(2):
        check_ops(g, ["STRIDED_SLICE"], seed=seed)


def test_batch_matmul() -> None:
    """Attention-style products of two activations: plain, adj_x, adj_y, broadcast batch."""
    T = tf()
    rng = np.random.default_rng(11)

    def fn(x, y):
        a = T.reshape(_conv(x, rng, 6), (1, 6, 30))
        b = T.reshape(y, (1, 30, 5))
        return (T.matmul(a, b), T.matmul(a, a, transpose_b=True), T.matmul(a, a, transpose_a=True),
                T.matmul(T.reshape(a, (2, 3, 30)), b))
    g = func_graph(fn, [(1, 5, 6, 3), (1, 1, 5, 30)], seed=12, ranges=[2.0, 1.0])
    bm = [op for op in g.ops if op.type == "BATCH_MATMUL"]
    assert len(bm) >= 3 and {(o.attrs["adj_x"], o.attrs["adj_y"]) for o in bm} >= {(False, False)}, \
        [(op.type, op.attrs) for op in g.ops]
    for seed in range(2):
        check_ops(g, ["BATCH_MATMUL"], seed=seed)


@pytest.mark.parametrize("padding,stride,act", [
    ("same", 2, None), ("valid", 3, "relu"),
    pytest.param("same", 1, None, marks=pytest.mark.slow), pytest.param("valid", 2, None, marks=pytest.mark.slow)])
def test_transpose_conv(padding: str, stride: int, act: str | None) -> None:
    from tests.reference.test_add import keras_graph
    L = tf().keras.layers
    g = keras_graph(lambda x: L.Conv2DTranspose(5, 3, strides=stride, padding=padding, activation=act)(x),
                    [(4, 5, 3)], [2.0], seed=stride)
    assert "TRANSPOSE_CONV" in [op.type for op in g.ops], [op.type for op in g.ops]
    for seed in range(2):
        check_ops(g, ["TRANSPOSE_CONV"], seed=seed)


def test_errors_name_the_op() -> None:
    T = tf()
    g = func_graph(lambda x: T.transpose(x, [0, 2, 1, 3]), [(1, 3, 4, 2)], seed=6)
    op = next(o for o in g.ops if o.type == "TRANSPOSE")
    bad = dict(g.tensors)
    pt = bad[op.inputs[1]]
    from dataclasses import replace
    bad[op.inputs[1]] = replace(pt, data=np.array([0, 1, 1, 3], dtype=np.int32))
    with pytest.raises(IRError, match=r"op #\d+ TRANSPOSE .*not a permutation"):
        kernel_for(op).prepare(replace(g, tensors=bad), op)


@pytest.mark.slow
def test_seeded_resize_and_transpose_sweep() -> None:
    T = tf()
    for seed in range(6):
        rng = np.random.default_rng(100 + seed)
        h, w, c = (int(v) for v in rng.integers(1, 9, 3))
        sizes = [tuple(int(v) for v in rng.integers(1, 17, 2)) for _ in range(3)]
        perm = [int(v) for v in rng.permutation(4)]
        axes = sorted({int(v) for v in rng.integers(0, 4, int(rng.integers(1, 4)))})

        def fn(x):
            y = _conv(x, rng, c)
            outs = [T.transpose(y, perm), T.reduce_max(y, axis=axes), T.reduce_sum(y, axis=axes),
                    T.reduce_mean(y, axis=axes[:1])]
            for s in sizes:
                for align, half in ((False, False), (True, False), (False, True)):
                    outs.append(T.compat.v1.image.resize_nearest_neighbor(y, s, align_corners=align,
                                                                          half_pixel_centers=half))
                    outs.append(T.compat.v1.image.resize_bilinear(y, s, align_corners=align,
                                                                  half_pixel_centers=half))
            return tuple(outs)
        g = func_graph(fn, [(1, h, w, 2)], seed=seed, ranges=[float(np.exp(rng.uniform(-3, 3)))])
        kinds = sorted({op.type for op in g.ops} - {"CONV_2D", "QUANTIZE", "RESHAPE"})
        for k in range(2):
            check_ops(g, kinds, seed=k)


def test_elementwise_ops() -> None:
    """SUB (broadcast, both operand orders), MAXIMUM / MINIMUM, RELU, RELU6, LEAKY_RELU and TANH (two
    input scales) (Keras) in one model with several outputs."""
    T = tf()
    k = T.keras
    rng = np.random.default_rng(7)
    a_in = k.Input((5, 6, 4), batch_size=1)
    b_in = k.Input((1, 6, 4), batch_size=1)
    L = k.layers
    a = L.Conv2D(4, 3, padding="same")(a_in)
    outs = [L.Subtract()([a, b_in]), L.Subtract()([b_in, a]), L.Maximum()([a, b_in]), L.Minimum()([a, b_in]),
            L.ReLU()(a), L.ReLU(max_value=6.0)(a), L.LeakyReLU(negative_slope=0.15)(a),
            L.Activation("tanh")(a), L.Activation("tanh")(L.Rescaling(0.05)(a))]
    model = k.Model([a_in, b_in], outs)
    from tests.reference._tf_models import randomize
    randomize(model, 3)
    reps = [[rng.uniform(-3, 3, (1, 5, 6, 4)).astype(np.float32), rng.uniform(-1, 1, (1, 1, 6, 4)).astype(np.float32)]
            for _ in range(16)]
    from tiny.frontend.keras import quantize
    from tiny.frontend.tflite import load_bytes

    def rep():
        yield from reps
    g = load_bytes(quantize(model, rep), name="eltwise")
    kinds = {op.type for op in g.ops}
    want = {"SUB", "MAXIMUM", "MINIMUM", "RELU", "RELU6", "LEAKY_RELU", "TANH"}
    assert want <= kinds, kinds
    for seed in range(3):
        check_ops(g, sorted(want), seed=seed)


def test_prelu_and_squeeze() -> None:
    """PRELU and SQUEEZE, which the converter does not emit for int8 from TF code: a converted
    MAXIMUM(x, alpha) has its opcode rewritten to PRELU (alpha: a per-channel int8 constant broadcast
    over h and w), a RESHAPE to SQUEEZE. TFLM runs the rewritten model; tiny must match it."""
    from tests.reference._tf_func import func_tflite, retype_ops
    from tiny.frontend.tflite import load_bytes
    T = tf()
    rng = np.random.default_rng(8)
    alpha = T.constant(rng.uniform(-0.6, 0.9, (1, 1, 1, 4)).astype(np.float32))

    def fn(x):
        y = _conv(x, rng, 4)
        return T.maximum(y, alpha), T.reshape(T.reduce_mean(y, axis=[1, 2], keepdims=True), (4,))
    buf = func_tflite(fn, [(1, 5, 6, 3)], seed=8, ranges=[2.0])
    buf = retype_ops(retype_ops(buf, "MAXIMUM", "PRELU"), "RESHAPE", "SQUEEZE", drop_inputs_after=1)
    g = load_bytes(buf, name="prelu")
    kinds = [op.type for op in g.ops]
    assert "PRELU" in kinds and "SQUEEZE" in kinds, kinds
    for seed in range(3):
        check_ops(g, ["PRELU", "SQUEEZE"], seed=seed, whole_graph=True)
