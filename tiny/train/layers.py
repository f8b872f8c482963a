"""Trainable layers and what each learns: shared by the training configurations (train/config.py)
and the MobileTL recipe (passes/mobiletl.py), so neither imports the other."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tiny import ops
from tiny.ir import Graph, TinyError
from tiny.ops import kinds as K


@dataclass
class LayerUpdate:
    """What one layer (op index) learns."""
    op: int
    bias: bool
    weight_channels: int        # number of leading output channels whose weights update (0 = frozen)
    scale: bool = False         # per-output-channel requantization scale trains (MobileTL's last norm)


def trainable_ops() -> tuple[str, ...]:
    """Op types with weights the training runtime can update (OpDef.trainable)."""
    return tuple(k for k, d in ops.REGISTRY.items() if d.trainable)


def logits_tensor(g: Graph) -> int:
    """The int8 logits the loss reads: the first output, before a DEQUANTIZE (float outputs of a
    converted model) or a QUANTIZE int8 -> uint8 (uint8 outputs), and a SOFTMAX, or the LOGISTIC of
    a one-unit (binary, sigmoid) head."""
    out = g.outputs[0]
    p = g.producer(out)
    if p is not None and (p.type == K.DEQUANTIZE or (p.type == K.QUANTIZE and g.tensors[out].dtype == "uint8")):
        out = p.inputs[0]
    p = g.producer(out)
    if p is not None and (p.type == K.SOFTMAX or (p.type == K.LOGISTIC and g.tensors[p.inputs[0]].size == 1)):
        out = p.inputs[0]
    return out


def classes_of(n_logits: int) -> int:
    """How many classes n logits tell apart: n, or 2 for one logit (a Dense(1) + sigmoid binary
    classifier, trained with binary cross-entropy on that logit)."""
    return 2 if n_logits == 1 else n_logits


def label_count(g: Graph) -> int:
    """How many classes the model's logits tell apart (classes_of)."""
    return classes_of(g.tensors[logits_tensor(g)].size)


def predicted_class(q: np.ndarray, zero_point: int) -> int:
    """The class of int8 logits q: the first maximum, or for one logit whether its real value is > 0."""
    q = np.asarray(q).reshape(-1)
    return int(q[0] > zero_point) if q.size == 1 else int(np.argmax(q))


# Ops between the model's input and its first layer that carry the input's values unchanged in
# meaning (a float32 input's QUANTIZE, an explicit PAD, a RESHAPE).
_INPUT_CARRIERS = (K.QUANTIZE, K.PAD, K.RESHAPE)


def weight_lr_factor(g: Graph, op: int) -> float:
    """The factor (a power of two, <= 1) on the learning rate of layer `op`'s weights. 1 except for a
    layer that reads the model's input whose real values span more than [-1, 1]: raw 0..255 pixels
    (a Keras Rescaling layer folded into the first conv) make that layer's weight gradients k times
    and its weights 1/k times what they were in training (k = the input's largest magnitude), so a
    rate set for the rest of the model moves it k^2 times as far: the float full fine-tune of a
    0..255 model stayed at chance at every rate tried. The factor is 2^-round(2 log2 k): exact in
    float32, so the board, the oracle and the float twins apply it alike."""
    o = g.ops[op]
    if ops.traits(o).backward not in ("conv", "dw", "fc"):
        return 1.0
    t = o.inputs[0]
    while t not in g.inputs:
        p = g.producer(t)
        if p is None or p.type not in _INPUT_CARRIERS:
            return 1.0
        t = p.inputs[0]
    q = g.tensors[o.inputs[0]].quant
    if q is None:
        return 1.0
    s, z = float(q.s()), int(q.zp())
    k = max(abs(s * (-128 - z)), abs(s * (127 - z)))
    e = round(2 * math.log2(k)) if k > 0 else 0
    return 2.0 ** -min(e, 40) if e > 0 else 1.0


def pad_is_spatial(g: Graph, op) -> bool:
    """A PAD of rows and columns of a 4-D tensor (no batch or channel padding): what the backward takes."""
    import numpy as np
    pads = np.asarray(g.tensors[op.inputs[1]].data).reshape(-1, 2)
    return len(g.tensors[op.inputs[0]].shape) == 4 and pads.shape[0] == 4 and not pads[[0, 3]].any()


def concat_fits(g: Graph, op) -> bool:
    """A CONCATENATION the backward takes: any number of inputs, its slices within the runtime's
    16-bit outer count and 32-bit slice lengths."""
    from tiny.ops.concatenation import prepare
    p = prepare(g, op)
    return p.outer < 1 << 16 and sum(n * p.inner for n in p.sizes) < 1 << 31


def upstream(g: Graph, tensor: int) -> set[int]:
    """The activation tensors `tensor` is computed from, and itself."""
    anc, todo = {tensor}, [tensor]
    while todo:
        p = g.producer(todo.pop())
        for t in (p.inputs if p is not None else []):
            if t >= 0 and not g.tensors[t].is_const and t not in anc:
                anc.add(t)
                todo.append(t)
    return anc


def layer_backward_ok(g: Graph, op) -> bool:
    """A layer the backward takes (tiny/passes/sparse_update.py checks the same): batch 1, a depthwise
    multiplier of 1, an ungrouped and undilated convolution. Other ops: True."""
    kind = ops.traits(op).backward
    if kind not in ("conv", "dw"):
        return True
    x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
    if x.shape[0] != 1:
        return False
    if kind == "dw":
        return y.shape[-1] == x.shape[-1]
    undilated = (op.attrs.get("dilation_h", 1), op.attrs.get("dilation_w", 1)) == (1, 1)
    return undilated and g.tensors[op.inputs[1]].shape[-1] == x.shape[-1]


def _backward_ok(g: Graph, op) -> bool:
    """The training backward can pass this op's output gradient to its input."""
    kind = ops.traits(op).backward
    if kind in ("conv", "dw"):
        return layer_backward_ok(g, op)
    if kind in ("mean", "reduce_max"):   # any axes of a batch-1 tensor (tiny/passes/sparse_update.py)
        from tiny.ops.mean import reduce_axes
        return reduce_axes(g, op).in_dims[0] == 1
    if kind == "pad":        # spatial padding of a 4-D tensor only
        return pad_is_spatial(g, op)
    if kind == "concat":     # any number of inputs, within the runtime's table limits
        return concat_fits(g, op)
    if kind == "prelu":      # the slope's gradient is not formed: a constant alpha (as converters emit)
        return g.tensors[op.inputs[1]].is_const
    if kind in ("resize", "bilinear"):     # batch 1 (tiny/passes/sparse_update.py)
        return g.tensors[op.inputs[0]].shape[0] == 1
    return kind is not None


def gradient_reach(g: Graph) -> tuple[set[int], dict[int, int]]:
    """(tensors the loss's gradient reaches, tensor -> the op without a backward that stops it). A
    tensor is reached when every op that consumes it on the way to the logits has a backward and its
    output is reached; a layer whose output is not reached cannot train."""
    logits = logits_tensor(g)
    anc = upstream(g, logits)
    reached, stop = {logits}, {}
    for op in reversed(g.ops):
        t = op.outputs[0]
        if t not in anc or t == logits:
            continue
        on_path = [c for c in g.consumers(t) if c.outputs and c.outputs[0] in anc]
        bad = [c for c in on_path if not _backward_ok(g, c)]
        later = [stop[c.outputs[0]] for c in on_path if c.outputs[0] in stop]
        if bad or later:
            stop[t] = bad[0].index if bad else min(later)
        elif on_path:
            reached.add(t)
    return reached, stop


def weight_layers(g: Graph) -> list[int]:
    """Every op with weights the runtime can update, whether or not the loss's gradient reaches it."""
    return [op.index for op in g.ops if ops.traits(op).trainable]


def trainable_layers(g: Graph) -> list[int]:
    """Layers with weights whose output the loss's gradient reaches (see gradient_reach) and whose
    backward the runtime has (layer_backward_ok)."""
    reached, _ = gradient_reach(g)
    return [i for i in weight_layers(g) if g.ops[i].outputs[0] in reached and layer_backward_ok(g, g.ops[i])]


def frozen_by_ops(g: Graph) -> dict[int, int]:
    """Layers with weights that cannot train -> the op without a backward between them and the loss
    (the layer itself when it has none: a depthwise multiplier of 2, a grouped convolution)."""
    _, stop = gradient_reach(g)
    out = {op.index: stop[op.outputs[0]] for op in g.ops if ops.traits(op).trainable and op.outputs[0] in stop}
    out.update({op.index: op.index for op in g.ops if ops.traits(op).trainable and op.index not in out
                and not layer_backward_ok(g, op)})
    return out


def frozen_notes(g: Graph) -> list[str]:
    """What `tiny train` logs about the layers that stay frozen (frozen_by_ops), one line per cause."""
    by: dict[int, list[int]] = {}
    for layer, op in frozen_by_ops(g).items():
        by.setdefault(op, []).append(layer)
    out = []
    for op, layers in sorted(by.items()):
        below = [i for i in layers if i != op]
        if op in layers:      # the layer itself (a depthwise multiplier of 2, a grouped convolution)
            out.append(f"layer #{op} {g.ops[op].type} stays frozen: tiny's training backward takes batch 1, "
                       f"depthwise multiplier 1, ungrouped and undilated convolutions only")
        if below:
            out.append(f"layers {', '.join(f'#{i}' for i in below)} stay frozen: op #{op} {g.ops[op].type} "
                       f"lies between them and the loss, and tiny has no training backward for it")
    return out


def resolve_layer(g: Graph, ref: str) -> int:
    """'#12' / '12' (op index) or an output tensor name -> op index of a trainable layer."""
    s = ref.strip()
    idx = None
    if s.lstrip("#").isdigit():
        idx = int(s.lstrip("#"))
        if idx >= len(g.ops):
            raise TinyError(f"training config names layer {ref!r}, but the model has {len(g.ops)} ops")
    else:
        hits = [op.index for op in g.ops if op.outputs and g.tensors[op.outputs[0]].name == s]
        if not hits:
            raise TinyError(f"training config names layer {ref!r}, which does not exist in the model "
                            f"(use '#<op index>' or an output tensor name; see `tiny report`)")
        idx = hits[0]
    if not ops.traits(g.ops[idx]).trainable:
        raise TinyError(f"training config names layer {ref!r} (op #{idx} {g.ops[idx].type}), which has no "
                        f"weights to train (trainable: {', '.join(trainable_ops())})")
    blocked = frozen_by_ops(g)
    if blocked.get(idx) == idx:
        raise TinyError(f"training config names layer {ref!r} (op #{idx} {g.ops[idx].type}), which tiny cannot "
                        f"train: the training backward takes batch 1, depthwise multiplier 1, ungrouped and "
                        f"undilated convolutions only")
    if idx in blocked:
        b = g.ops[blocked[idx]]
        raise TinyError(f"training config names layer {ref!r} (op #{idx} {g.ops[idx].type}), but op #{b.index} "
                        f"{b.type} lies between it and the loss and tiny has no training backward for it: "
                        f"train only layers above op #{b.index}")
    return idx


def updates_for(g: Graph, bias_last: int, weights: dict[int, float] | tuple) -> list[LayerUpdate]:
    """The exact per-layer updates of a scheme (no recipe defaults added)."""
    layers = trainable_layers(g)
    w = dict(weights)
    bias_set = set(layers[max(0, len(layers) - bias_last):]) if bias_last > 0 else set()   # k > layers: all
    out = []
    for i in layers:
        op = g.ops[i]
        oc = g.tensors[op.outputs[0]].shape[-1]
        n = math.ceil(w[i] * oc) if i in w else 0
        b = i in bias_set and len(op.inputs) > 2 and op.inputs[2] >= 0
        if n or b:
            out.append(LayerUpdate(op=i, bias=b, weight_channels=n))
    return out
