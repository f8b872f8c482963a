"""The oracle's gradients vs TensorFlow autodiff on the equivalent fake-quant float graph.

The TF graph uses the dequantized weights (W = s_w w_q, b = s_x s_w b_q) and, after every op, the
straight-through fake-quant identity  y = m * pre + stop_gradient(real(int8 output) - m * pre),
where m is the clamp mask of the int8 output: its forward values are exactly the int8 forward's
and its gradient is the clamp mask, the semantics the oracle implements. The two then differ only
by float32 summation order (TF's convolution/matmul backward vs the oracle's sequential sums), so
the tolerance is a relative L2 error of 1e-4 per gradient tensor (measured: ~1e-7).
"""
from __future__ import annotations

import numpy as np
import pytest

from tiny.ops.resize import resize_sources
from tiny.train.api import training_plan
from tiny.train.config import load_config
from tiny.reference.train import TrainOracle
from tiny.train.float_ref import bilinear_gather

tf = pytest.importorskip("tensorflow")
TOL = 1e-4


def _real(t, q):
    return np.float32(t.quant.s()) * (q.astype(np.float32) - np.float32(t.quant.zp()))


def tf_grads(oracle: TrainOracle, x: np.ndarray, label: int) -> dict[tuple[int, str], np.ndarray]:
    g, plan = oracle.g, oracle.plan
    vals = oracle.forward(x)
    bw = sorted(s.op for s in plan.steps if s.kind != "ce")
    env: dict[int, object] = {}
    var: dict[tuple[int, str], tf.Variable] = {}

    def inp(tid):
        if tid not in env:
            t = g.tensors[tid]
            env[tid] = tf.constant(_real(t, np.asarray(t.data) if t.is_const else vals[tid]))
        return env[tid]

    with tf.GradientTape() as tape:
        for i in bw:
            op, p = g.ops[i], oracle.params[i]
            t_out = g.tensors[op.outputs[0]]
            if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
                ws, bs = oracle.wscale[i], oracle.bscale[i]
                filt = p.filter.astype(np.float32)
                if op.type == "FULLY_CONNECTED":
                    filt = filt + np.float32(p.filter_offset)
                W = tf.Variable(filt * ws.reshape((-1,) + (1,) * (filt.ndim - 1)) if op.type != "DEPTHWISE_CONV_2D"
                                else filt * ws.reshape(1, 1, 1, -1))
                var[(i, "w")] = W
                if p.bias is not None:                  # (a layer without a bias: nothing to check)
                    B = var[(i, "b")] = tf.Variable(p.bias.astype(np.float32) * bs)
                else:
                    B = tf.zeros(t_out.shape[-1])
                x_in = inp(op.inputs[0])
                if op.type == "FULLY_CONNECTED":
                    pre = tf.matmul(tf.reshape(x_in, (1, -1)), W, transpose_b=True) + B
                else:
                    pad = [[0, 0], [p.pad_top, p.pad_bottom], [p.pad_left, p.pad_right], [0, 0]]
                    xp = tf.pad(x_in, pad)
                    st = [1, p.stride_h, p.stride_w, 1]
                    if op.type == "CONV_2D":
                        pre = tf.nn.conv2d(xp, tf.transpose(W, (1, 2, 3, 0)), st, "VALID") + B
                    else:
                        pre = tf.nn.depthwise_conv2d(xp, tf.transpose(W, (1, 2, 3, 0)), st, "VALID") + B
            elif op.type in ("MEAN", "REDUCE_MAX"):
                # TF's max gradient splits an output's among its tied maxima (equal int8 inputs)
                axes = [int(a) for a in np.asarray(g.tensors[op.inputs[1]].data).reshape(-1)]
                f = tf.reduce_mean if op.type == "MEAN" else tf.reduce_max
                pre = f(inp(op.inputs[0]), axis=axes, keepdims=bool(op.attrs.get("keep_dims", False)))
            elif op.type in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
                # TF's SAME windows are TFLite's; its average counts only in-image pixels, its max
                # gradient goes to the first maximum of a window (row-major)
                pool = tf.nn.max_pool2d if op.type == "MAX_POOL_2D" else tf.nn.avg_pool2d
                pre = pool(inp(op.inputs[0]), (p.filter_h, p.filter_w), (p.stride_h, p.stride_w),
                           op.attrs["padding"])
            elif op.type == "RESHAPE":
                pre = inp(op.inputs[0])
            elif op.type == "TRANSPOSE":
                pre = tf.transpose(inp(op.inputs[0]), list(p.perm))
            elif op.type == "CONCATENATION":
                pre = tf.concat([inp(t) for t in op.inputs], axis=int(op.attrs.get("axis", 0)))
            elif op.type == "ADD":
                pre = inp(op.inputs[0]) + inp(op.inputs[1])
            elif op.type == "MUL":
                pre = inp(op.inputs[0]) * inp(op.inputs[1])
            elif op.type == "SUB":
                pre = inp(op.inputs[0]) - inp(op.inputs[1])
            elif op.type in ("MAXIMUM", "MINIMUM"):      # TF's gradient: ties go to the first input
                pre = (tf.maximum if op.type == "MAXIMUM" else tf.minimum)(inp(op.inputs[0]), inp(op.inputs[1]))
            elif op.type == "RESIZE_NEAREST_NEIGHBOR":     # TF's gather: its gradient scatter-adds
                rows, cols = resize_sources(p)
                pre = tf.gather(tf.gather(inp(op.inputs[0]), rows, axis=1), cols, axis=2)
            elif op.type == "RESIZE_BILINEAR":
                # the int8 kernel's Q10 weights on gathered corners (TF's gather and product gradients);
                # TF's own ResizeBilinear (float weights) must give nearly that gradient
                pre = bilinear_gather(tf, inp(op.inputs[0]), p)
                _bilinear_near_tf(inp(op.inputs[0]).numpy(), p)
            elif op.type == "PRELU":
                # TF's own PReLU (relu(x) - alpha relu(-x)) has slope 0 at x = 0; the int8 kernel takes
                # the x >= 0 branch there, and the backward its slope 1
                x_in, alpha = inp(op.inputs[0]), inp(op.inputs[1])
                pre = tf.where(x_in >= 0.0, x_in, alpha * x_in)
            elif op.type in ("RELU", "RELU6"):
                pre = (tf.nn.relu if op.type == "RELU" else tf.nn.relu6)(inp(op.inputs[0]))
            elif op.type == "LEAKY_RELU":
                pre = tf.nn.leaky_relu(inp(op.inputs[0]), alpha=float(np.float32(op.attrs.get("alpha", 0.2))))
            elif op.type in ("LOGISTIC", "TANH"):
                # the derivative is read off the int8 output (what the runtime keeps): y (1 - y), 1 - y^2;
                # TF's own at the float input must agree with it to the output's quantization
                x_in = inp(op.inputs[0])
                y = _real(t_out, vals[op.outputs[0]])
                d = y * (1 - y) if op.type == "LOGISTIC" else 1 - y * y
                with tf.GradientTape() as t2:
                    t2.watch(x_in)
                    f = tf.sigmoid(x_in) if op.type == "LOGISTIC" else tf.tanh(x_in)
                exact = t2.gradient(f, x_in).numpy()
                assert np.abs(exact - d).max() <= 3 * t_out.quant.s(), (op.type, np.abs(exact - d).max())
                pre = tf.stop_gradient(d) * x_in
            elif op.type == "GELU":       # TF's own derivative at the int8 input's real value
                pre = tf.nn.gelu(inp(op.inputs[0]), approximate=bool(op.attrs.get("approximate", False)))
            elif op.type == "ELU" or (op.type == "TABLE_LOOKUP" and op.attrs["island"] == "ELU"):
                pre = tf.nn.elu(inp(op.inputs[0]))       # (a float ELU island folded into a table)
            elif op.type == "PAD":
                pre = tf.pad(inp(op.inputs[0]), np.asarray(g.tensors[op.inputs[1]].data).reshape(-1, 2))
            else:
                raise AssertionError(op.type)
            q = vals[op.outputs[0]]
            lo, hi = getattr(p, "act_min", -128), getattr(p, "act_max", 127)
            # the clamp mask of the int8 output; none where the plan keeps none (a mean, a reshape, a
            # pool without a fused activation: its output lies in its input's range), and none on the
            # logits (tiny.train.api.logits_straight_through)
            unclamped = op.type in ("MEAN", "RESHAPE", "TRANSPOSE", "PAD", "CONCATENATION", "LOGISTIC", "TANH",
                                    "MAXIMUM", "MINIMUM", "RESIZE_NEAREST_NEIGHBOR", "REDUCE_MAX",
                                    "RESIZE_BILINEAR", "GELU", "ELU", "TABLE_LOOKUP") \
                or (op.type.endswith("POOL_2D") and (lo, hi) == (-128, 127)) \
                or op.outputs[0] == plan.logits
            m = np.ones(q.shape, np.float32) if unclamped else ((q > lo) & (q < hi)).astype(np.float32)
            pre = tf.reshape(pre, t_out.shape)
            env[op.outputs[0]] = m * pre + tf.stop_gradient(_real(t_out, q) - m * pre)
        logits = tf.reshape(env[plan.logits], (1, -1))
        if g.tensors[plan.logits].size == 1:    # a one-logit (sigmoid) head: binary cross-entropy
            loss = tf.nn.sigmoid_cross_entropy_with_logits(tf.constant([[float(label)]]), logits)
        else:
            loss = tf.nn.sparse_softmax_cross_entropy_with_logits([label], logits)
    grads = tape.gradient(loss, list(var.values()))
    out = {}
    for (i, role), gr in zip(var, grads):
        gr = gr.numpy()
        if role == "w" and g.ops[i].type == "DEPTHWISE_CONV_2D":
            gr = gr[0].transpose(2, 0, 1)      # oracle layout (channel, kh*kw)
        out[(i, role)] = gr.reshape(gr.shape[0], -1) if role == "w" else gr
    return out


def _bilinear_near_tf(x: np.ndarray, p) -> None:
    """The input gradient of the int8 kernel's bilinear weights against TF's ResizeBilinear (float
    positions) for a random output gradient: they differ by the Q10 rounding of the scale only."""
    xv = tf.constant(x)
    r = tf.constant(np.random.default_rng(0).standard_normal(p.out_shape).astype(np.float32))
    with tf.GradientTape(persistent=True) as t:
        t.watch(xv)
        mine = tf.reduce_sum(r * bilinear_gather(tf, xv, p))
        own = tf.reduce_sum(r * tf.raw_ops.ResizeBilinear(images=xv, size=p.out_shape[1:3],
                                                           align_corners=bool(p.align_corners),
                                                           half_pixel_centers=bool(p.half_pixel_centers)))
    a, b = t.gradient(mine, xv).numpy(), t.gradient(own, xv).numpy()
    assert np.linalg.norm(a - b) <= 1e-2 * np.linalg.norm(b), np.linalg.norm(a - b) / np.linalg.norm(b)


def _check(oracle: TrainOracle, xtr: np.ndarray, ytr: np.ndarray) -> None:
    worst = 0.0
    for k in range(3):
        ref = tf_grads(oracle, xtr[k:k + 1], int(ytr[k]))
        oracle.step(xtr[k:k + 1], int(ytr[k]))
        for key, got in oracle.last_grads.items():
            want = ref[key][:got.shape[0]] if key[1] == "w" else ref[key]
            want = want.reshape(got.shape)
            err = np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-30)
            worst = max(worst, err)
            assert err < TOL, (key, err)
    assert worst < TOL


@pytest.mark.parametrize("recipe", ["full", "sparse"])
def test_oracle_gradients_match_tf(base_graph, transfer_data, recipe: str) -> None:
    xtr, ytr, _, _ = transfer_data
    plan = training_plan(base_graph, load_config(recipe))
    _check(TrainOracle(plan, lr=0.0), xtr, ytr)     # lr 0: weights stay, every step sees the same graph


def test_gradients_through_pools_match_tf() -> None:
    """Max pools (2x2 VALID on an odd plane, overlapping 3x3 s2 SAME), an overlapping SAME average pool
    with a fused ReLU6, a reshape: every layer's gradients against TF's MaxPoolGrad / AvgPoolGrad."""
    from tests import models
    from tiny.pipeline import load_model
    from tiny.train import data as tdata
    g = load_model(str(models.pooling_cnn()))
    t = g.tensors[g.inputs[0]]
    xtr, ytr, _, _ = tdata.load("digits-transfer", t.shape, t.quant.s(), t.quant.zp(), 10)
    plan = training_plan(g, load_config("full"))
    assert {s.kind for s in plan.steps} >= {"maxpool", "avgpool", "copy"}
    _check(TrainOracle(plan, lr=0.0), xtr, ytr)
