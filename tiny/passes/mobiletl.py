"""MobileTL (Chiang et al., AAAI 2023) on the folded int8 graph: find the inverted residual blocks,
pick what the top K of them train, and account the bytes their backward keeps per block.

An inverted residual block (IRB) in a TFLite int8 graph (batch norms folded into the convs):

    x -> CONV_2D 1x1 (expand)  [fused RELU6 | RELU, or a HARD_SWISH op]
      -> DEPTHWISE_CONV_2D     [fused RELU6 | RELU, or a HARD_SWISH op]
      -> (squeeze-excite: MEAN -> CONV -> CONV -> MUL ... -> MUL)        MobileNetV3
      -> CONV_2D 1x1 (project, no activation)
      -> (ADD with x)                                                     residual

MobileTL's rules on the folded form (docs/training.md, "MobileTL"):
- conv weights of the block train as usual (their int8 inputs are kept);
- the two internal norms train their shift only = the folded bias of the expand and depthwise
  convs (nothing is stored for a bias gradient);
- the last norm trains scale and shift = a per-output-channel factor k[c] on the projection
  conv's requantization multiplier (the int32 multiplier/shift pair itself is the trained
  parameter, see tiny/reference/train.py) plus its folded bias; its gradient needs the block's
  int8 projection output, which is kept;
- activation backward from 1-bit masks: ReLU6 exact (the in-range bit), hard-swish approximated
  by the step function 1[x > 0] (read off the sign of the int8 output);
- optional: depthwise weights frozen (bias still trains), so the expanded activation (the largest
  tensor of the block) is no longer kept, only its mask.

Squeeze-excite blocks are excluded with a reason: the training backward goes through their gate
(MUL, LOGISTIC), but MobileTL's block model (which tensors it keeps, the per-block memory) does not
cover the gate yet; `--recipe sparse` / `full` train such models.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tiny.ir import Graph, Op, TinyError
from tiny.ops import kinds as K
from tiny.train.layers import LayerUpdate, resolve_layer, trainable_layers

ACTS = (K.ACT_RELU6, K.ACT_RELU)


@dataclass
class Block:
    index: int                 # 0 = lowest block of the model
    expand: int                # op index of the 1x1 expand conv
    expand_act: int | None     # HARD_SWISH op after it (None: fused activation)
    dw: int
    dw_act: int | None
    project: int
    add: int | None
    se: list[int] = field(default_factory=list)   # squeeze-excite ops (MEAN, CONV, MUL, ...)
    activation: str = "relu6"  # relu6 | relu | hard_swish

    @property
    def name(self) -> str:
        return f"irb{self.index}"

    def ops(self) -> list[int]:
        xs = [self.expand, self.expand_act, self.dw, self.dw_act, *self.se, self.project, self.add]
        return sorted(o for o in xs if o is not None)

    def describe(self, g: Graph) -> str:
        return f"{self.name} (ops #{self.ops()[0]}..#{self.ops()[-1]}, {self.activation}" + \
            (", squeeze-excite" if self.se else "") + (", residual" if self.add is not None else "") + ")"


def _is_1x1(g: Graph, op: Op | None) -> bool:
    return op is not None and op.type == K.CONV_2D and tuple(g.tensors[op.inputs[1]].shape[1:3]) == (1, 1)


def _act(op: Op) -> str:
    return str(op.attrs.get("activation", "NONE"))


def _single_consumer(g: Graph, tid: int) -> Op | None:
    cs = g.consumers(tid)
    return cs[0] if len(cs) == 1 else None


def find_blocks(g: Graph) -> list[Block]:
    """Every inverted residual block of the graph, lowest first."""
    blocks: list[Block] = []
    for d in g.ops:
        if d.type != K.DEPTHWISE_CONV_2D:
            continue
        # expand side
        prod = g.producer(d.inputs[0])
        expand_act = None
        if prod is not None and prod.type == K.HARD_SWISH:
            expand_act = prod.index
            prod = g.producer(prod.inputs[0])
            if prod is None or _act(prod) != "NONE":
                continue
        elif prod is None or _act(prod) not in ACTS:
            continue
        if not _is_1x1(g, prod) or _single_consumer(g, prod.outputs[0]) is None:
            continue
        expand = prod
        if expand_act is None and _act(d) not in ACTS:
            continue
        # depthwise activation
        t = d.outputs[0]
        dw_act = None
        nxt = _single_consumer(g, t)
        if expand_act is not None:
            if _act(d) != "NONE" or nxt is None or nxt.type != K.HARD_SWISH:
                continue
            dw_act = nxt.index
            t = nxt.outputs[0]
        # squeeze-excite: t feeds MEAN (gate) and MUL (scaling)
        se: list[int] = []
        cons = g.consumers(t)
        if len(cons) == 2 and {c.type for c in cons} == {K.MEAN, K.MUL}:
            mul = next(c for c in cons if c.type == K.MUL)
            mean = next(c for c in cons if c.type == K.MEAN)
            se = [o.index for o in g.ops if mean.index <= o.index <= mul.index]
            t = mul.outputs[0]
            cons = g.consumers(t)
        if len(cons) != 1 or not _is_1x1(g, cons[0]) or _act(cons[0]) != "NONE":
            continue
        project = cons[0]
        add = None
        pc = _single_consumer(g, project.outputs[0])
        if pc is not None and pc.type == K.ADD and expand.inputs[0] in pc.inputs:
            add = pc.index
        act = "hard_swish" if expand_act is not None else _act(expand).lower()
        blocks.append(Block(index=len(blocks), expand=expand.index, expand_act=expand_act, dw=d.index,
                            dw_act=dw_act, project=project.index, add=add, se=se, activation=act))
    return blocks


def default_blocks(n: int) -> int:
    """Default K: the top half of the blocks, at most 4."""
    return max(1, min(4, n // 2))


def select(g: Graph, k: int | None) -> tuple[list[Block], list[int]]:
    """The top K blocks and the head layers (trainable layers above the top block); clear errors."""
    blocks = find_blocks(g)
    layers = trainable_layers(g)
    if not blocks:
        raise TinyError("recipe mobiletl fine-tunes inverted residual blocks (1x1 expand conv + activation, "
                        "depthwise + activation, 1x1 project conv, optional residual ADD), and this model has "
                        f"none: its layers {_labels(g, layers)} are not inverted residual blocks")
    k = default_blocks(len(blocks)) if k is None else int(k)
    if k < 1:
        raise TinyError(f"mobiletl: blocks = {k}; fine-tune at least one block")
    if k > len(blocks):
        raise TinyError(f"mobiletl: blocks = {k}, but the model has only {len(blocks)} inverted residual "
                        f"blocks ({', '.join(b.describe(g) for b in blocks)})")
    top = blocks[-k:]
    lo = top[0].ops()[0]
    in_blocks = {o for b in top for o in b.ops()}
    last = top[-1].ops()[-1]
    stray = [i for i in layers if lo <= i <= last and i not in in_blocks]
    if stray:
        raise TinyError(f"mobiletl: layers {_labels(g, stray)} lie between the fine-tuned inverted residual "
                        f"blocks but belong to none of them; choose blocks <= "
                        f"{sum(1 for b in blocks if b.ops()[0] > max(stray))}")
    se = [b for b in top if b.se]
    if se:
        b = se[-1]
        ok = sum(1 for x in blocks if x.index > b.index)
        raise TinyError(f"mobiletl: block {b.describe(g)} has a squeeze-excite gate (ops "
                        f"{', '.join(f'#{i} {g.ops[i].type}' for i in b.se)}); MobileTL's block model does not cover "
                        f"the gate yet, so squeeze-excite blocks are excluded from its fine-tuning (--recipe "
                        f"sparse or full train them)"
                        + (f" (use blocks <= {ok})" if ok else " and no block above it can be fine-tuned alone"))
    head = [i for i in layers if i > last]
    return top, head


def _labels(g: Graph, ops: list[int]) -> str:
    s = [g.layer_label(g.ops[i]) for i in ops[:6]]
    return ", ".join(s) + (f" (+{len(ops) - 6} more)" if len(ops) > 6 else "")


def updates(g: Graph, k: int | None, freeze_dw: bool = False,
            weights: dict[str, float] | None = None) -> tuple[list[Any], list[Block]]:
    """LayerUpdates of the mobiletl recipe (ascending op index) and the fine-tuned blocks."""
    top, head = select(g, k)
    oc = lambda i: g.tensors[g.ops[i].outputs[0]].shape[-1]  # noqa: E731
    has_b = lambda i: len(g.ops[i].inputs) > 2 and g.ops[i].inputs[2] >= 0  # noqa: E731
    ups: dict[int, LayerUpdate] = {}
    for b in top:
        ups[b.expand] = LayerUpdate(op=b.expand, bias=has_b(b.expand), weight_channels=oc(b.expand))
        ups[b.dw] = LayerUpdate(op=b.dw, bias=has_b(b.dw), weight_channels=0 if freeze_dw else oc(b.dw))
        ups[b.project] = LayerUpdate(op=b.project, bias=has_b(b.project), weight_channels=oc(b.project), scale=True)
    for i in head:
        ups[i] = LayerUpdate(op=i, bias=has_b(i), weight_channels=oc(i))
    if weights:
        allowed = set(ups)
        bad = []
        for ref, ratio in weights.items():
            i = resolve_layer(g, ref)
            if i not in allowed:
                bad.append(i)
            elif not 0.0 < ratio <= 1.0:
                raise TinyError(f"training config: weight ratio {ratio} for {ref!r} must be in (0, 1]")
            else:
                import math
                ups[i].weight_channels = math.ceil(ratio * oc(i))
        if bad:
            raise TinyError(f"mobiletl: layers {_labels(g, bad)} are not in a fine-tuned inverted residual block "
                            f"(fine-tuned: {', '.join(b.describe(g) for b in top)}) nor in the head")
    return [ups[i] for i in sorted(ups) if ups[i].bias or ups[i].weight_channels or ups[i].scale], top


def block_memory(plan: Any, blocks: list[Block]) -> list[dict[str, Any]]:
    """Per fine-tuned block: bytes its backward keeps (MobileTL) vs vanilla fine-tuning.

    Both train the same parameters. A saved tensor belongs to the block whose backward step reads it
    (a kept int8 input: the block of the layer whose weights/scale need it; a mask: the block of the
    op it masks). Vanilla = the same kept int8 tensors + for every activation function of the block
    (fused ReLU6/ReLU or HARD_SWISH) its int8 *input*, which the standard backward of an activation
    reads, + the same non-activation (int8 saturation) masks. MobileTL keeps 1 bit per element for an
    activation, or nothing when the bit is read off an int8 copy that is kept anyway."""
    g = plan.graph
    op_block = {o: b for b in blocks for o in b.ops()}
    owner: dict[int, Block | None] = {}
    for s in plan.steps:
        for ci in (s.x_saved, getattr(s, "y_saved", None)):
            if ci is not None and s.kind != "ce" and ci not in owner:
                owner[ci] = op_block.get(s.op)
    act_ops = set()
    for b in blocks:
        for o in (b.expand, b.dw):
            if _act(g.ops[o]) in ACTS:
                act_ops.add(o)
        for o in (b.expand_act, b.dw_act):
            if o is not None:
                act_ops.add(o)
    mask_owner: dict[int, int] = {}
    for s in plan.steps:
        if s.mask is not None and s.mask not in owner:
            owner[s.mask] = op_block.get(s.op)
        if s.mask is not None:
            mask_owner[s.mask] = s.op
    out = []
    for b in blocks:
        kept = [ci for ci, ob in owner.items() if ob is b]
        mtl = sum(plan.captures[ci].nbytes for ci in kept)
        copies = sum(plan.captures[ci].nbytes for ci in kept if plan.captures[ci].kind == "copy")
        sat_masks = sum(plan.captures[ci].nbytes for ci in kept if plan.captures[ci].kind == "mask"
                        and mask_owner.get(ci) not in act_ops)
        act_in = 0
        for o in sorted(act_ops & set(b.ops())):
            op = g.ops[o]
            act_in += g.tensors[op.inputs[0] if op.type == K.HARD_SWISH else op.outputs[0]].size
        van = copies + act_in + sat_masks
        out.append({"name": b.name, "ops": b.ops(), "activation": b.activation,
                    "vanilla_backward_bytes": van, "backward_bytes": mtl,
                    "reduction": round(1 - mtl / van, 4) if van else 0.0})
    return out
