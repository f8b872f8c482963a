"""Weight headroom for the layers whose weights train on the board.

A post-training-quantized layer uses its whole int8 range: scale = max|w| / 127 per output channel,
so the largest weights sit at +-127 and any update that grows them saturates. Head-only training
wants the head's weights to grow to 2-3x their initial range (patches-transfer: up to 354 LSB); with
the clamp, the int8 head trailed its float twin by 3-11 points. Requantizing the trained layers with
scale x F before training (weights round(w / F), biases likewise, so the layer computes the same
function to within the coarser grid) lets them grow F-fold. The price is log2(F) bits of initial
precision in those layers only; stochastic rounding keeps the small updates unbiased on the
coarser grid. The fine-tuned .tflite carries the new scales, so TFLM computes what the board does.
"""
from __future__ import annotations

import copy
from typing import Any

import numpy as np

from tiny.ir import Graph, Quant, TinyError


LOGIT_HEADROOM = 2.0    # the classifier's output scale grows by min(this, its weight headroom)
BINARY_LOGIT_ROOM = 2.0  # a one-logit head centred on 0 covers its old range with 2x the scale


def with_headroom(g: Graph, channels: dict[int, int], factor: float, body: float | None = None) -> Graph:
    """A copy of `g` in which op i's first channels[i] output channels (all of them when its
    weights are quantized per tensor) have their weights and biases requantized with F x their
    scale: F = `factor` for the classifier (the last trainable layer), `body` (default: `factor`)
    for the layers below it. Idempotent: a graph that already has headroom is returned as it is."""
    from tiny.train.layers import weight_layers
    body = factor if body is None else body
    for f in (factor, body):
        if not f >= 1.0:
            raise TinyError(f"weight headroom {f}: must be >= 1")
    head = weight_layers(g)[-1] if channels else -1
    per_op = {i: (factor if i == head else body) for i in channels}
    per_op = {i: f for i, f in per_op.items() if f != 1.0}
    binary = _logit_tensor(g, head) if head in channels else None
    binary = binary if binary is not None and g.tensors[binary].size == 1 else None
    if (not per_op and binary is None) or g.meta.get("weight_headroom"):
        return g
    out = copy.copy(g)
    out.tensors = dict(g.tensors)
    out.meta = dict(g.meta)
    logits = _logit_tensor(g, head) if head in per_op else binary
    channels = dict(channels)
    if binary is not None:
        # A one-logit (sigmoid) head decides at logit 0, but its calibrated range need only touch 0:
        # a model that never said "yes" on its calibration data has logits in [lo, 0] and could not
        # learn to. Zero point 0, and a scale that covers the old range on both sides of 0.
        t = g.tensors[binary]
        nt = copy.copy(t)
        grow = np.float32(max(BINARY_LOGIT_ROOM, min(LOGIT_HEADROOM, per_op.get(head, 1.0))))
        nt.quant = Quant(np.array(t.quant.scale, np.float32) * grow, np.zeros_like(np.asarray(t.quant.zero_point)),
                         t.quant.axis)
        out.tensors[binary] = nt
    elif logits is not None:
        # The classifier's logits grow with its weights: its output scale grows too, so trained logits
        # do not pile up at +127, where ties decide the class (a 10-class head learning digits 6-9
        # fell from 98 % to 82 % held-out, 13-18 % of samples tied at 127). LOGIT_HEADROOM, not the
        # weights' 4x: the loss is computed from the int8 logits, and a 4x coarser grid cost 2.4
        # points on digits-newclasses (3 data orders). All its channels move to the new weight grid,
        # so the frozen ones compute what they did (to within that grid).
        channels[head] = g.tensors[g.ops[head].outputs[0]].shape[-1]
        t = g.tensors[logits]
        nt = copy.copy(t)
        grow = np.float32(min(LOGIT_HEADROOM, per_op[head]))
        nt.quant = Quant(np.array(t.quant.scale, np.float32) * grow, t.quant.zero_point, t.quant.axis)
        out.tensors[logits] = nt
    changed: list[int] = []
    for i, factor in per_op.items():
        n = channels[i]
        op = g.ops[i]
        for slot, dtype, lim in ((1, np.int8, 127), (2, np.int32, 2 ** 31 - 1)):
            if len(op.inputs) <= slot or op.inputs[slot] < 0:
                continue
            t = g.tensors[op.inputs[slot]]
            if t.data is None or t.quant is None:
                continue
            scale = np.array(t.quant.scale, np.float32).reshape(-1)
            data = t.data.astype(np.float64)
            if scale.size > 1:                  # per channel: only the channels that train
                axis = t.quant.axis if slot == 1 else 0
                sel = [slice(None)] * data.ndim
                sel[axis] = slice(0, n)
                data[tuple(sel)] = np.round(data[tuple(sel)] / factor)
                scale[:n] *= np.float32(factor)
            else:
                data = np.round(data / factor)
                scale *= np.float32(factor)
            nt = copy.copy(t)
            nt.data = np.clip(data, -lim, lim).astype(dtype)
            nt.quant = Quant(scale.reshape(np.shape(t.quant.scale)), t.quant.zero_point, t.quant.axis)
            out.tensors[t.id] = nt
            changed.append(t.id)
    # "tensors": every tensor whose data or scale changed, which a written .tflite must carry (a bias
    # that does not train still moved to its layer's new grid)
    out.meta["weight_headroom"] = {"factors": {i: per_op[i] for i in sorted(per_op)},
                                   "tensors": sorted(changed + ([logits] if logits is not None else [])),
                                   **({"logits": int(logits)} if logits is not None else {}),
                                   **({"binary_logit": int(binary)} if binary is not None else {})}
    return out


def _logit_tensor(g: Graph, head: int) -> int | None:
    """The classifier's output when it is the logits the loss reads (not through another op)."""
    from tiny.train.layers import logits_tensor
    t = g.ops[head].outputs[0]
    return t if logits_tensor(g) == t and g.tensors[t].quant is not None else None


def trained_weight_channels(plan: Any) -> dict[int, int]:
    """Op -> how many of its output channels' int8 weights the plan updates."""
    return {u.op: u.weight_channels for u in plan.updates if u.weight_channels}


def describe(g: Graph) -> dict[str, Any] | None:
    h = g.meta.get("weight_headroom")
    if not h:
        return None
    f = h["factors"]
    out = {"factor": max(f.values(), default=1.0), "layers": [f"#{i} {g.ops[i].type}" for i in f],
           "factors": {f"#{i}": v for i, v in f.items()}}
    if h.get("binary_logit") is not None:
        t = g.tensors[h["binary_logit"]]
        out["binary_logit"] = {"tensor": t.name, "scale": float(t.quant.s()), "zero_point": int(t.quant.zp())}
    return out
