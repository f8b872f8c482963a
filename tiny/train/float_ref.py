"""Float twins of a board run: the same int8 graph dequantized and trained in float32 on the host.

`tiny train` reports two of them beside the board's result (the 256KB paper's QAS comparison, on the
user's own model and data):
  - the float reference: the *same update scheme* (the same layers, bias sets, weight channels and
    trained scales), the same samples in the same order, the same learning-rate schedule, momentum
    and early-stop points; SGD with QAS on int8 equals float SGD with the same rate, so the gap
    between the two is the cost of int8 training alone;
  - the full float fine-tune: every layer trained, the ceiling of what fine-tuning can reach.

The twin is built from the int8 graph (weights and biases dequantized, fused activations kept, the
int8 output clamps dropped) in TensorFlow, one sample per step as on the board.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from tiny.ir import Graph, TinyError
from tiny.train.layers import LayerUpdate

SUPPORTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "MEAN", "ADD", "HARD_SWISH", "RESHAPE",
             "SOFTMAX", "AVERAGE_POOL_2D", "MAX_POOL_2D", "PAD", "LOGISTIC", "QUANTIZE", "DEQUANTIZE", "RELU",
             "RELU6", "MUL", "CONCATENATION", "TRANSPOSE", "TANH", "LEAKY_RELU", "SUB", "MAXIMUM", "MINIMUM",
             "PRELU", "RESIZE_NEAREST_NEIGHBOR", "REDUCE_MAX", "RESIZE_BILINEAR", "GELU", "ELU", "TABLE_LOOKUP")


@dataclass
class FloatRun:
    accuracy_before: float
    accuracy_after: float
    best_step: int
    curve: list[tuple[int, float]]     # (step, held-out accuracy) at every evaluation point


def _deq(t) -> np.ndarray:
    q = t.quant
    d = t.data.astype(np.float64)
    if q is None:
        return d.astype(np.float32)
    s = np.asarray(q.scale, np.float64)
    z = np.asarray(q.zero_point, np.float64)
    if s.size > 1:
        shp = [1] * d.ndim
        shp[q.axis] = s.size
        s, z = s.reshape(shp), z.reshape(shp)
    return ((d - z) * s).astype(np.float32)


def bilinear_gather(tf: Any, x: Any, p: Any) -> Any:
    """RESIZE_BILINEAR of NHWC x as the int8 kernel weighs it (tiny.ops.resize.bilinear_sources): the
    sum over its four corners of the gathered input times the row and column weights."""
    from tiny.ops.resize import bilinear_sources
    (ry, wy), (rx, wx) = bilinear_sources(p)
    y = 0.0
    for a in (0, 1):
        for b in (0, 1):
            xg = tf.gather(tf.gather(x, ry[:, a], axis=1), rx[:, b], axis=2)
            y = y + xg * wy[:, a].reshape(1, -1, 1, 1) * wx[:, b].reshape(1, 1, -1, 1)
    return y


def _on_path(g: Graph, logits: int) -> set[int]:
    """Indices of the ops the logits are computed by (a branch to another output plays no part)."""
    from tiny.train.layers import upstream
    up = upstream(g, logits)
    return {op.index for op in g.ops if op.outputs and op.outputs[0] in up}


def unsupported(g: Graph, logits: int | None = None) -> str | None:
    path = _on_path(g, logits) if logits is not None else {op.index for op in g.ops}
    bad = sorted({op.type for op in g.ops if op.index in path and op.type not in SUPPORTED})
    return f"no float twin for op(s) {', '.join(bad)}" if bad else None


class FloatTwin:
    """The dequantized graph as TensorFlow variables; `train` runs SGD on a chosen set of them."""

    def __init__(self, g: Graph, logits: int, int8_activations: bool = False, grid: Graph | None = None) -> None:
        """int8_activations: every activation is rounded and clamped to its int8 grid in the forward
        (straight-through in the backward), as the board's forward computes it: the same scheme then
        differs from the board only in the int8 updates. grid: the graph whose activation grids those
        are (the board's: the classifier's output scale grows with its weight headroom); default g."""
        import tensorflow as tf
        # each train() call traces its own step function on purpose (its variables differ); TF's
        # "retracing" warning about that would only confuse the user
        tf.get_logger().setLevel("ERROR")
        why = unsupported(g, logits)
        if why:
            raise TinyError(why)
        self.tf, self.g, self.logits = tf, g, logits
        self.path = _on_path(g, logits)
        self.int8_activations = int8_activations
        self.grid = grid if grid is not None else g
        self.vars: dict[tuple[int, str], Any] = {}
        self.init: dict[tuple[int, str], np.ndarray] = {}
        for op in g.ops:
            if op.type not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
                continue
            w = _deq(g.tensors[op.inputs[1]])
            if op.type == "CONV_2D":          # OHWI -> HWIO
                w = w.transpose(1, 2, 3, 0)
            elif op.type == "DEPTHWISE_CONV_2D":  # 1HWC -> HWC1
                w = w[0][..., None]
            else:                             # (O, I) -> (I, O)
                w = w.T
            self.init[(op.index, "w")] = np.ascontiguousarray(w)
            oc = g.tensors[op.outputs[0]].shape[-1]
            b = _deq(g.tensors[op.inputs[2]]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else np.zeros(oc, np.float32)
            self.init[(op.index, "b")] = b.reshape(oc).astype(np.float32)
            self.init[(op.index, "s")] = np.ones(oc, np.float32)
        for k, v in self.init.items():
            self.vars[k] = tf.Variable(v, trainable=True)

    def reset(self) -> None:
        for k, v in self.init.items():
            self.vars[k].assign(v)

    # ------------------------------------------------------------------ forward
    def _act(self, x, kind: str):
        tf = self.tf
        return {"NONE": x, "RELU": tf.nn.relu(x), "RELU6": tf.nn.relu6(x),
                "RELU_N1_TO_1": tf.clip_by_value(x, -1.0, 1.0)}[kind or "NONE"]

    def forward(self, x):
        tf, g = self.tf, self.g
        vals: dict[int, Any] = {g.inputs[0]: x}

        def val(t: int):
            if t in vals:
                return vals[t]
            return tf.constant(_deq(g.tensors[t]))
        for op in g.ops:
            if op.index not in self.path:
                continue
            a = op.attrs
            ins = op.inputs
            t = op.type
            if t in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
                w, b, s = self.vars[(op.index, "w")], self.vars[(op.index, "b")], self.vars[(op.index, "s")]
                xin = val(ins[0])
                if t == "FULLY_CONNECTED":
                    y = tf.matmul(tf.reshape(xin, (-1, w.shape[0])), w)
                else:
                    pad = a.get("padding", "SAME")
                    st = (1, a.get("stride_h", 1), a.get("stride_w", 1), 1)
                    dil = (a.get("dilation_h", 1), a.get("dilation_w", 1))
                    if t == "CONV_2D":
                        y = tf.nn.conv2d(xin, w, st, pad, dilations=dil)
                    else:
                        y = tf.nn.depthwise_conv2d(xin, w, st, pad, dilations=dil)
                y = self._act((y + b) * s, a.get("activation", "NONE"))
            elif t in ("MEAN", "REDUCE_MAX"):     # (TF's max gradient splits ties, as the board's)
                axes = [int(v) for v in np.asarray(g.tensors[ins[1]].data).reshape(-1)]
                f = tf.reduce_mean if t == "MEAN" else tf.reduce_max
                y = f(val(ins[0]), axis=axes, keepdims=bool(a.get("keep_dims", False)))
            elif t in ("ADD", "SUB", "MUL"):
                x0, x1 = val(ins[0]), val(ins[1])
                y = x0 + x1 if t == "ADD" else x0 - x1 if t == "SUB" else x0 * x1
                y = self._act(y, a.get("activation", "NONE"))
            elif t in ("MAXIMUM", "MINIMUM"):
                y = (tf.maximum if t == "MAXIMUM" else tf.minimum)(val(ins[0]), val(ins[1]))
            elif t == "RESIZE_NEAREST_NEIGHBOR":     # the int8 kernel's source rows and columns
                from tiny.ops.resize import prepare, resize_sources
                rows, cols = resize_sources(prepare(g, op))
                y = tf.gather(tf.gather(val(ins[0]), rows, axis=1), cols, axis=2)
            elif t == "RESIZE_BILINEAR":     # the int8 kernel's source pixels and weights
                from tiny.ops.resize import prepare
                y = bilinear_gather(tf, val(ins[0]), prepare(g, op))
            elif t == "PRELU":     # slope 1 for x >= 0 (the int8 kernel's branch), alpha below
                x0 = val(ins[0])
                y = tf.where(x0 >= 0.0, x0, x0 * val(ins[1]))
            elif t == "HARD_SWISH":
                v = val(ins[0])
                y = v * tf.nn.relu6(v + 3.0) / 6.0
            elif t == "GELU":
                y = tf.nn.gelu(val(ins[0]), approximate=bool(a.get("approximate", False)))
            elif t == "ELU":
                y = tf.nn.elu(val(ins[0]))
            elif t == "TABLE_LOOKUP":      # a float island folded at load: its float ops in turn
                y = val(ins[0])
                for name in a["island"].split("/"):
                    y = {"ELU": tf.nn.elu}[name](y)
            elif t == "LOGISTIC":
                y = tf.sigmoid(val(ins[0]))
            elif t == "TANH":
                y = tf.tanh(val(ins[0]))
            elif t == "LEAKY_RELU":
                y = tf.nn.leaky_relu(val(ins[0]), alpha=float(a.get("alpha", 0.2)))
            elif t == "RELU":
                y = tf.nn.relu(val(ins[0]))
            elif t == "RELU6":
                y = tf.nn.relu6(val(ins[0]))
            elif t == "RESHAPE":
                y = tf.reshape(val(ins[0]), (-1, *g.tensors[op.outputs[0]].shape[1:]))
            elif t == "SOFTMAX":
                y = tf.nn.softmax(val(ins[0]))
            elif t in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
                k = (a.get("filter_h", 1), a.get("filter_w", 1))
                st = (a.get("stride_h", 1), a.get("stride_w", 1))
                f = tf.nn.avg_pool2d if t == "AVERAGE_POOL_2D" else tf.nn.max_pool2d
                y = self._act(f(val(ins[0]), k, st, a.get("padding", "VALID")), a.get("activation", "NONE"))
            elif t == "TRANSPOSE":
                y = tf.transpose(val(ins[0]), [int(v) for v in np.asarray(g.tensors[ins[1]].data).reshape(-1)])
            elif t == "PAD":
                y = tf.pad(val(ins[0]), np.asarray(g.tensors[ins[1]].data).reshape(-1, 2))
            elif t == "CONCATENATION":
                y = self._act(tf.concat([val(i) for i in ins], axis=int(a.get("axis", -1))), a.get("activation", "NONE"))
            else:  # QUANTIZE / DEQUANTIZE: identity in float
                y = val(ins[0])
            q = self.grid.tensors[op.outputs[0]].quant
            if self.int8_activations and q is not None and g.tensors[op.outputs[0]].dtype == "int8":
                s, z = float(q.s()), float(q.zp())
                yq = (tf.clip_by_value(tf.round(y / s) + z, -128.0, 127.0) - z) * s
                y = y + tf.stop_gradient(yq - y)
            vals[op.outputs[0]] = y
            if op.outputs[0] == self.logits:
                return tf.reshape(y, (tf.shape(y)[0], -1))
        return tf.reshape(vals[self.logits], (tf.shape(x)[0], -1))

    def predict(self, x: np.ndarray) -> np.ndarray:
        out = []
        for i in range(0, len(x), 256):
            lg = self._fwd(self.tf.constant(x[i:i + 256])).numpy()
            # a one-logit (sigmoid) head: class 1 when the logit is > 0
            out.append((lg[:, 0] > 0).astype(np.int64) if lg.shape[1] == 1 else np.argmax(lg, axis=1))
        return np.concatenate(out) if out else np.zeros(0, np.int64)

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(self.predict(x) == y)) if len(x) else 0.0

    # ------------------------------------------------------------------ training
    def _masks(self, updates: list[LayerUpdate] | None) -> dict[tuple[int, str], np.ndarray]:
        """Per variable, a gradient mask: the update scheme (None: every weight, bias and no scale), 0 or
        1, times the weights' learning-rate factor of a layer reading a wide input (weight_lr_factor)."""
        from tiny.train.layers import weight_lr_factor
        out = {}
        for (op, role), v in self.init.items():
            m = np.zeros_like(v)
            if updates is None:
                if role != "s":
                    m[...] = 1.0
            else:
                u = next((u for u in updates if u.op == op), None)
                if u is not None:
                    if role == "w" and u.weight_channels:
                        if self.g.ops[op].type == "DEPTHWISE_CONV_2D":   # HWC1: channels on axis -2
                            m[..., :u.weight_channels, :] = 1.0
                        else:                                         # HWIO / (I, O): outputs last
                            m[..., :u.weight_channels] = 1.0
                    elif role == "b" and u.bias:
                        m[...] = 1.0
                    elif role == "s" and u.scale:
                        m[...] = 1.0
            if m.any():
                out[(op, role)] = m * np.float32(weight_lr_factor(self.g, op)) if role == "w" else m
        return out

    def train(self, x: np.ndarray, y: np.ndarray, order: list[int], lrs: list[float], momentum: float,
              updates: list[LayerUpdate] | None, eval_at: list[int], xv: np.ndarray, yv: np.ndarray,
              xte: np.ndarray, yte: np.ndarray, early_stop: bool = True) -> FloatRun:
        """SGD, one sample per step: sample order[i] with rate lrs[i]; held-out accuracy at the steps in
        eval_at (the best one's weights are kept when early_stop); test accuracy before and after."""
        tf = self.tf
        self.reset()
        masks = self._masks(updates)
        keys = list(masks)
        tv = [self.vars[k] for k in keys]
        mk = [tf.constant(masks[k]) for k in keys]
        mom = [tf.Variable(tf.zeros_like(v)) for v in tv]
        mu = tf.constant(float(momentum), tf.float32)

        binary = self.g.tensors[self.logits].size == 1

        def step(xb, yb, lr):
            with tf.GradientTape() as tape:
                lg = self.forward(xb)
                if binary:   # a one-logit (sigmoid) head: binary cross-entropy, as the board
                    loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(tf.cast(yb[:, None], tf.float32), lg))
                else:
                    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(yb, lg))
            gs = tape.gradient(loss, tv)
            for v, m, g, b in zip(tv, mk, gs, mom):
                b.assign(mu * b + g * m)
                v.assign_sub(lr * b)

        @tf.function(reduce_retracing=True)
        def segment(xs, ys, rates):
            # the steps between two evaluation points in one graph call (no Python per step)
            for i in tf.range(tf.shape(xs)[0]):
                step(xs[i:i + 1], ys[i:i + 1], rates[i])
        before = self.accuracy(xte, yte)
        curve: list[tuple[int, float]] = []
        best, best_step, snap = -1.0, 0, [v.numpy() for v in tv]
        cuts = sorted({p for p in eval_at if 0 < p <= len(order)} | {len(order)})
        xo, yo = x[np.asarray(order, np.int64)], y[np.asarray(order, np.int64)].astype(np.int32)
        r = np.asarray(lrs, np.float32)
        a0 = 0
        for c in cuts:
            if c > a0:
                segment(tf.constant(xo[a0:c]), tf.constant(yo[a0:c]), tf.constant(r[a0:c]))
            a0 = c
            if c in eval_at:
                a = self.accuracy(xv, yv)
                curve.append((c, a))
                if a > best:
                    best, best_step, snap = a, c, [v.numpy() for v in tv]
        if early_stop and curve:
            for v, s in zip(tv, snap):
                v.assign(s)
        else:
            best_step = len(order)
        return FloatRun(accuracy_before=before, accuracy_after=self.accuracy(xte, yte), best_step=best_step,
                        curve=curve)

    def _fwd(self, x):
        if not hasattr(self, "_fwd_fn"):
            self._fwd_fn = self.tf.function(self.forward, reduce_retracing=True)
        return self._fwd_fn(x)


def dequantize_inputs(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """The float values the board's int8 inputs stand for (what the float twin is fed)."""
    return (scale * (q.astype(np.float32) - np.float32(zero_point))).astype(np.float32)


def float_references(g: Graph, logits: int, updates: list[LayerUpdate], data: tuple, order: list[int],
                     lrs: list[float], momentum: float, eval_at: list[int], full_order: list[int],
                     full_lrs: list[list[float]], full_momentum: float, full_eval_at: list[int],
                     early_stop: bool = True, log: Callable[[str], None] = print,
                     grid: Graph | None = None) -> dict[str, Any]:
    """{"float_reference_accuracy", "float_full_accuracy", ...}; None values (and a reason) when the
    graph has an op the float twin does not model. grid: the board's graph (its activation grids, for
    the twin on the int8 activation grid; default g).

    The full fine-tune is the ceiling, so it must not be a failed run: it is trained at each rate
    schedule of `full_lrs` and the one with the best held-out accuracy is reported (the test split
    plays no part in the choice)."""
    why = unsupported(g, logits)
    if why:
        return {"float_reference_accuracy": None, "float_full_accuracy": None, "float_reference_note": why}
    xtr, ytr, xv, yv, xte, yte = data
    tw = FloatTwin(g, logits)
    ref = tw.train(xtr, ytr, order, lrs, momentum, updates, eval_at, xv, yv, xte, yte, early_stop)
    q8 = FloatTwin(g, logits, int8_activations=True, grid=grid).train(xtr, ytr, order, lrs, momentum, updates, eval_at, xv, yv,
                                                           xte, yte, early_stop)
    runs = [tw.train(xtr, ytr, full_order, r, full_momentum, None, full_eval_at, xv, yv, xte, yte, early_stop)
            for r in full_lrs]
    held = [max((a for _, a in run.curve), default=run.accuracy_after) for run in runs]
    k = max(range(len(runs)), key=lambda i: (held[i], -i))
    full = runs[k]
    return {"float_accuracy_before": ref.accuracy_before, "float_reference_accuracy": ref.accuracy_after,
            "float_int8_activations_accuracy": q8.accuracy_after,
            "float_full_accuracy": full.accuracy_after, "float_reference_curve": ref.curve,
            "float_full_curve": full.curve, "float_reference_best_step": ref.best_step,
            "float_full_best_step": full.best_step,
            "float_full_lr": max(full_lrs[k]) if full_lrs[k] else None}
