"""The compile-time training graph of a sparse update (On-Device Training Under 256KB, TTE).

Pure function of the int8 graph and the per-layer updates -> a TrainPlan:
- **pruning**: a backward step exists only for ops whose output needs a gradient, i.e. ops at or
  above the lowest updated layer on the path to the loss; frozen layers below it get nothing, and
  no input gradient is computed for tensors nothing below needs;
- **saved tensors**: the int8 input of every layer whose weights update and of every max pool (a
  copy, taken right after its producer runs, so the forward arena keeps its own lifetimes; a max
  pool's backward finds each window's max in it again, a REDUCE_MAX's its tied maxima; the other
  factor of a MUL, the output of a LOGISTIC / TANH, the input of a LEAKY_RELU) and, for every other
  op of the backward, a 1-bit mask of its output clamp (ReLU/ReLU6 bounds and int8 saturation) —
  derived from an int8 copy instead when one is kept anyway;
- **operator reordering**: each layer's bias and weight update is applied in the same step as its
  gradient is formed (per element, as soon as the sum over positions is complete), so no weight
  gradient buffer exists; activation-gradient buffers are planned with lifetimes and freed as soon
  as the producer's step consumed them;
- **memory accounting** for `train_peak_sram_bytes`.

The step list is the contract between the numpy oracle (tiny/reference/train.py) and the C runtime
(firmware/src/train/train.c): both execute it in this order with the same float32 arithmetic.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from tiny import ops
from tiny.ir import Graph, TinyError
from tiny.ops import kinds as K
from tiny.train.layers import LayerUpdate, concat_fits, logits_tensor, pad_is_spatial, upstream, weight_lr_factor

BACKWARD_KINDS = {k: d.backward for k, d in ops.REGISTRY.items() if d.backward}   # op type -> backward kind
# two-input element-wise ops (broadcasting): the oracle's _binary, the C's binary_bwd
BINARY_KINDS = ("add", "sub", "mul", "max", "min", "prelu")
# ... whose input gradients need the inputs' values (saved int8 copies, or constant tables)
VALUE_KINDS = ("mul", "max", "min", "prelu")


@dataclass
class Capture:
    """Copied into the saved buffer right after op `op` ran (-1: before the forward)."""
    op: int
    tensor: int
    kind: str          # "copy" (int8 bytes) | "mask" (1 bit per element: lo < q < hi)
    offset: int        # byte offset in the saved buffer
    nbytes: int
    lo: int = -128
    hi: int = 127


@dataclass
class Step:
    kind: str                      # ce | conv | dw | fc | mean | add | mul | copy | maxpool | avgpool | transpose |
                                   # pad | concat | logistic | tanh | leaky | sub | max | min | prelu | resize |
                                   # reduce_max | bilinear | dtable
    op: int                        # op index (-1 for ce)
    out: int                       # tensor whose gradient this step consumes (ce: the logits)
    ins: list[int] = field(default_factory=list)        # input tensors that receive a gradient
    in_first: list[bool] = field(default_factory=list)  # True: assign (first contribution), else add
    mask: int | None = None        # capture index of the output mask (bits or int8 copy)
    x_saved: int | None = None     # capture index of the saved int8 input (updated weights, max pool,
                                   # reduce_max; mul/max/min/prelu: input 0)
    y_saved: int | None = None     # capture index of the saved int8 output (trained scale, MobileTL;
                                   # logistic/tanh: their derivative; mul/max/min/prelu: input 1)
    update: LayerUpdate | None = None
    bcast: bool = False            # mean: writes its input's gradient as one value per channel;
                                   # conv: reads its output's gradient so (see _broadcast_grads)


@dataclass
class TrainPlan:
    graph: Graph
    updates: list[LayerUpdate]
    logits: int
    captures: list[Capture]
    steps: list[Step]
    grad_offsets: dict[int, int]   # tensor id -> offset (in floats) in the backward workspace
    ws_floats: int
    saved_bytes: int
    momentum: bool
    shadow: bool = False           # int8 weight shadow (1/256-quantum fractions) of the updated layers

    def split_channels(self, op: int) -> int:
        """n when layer `op` keeps its frozen output channels in flash: a conv / fully connected layer
        whose weights update on its first 0 < n < oc output channels (filters are OHWI / [oc, depth],
        so those are the first n*K filter bytes; a depthwise filter's channels are its last axis and
        not contiguous: it stays whole in SRAM). 0 otherwise (the filter is one table)."""
        u = self.update_for(op)
        if u is None or not u.weight_channels or BACKWARD_KINDS.get(self.graph.ops[op].type) not in ("conv", "fc"):
            return 0
        oc = self.graph.tensors[self.graph.ops[op].outputs[0]].shape[-1]
        return u.weight_channels if u.weight_channels < oc else 0

    def split_filters(self) -> dict[int, int]:
        """op -> n of every layer whose frozen channels stay in flash (split_channels)."""
        return {u.op: self.split_channels(u.op) for u in self.updates if self.split_channels(u.op)}

    def sram_filter_size(self, op: int) -> int:
        """Filter elements of an updated layer held in SRAM: the updated channels when the frozen
        ones stay in flash, else the whole filter."""
        g = self.graph
        f = g.tensors[g.ops[op].inputs[1]]
        n = self.split_channels(op)
        return n * (f.size // g.tensors[g.ops[op].outputs[0]].shape[-1]) if n else f.size

    def shadow_bytes(self) -> int:
        """One byte per SRAM filter element of each layer whose weights update (indexed like that
        table: the SGD only touches the first n channels of a split layer)."""
        if not self.shadow:
            return 0
        return sum(self.sram_filter_size(u.op) for u in self.updates if u.weight_channels)

    def update_for(self, op: int) -> LayerUpdate | None:
        return next((u for u in self.updates if u.op == op), None)

    def weight_lr(self, op: int) -> float:
        """The factor on layer op's weight learning rate (tiny.train.layers.weight_lr_factor)."""
        return weight_lr_factor(self.graph, op)

    def param_bytes(self) -> tuple[int, int]:
        """(SRAM bytes of updated weight/bias tensors, float32 momentum bytes)."""
        g, sram, mom = self.graph, 0, 0
        for u in self.updates:
            op = g.ops[u.op]
            oc = g.tensors[op.outputs[0]].shape[-1]
            f = g.tensors[op.inputs[1]]
            if u.weight_channels:
                sram += self.sram_filter_size(u.op)     # int8: one byte per element
                mom += 4 * u.weight_channels * (f.size // oc)   # elements per output channel
            if u.scale:
                sram += 8 * oc          # int32 multiplier + shift tables in SRAM
                mom += 4 * oc
            if u.bias:
                sram += g.tensors[op.inputs[2]].nbytes
                mom += 4 * oc
        return sram, (mom if self.momentum else 0)

    def memory(self, arena_bytes: int) -> dict[str, int]:
        params, mom = self.param_bytes()
        ws = 4 * self.ws_floats
        logits_tmp = 4 * self.graph.tensors[self.logits].size
        # The forward arena is dead during the backward: the workspace shares it (the arena grows
        # to the workspace's size when that is larger).
        ws_in_arena = True
        shadow = self.shadow_bytes()
        peak = max(arena_bytes, ws) + self.saved_bytes + params + mom + shadow + logits_tmp
        # What the same plan would cost without reordering: every weight gradient held at once.
        wgrad = 0
        for u in self.updates:
            op = self.graph.ops[u.op]
            if u.weight_channels:
                wgrad += 4 * self.graph.tensors[op.inputs[1]].size
            if u.bias:
                wgrad += 4 * self.graph.tensors[op.outputs[0]].shape[-1]
            if u.scale:
                wgrad += 4 * self.graph.tensors[op.outputs[0]].shape[-1]
        return {"forward_arena_bytes": arena_bytes, "saved_bytes": self.saved_bytes,
                "saved_mask_bytes": sum(c.nbytes for c in self.captures if c.kind == "mask"),
                "backward_workspace_bytes": ws, "workspace_in_arena": int(ws_in_arena),
                "sram_param_bytes": params, "momentum_bytes": mom, "shadow_bytes": shadow,
                "train_peak_sram_bytes": peak, "without_reordering_bytes": peak + wgrad,
                "backward_steps": len(self.steps)}


def input_slots(g: Graph, s: Step) -> list[tuple[int, bool] | None]:
    """Per input of a step, in input order: (tensor, first contribution) of its gradient, or None when
    that input gets none (a constant, or nothing below needs it). A concatenation or a binary op
    writes its inputs' gradients in this order in the oracle and the C runtime alike."""
    todo = list(zip(s.ins, s.in_first))
    return [todo.pop(0) if todo and todo[0][0] == t else None for t in g.ops[s.op].inputs]


def plan_training(g: Graph, updates: list[LayerUpdate], momentum: bool = False,
                  params: list[dict[str, Any]] | None = None, shadow: bool = False) -> TrainPlan:
    params = params if params is not None else ops.prepare_all(g)
    upd = {u.op: u for u in updates}
    logits = logits_tensor(g)
    lp = g.producer(logits)
    if lp is None:
        raise TinyError("the model output is not computed by any op: nothing to train")
    # needs_grad: tensors whose gradient some update needs.
    ng: dict[int, bool] = {}
    for op in g.ops:
        acts = [t for t in op.inputs if t >= 0 and not g.tensors[t].is_const]
        ng[op.outputs[0]] = op.index in upd or any(ng.get(t, False) for t in acts)
    # only ops on the way to the logits: a branch to another output (a feature head) gets no backward
    anc = upstream(g, logits)
    bw_ops = [op for op in g.ops if ng[op.outputs[0]] and op.outputs[0] in anc]
    for op in bw_ops:
        if op.type not in BACKWARD_KINDS:
            raise TinyError(f"op #{op.index} {op.type} lies between an updated layer and the loss, and tiny "
                            f"has no backward for it (supported: {', '.join(BACKWARD_KINDS)}); train only "
                            f"layers above it")
        p = params[op.index]
        kind = BACKWARD_KINDS[op.type]
        if kind == "dw" and p.depth_multiplier != 1:
            raise TinyError(f"op #{op.index}: backward supports depth multiplier 1 only")
        if kind == "conv" and (p.groups != 1 or p.dilation_h != 1 or p.dilation_w != 1):
            raise TinyError(f"op #{op.index}: backward supports ungrouped, undilated convolutions only")
        if kind in ("conv", "dw") and p.in_shape[0] != 1:
            raise TinyError(f"op #{op.index}: batch 1 only")
        u = upd.get(op.index)
        if u is not None and u.scale and kind != "conv":
            raise TinyError(f"op #{op.index}: a trained requantization scale is supported on CONV_2D only")
        if kind == "fc" and p.batches != 1:
            raise TinyError(f"op #{op.index}: batch 1 only")
        if kind == "concat" and not concat_fits(g, op):
            raise TinyError(f"op #{op.index} CONCATENATION: backward supports up to 65,535 outer slices and "
                            "2^31 elements per slice only")
        if kind == "pad" and (p.in_shape[0] != 1 or not pad_is_spatial(g, op)):
            raise TinyError(f"op #{op.index} PAD: backward supports padding rows and columns of one 4-D tensor only")
        if kind == "transpose" and (p.in_dims[0] != 1 or p.perm4[0] != 0):
            raise TinyError(f"op #{op.index} TRANSPOSE: backward supports batch 1 with the batch axis first only")
        if kind in ("maxpool", "avgpool") and (p.in_shape[0] != 1 or (p.dilation_h, p.dilation_w) != (1, 1)):
            raise TinyError(f"op #{op.index} {op.type}: backward supports batch 1, undilated windows only")
        if kind in ("resize", "bilinear") and p.in_shape[0] != 1:
            raise TinyError(f"op #{op.index} {op.type}: backward supports batch 1 only")
        if kind in ("mean", "reduce_max") and p.in_dims[0] != 1:
            raise TinyError(f"op #{op.index} {op.type}: backward supports batch 1 only")
        if kind in BINARY_KINDS and max(math.prod(int(v) for v in d) for d in p.dims) >= 1 << 32:
            raise TinyError(f"op #{op.index} {op.type}: tensors of 2^32 elements or more")
    # Captures: int8 inputs of weight-updated layers and the logits; masks for the rest.
    caps: list[Capture] = []
    copy_of: dict[int, int] = {}

    def add_copy(tid: int) -> int:
        if tid in copy_of:
            return copy_of[tid]
        t = g.tensors[tid]
        pr = g.producer(tid)
        caps.append(Capture(op=pr.index if pr else -1, tensor=tid, kind="copy", offset=0, nbytes=t.size))
        copy_of[tid] = len(caps) - 1
        return copy_of[tid]

    for op in bw_ops:
        u = upd.get(op.index)
        if u is not None and u.weight_channels:
            add_copy(op.inputs[0])
        if u is not None and u.scale:
            add_copy(op.outputs[0])
        if BACKWARD_KINDS[op.type] in ("maxpool", "leaky", "reduce_max", "dtable"):
            add_copy(op.inputs[0])      # which input of each window was the max (recomputed, first one);
                                        # the sign of a leaky ReLU's input (its slope: 1 or alpha); which
                                        # inputs of a reduction equal its max (recomputed, ties split); the
                                        # input of a tabulated derivative (GELU: its 256-entry table)
        if BACKWARD_KINDS[op.type] in ("logistic", "tanh"):
            add_copy(op.outputs[0])     # the derivative is read off the int8 output: y (1 - y), 1 - y^2
        if BACKWARD_KINDS[op.type] in VALUE_KINDS:
            # mul: each input's gradient is the output's times the other input; max/min: the output's
            # where that input was the one chosen (both values); prelu: slope 1 or alpha by x's sign
            a, b = op.inputs[:2]
            for own, other in ((a, b), (b, a)):
                if _needs(g, ng, own):
                    for t in ((other,) if BACKWARD_KINDS[op.type] == "mul" else (a, b)):
                        if not g.tensors[t].is_const:
                            add_copy(t)
    add_copy(logits)
    mask_of: dict[int, int] = {}
    for op in bw_ops:
        cons = g.consumers(op.outputs[0])
        kind = BACKWARD_KINDS[op.type]
        if kind in ("conv", "dw") and cons and all(c.type == K.HARD_SWISH for c in cons):
            # pre-activation of a hard-swish: its int8 saturation is not masked (part of the 1-bit
            # hard-swish approximation, docs/training.md), so nothing is kept for it
            continue
        lo, hi = int(getattr(params[op.index], "act_min", -128)), int(getattr(params[op.index], "act_max", 127))
        # a pool's output lies in its input's range (same quantization): only a fused activation clamps
        pool_clamps = kind in ("maxpool", "avgpool") and (lo, hi) != (-128, 127)
        # (a MAXIMUM / MINIMUM outputs one of its inputs: nothing clamps)
        if kind in ("conv", "dw", "fc", "add", "sub", "mul", "prelu") \
                or op.type in (K.HARD_SWISH, K.RELU, K.RELU6, K.LEAKY_RELU) \
                or pool_clamps:
            out = op.outputs[0]
            if op.type == K.HARD_SWISH:
                # 1-bit approximation of hard-swish' : 1[x > 0] = 1[q_out > zp_out] (and not saturated)
                lo, hi = g.tensors[out].quant.zp(), 127
            if out in copy_of:
                caps[copy_of[out]].lo, caps[copy_of[out]].hi = lo, hi
                mask_of[op.index] = copy_of[out]
            else:
                caps.append(Capture(op=op.index, tensor=out, kind="mask", offset=0,
                                    nbytes=(g.tensors[out].size + 7) // 8, lo=lo, hi=hi))
                mask_of[op.index] = len(caps) - 1
    off = 0
    for c in caps:
        c.offset = off
        off += (c.nbytes + 3) // 4 * 4
    saved = off
    # Steps, in reverse op order, after the loss.
    steps = [Step(kind="ce", op=-1, out=logits, ins=[logits], in_first=[True], x_saved=copy_of[logits])]
    written: set[int] = {logits}
    for op in reversed(bw_ops):
        kind = BACKWARD_KINDS[op.type]
        # (a PRELU's alpha is a constant: tiny.train.layers keeps the others frozen)
        both = kind in BINARY_KINDS and kind != "prelu"
        ins = [t for t in (op.inputs if kind == "concat" else op.inputs[:2] if both else op.inputs[:1])
               if _needs(g, ng, t)]
        first = []
        for t in ins:
            first.append(t not in written)
            written.add(t)
        u = upd.get(op.index)
        x_saved = copy_of.get(op.inputs[0]) if (u is not None and u.weight_channels) \
            or kind in ("maxpool", "leaky", "reduce_max", "dtable", *VALUE_KINDS) else None
        y_saved = copy_of.get(op.outputs[0]) if (u is not None and u.scale) or kind in ("logistic", "tanh") \
            else copy_of.get(op.inputs[1]) if kind in VALUE_KINDS else None
        steps.append(Step(kind=kind, op=op.index, out=op.outputs[0], ins=ins, in_first=first,
                          mask=mask_of.get(op.index), update=u, x_saved=x_saved, y_saved=y_saved))
    bcast = _broadcast_grads(g, steps, params)
    for s in steps:
        s.bcast = (s.kind == "mean" and s.ins[0] in bcast) or (s.kind == "conv" and s.out in bcast)
    grad_offsets, ws = _plan_grads(g, steps, bcast)
    return TrainPlan(graph=g, updates=list(updates), logits=logits, captures=caps, steps=steps,
                     grad_offsets=grad_offsets, ws_floats=ws, saved_bytes=saved, momentum=momentum, shadow=shadow)


def _needs(g: Graph, ng: dict[int, bool], t: int) -> bool:
    """Whether activation tensor t gets a gradient (an update below needs it)."""
    return t >= 0 and not g.tensors[t].is_const and ng.get(t, False)


BCAST_SLAB = 64     # output channels a broadcast step materializes at a time (TINY_BCAST_SLAB, train.c)
GLOBAL_HW = 0b0110  # a MEAN's axis mask (bits of its 4-D n, h, w, c view) for the global average pool


def _broadcast_grads(g: Graph, steps: list[Step], params: list[Any]) -> set[int]:
    """Tensors whose gradient is a global mean's alone: the same value at every position of a channel
    (times the producer's output mask). Held as one float per channel plus a slab of BCAST_SLAB
    channels at every position instead of the whole H x W x C tensor: before MobileNetV2's
    classifier that gradient (4 x 4 x 1280 floats, 80 KB) was the largest buffer of the backward.
    The producer must be a 1x1 stride-1 unpadded conv (the C runtime runs its kernel slab by slab
    over output channels, every float operation as over the whole tensor: a slab holds all positions
    of its channels, which is what their bias and weight gradients sum over) without a trained
    requantization scale (MobileTL's scale gradient reads the saved output, not the slab)."""
    out: set[int] = set()
    by_out = {s.out: s for s in steps if s.kind != "ce"}
    for s in steps:
        if s.kind != "mean" or not s.ins or not s.in_first[0] or params[s.op].axis_mask != GLOBAL_HW:
            continue
        t = s.ins[0]
        prod = by_out.get(t)
        if prod is None or prod.kind != "conv" or any(t in o.ins for o in steps if o is not s):
            continue
        p = params[prod.op]
        u = prod.update
        if tuple(p.filter_shape[1:3]) != (1, 1) or (p.stride_h, p.stride_w, p.pad_top, p.pad_left) != (1, 1, 0, 0) \
                or (u is not None and u.scale):
            continue
        if g.tensors[t].size > _bcast_floats(g, t):
            out.add(t)
    return out


def _bcast_floats(g: Graph, t: int) -> int:
    """Floats of a broadcast gradient: the per-channel values, then one slab of channels."""
    _, h, w, c = g.tensors[t].shape
    return (c + 3) // 4 * 4 + h * w * min(c, BCAST_SLAB)


def _plan_grads(g: Graph, steps: list[Step], bcast: frozenset[int] | set[int] = frozenset()) -> tuple[dict[int, int], int]:
    """First-fit offsets (floats, 4-float aligned) for gradient buffers over their step lifetimes."""
    born: dict[int, int] = {}
    dies: dict[int, int] = {}
    for i, s in enumerate(steps):
        for t in s.ins:
            born.setdefault(t, i)
        if s.kind != "ce":
            dies[s.out] = i
    intervals = []
    for t, b in born.items():
        d = dies.get(t, b)   # a gradient nobody consumes (below the last step) dies at birth
        n = _bcast_floats(g, t) if t in bcast else g.tensors[t].size
        intervals.append((b, d, t, (n + 3) // 4 * 4))
    placed: list[tuple[int, int, int, int]] = []   # (start, end, offset, size)
    offs: dict[int, int] = {}
    top = 0
    for b, d, t, n in sorted(intervals, key=lambda x: (-x[3], x[0])):
        busy = sorted((o, o + sz) for (s0, e0, o, sz) in placed if not (e0 < b or d < s0))
        cand = 0
        for lo, hi in busy:
            if cand + n <= lo:
                break
            cand = max(cand, hi)
        offs[t] = cand
        placed.append((b, d, cand, n))
        top = max(top, cand + n)
    return offs, top


def trace(plan: TrainPlan) -> list[str]:
    """One line per backward step (for tests, `tiny report` and docs)."""
    g = plan.graph
    out = []
    for s in plan.steps:
        u = s.update
        what = []
        if u is not None and u.bias:
            what.append("bias")
        if u is not None and u.weight_channels:
            oc = g.tensors[s.out].shape[-1]
            what.append(f"weights[{u.weight_channels}/{oc}]")
        if u is not None and u.scale:
            what.append("scale")
        if s.ins and s.kind != "ce":
            what.append("input-grad")
        if s.bcast:
            what.append(f"output gradient per channel, {BCAST_SLAB}-channel slabs" if s.kind == "conv"
                        else "input gradient per channel")
        label = "loss" if s.op < 0 else g.layer_label(g.ops[s.op])
        out.append(f"{s.kind:<5} {label}: {', '.join(what) or '-'}")
    return out

