"""Trainable layers and what each learns: shared by the training configurations (train/config.py)
and the MobileTL recipe (passes/mobiletl.py), so neither imports the other."""
from __future__ import annotations

import math
from dataclasses import dataclass

from tiny import ops
from tiny.ir import Graph, TinyError


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


def trainable_layers(g: Graph) -> list[int]:
    return [op.index for op in g.ops if ops.traits(op).trainable]


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
