"""MCUNetV2 patch geometry: stages, receptive fields traced backwards, grids, MAC cost.

A *stage* is a prefix ops[0:split] of spatially local ops whose only tensor used after the split
is the stage output. A patch is a rectangle of the stage output; tracing it backwards through
every op gives the rectangle of each stage tensor that the patch needs, clipped to the tensor
(SAME padding is asymmetric at image borders; clipping against the real tensor and keeping the
op's own top/left padding handles both sides exactly)."""
from __future__ import annotations

from dataclasses import dataclass, field

from tiny import ops
from tiny.analysis import op_macs
from tiny.ir import Graph, Op
from tiny.ops.base import Rect
from tiny.ops.conv2d import window_params

__all__ = ["Grid", "PatchPlan", "Rect", "input_rect", "spatial_inputs", "split_even", "stage_splits", "trace",
           "window_params"]


def _hw(g: Graph, tid: int) -> tuple[int, int]:
    s = g.tensors[tid].shape
    return int(s[1]), int(s[2])


def input_rect(g: Graph, op: Op, out: Rect, which: int = 0) -> Rect:
    """The rectangle of input `which` that op needs to produce `out`, clipped to the input
    (the op's receptive field, from its OpDef)."""
    return ops.traits(op).input_rect(g, op, out, which)


def spatial_inputs(g: Graph, op: Op) -> list[int]:
    """Positions of op inputs that carry activations (not constants, not a PAD's paddings)."""
    return ops.traits(op).spatial_inputs(g, op)


def stage_splits(g: Graph) -> list[tuple[int, str]]:
    """Every split point k (stage = ops[0:k]) where a patch stage is legal, with the reason others fail.

    Returns [(k, "")] for legal k, and [(k, reason)] for the first illegal one (for messages)."""
    out: list[tuple[int, str]] = []
    if len(g.inputs) != 1:
        return [(0, "the model has more than one input")]
    for k in range(1, len(g.ops)):
        op = g.ops[k - 1]
        if not ops.traits(op).local:
            out.append((k, f"op #{op.index} {op.type} is not spatially local (it needs the whole tensor)"))
            break
        if len(g.tensors[op.outputs[0]].shape) != 4:
            out.append((k, f"op #{op.index} {op.type} output is not 4-D"))
            break
        if any(len(g.tensors[op.inputs[i]].shape) == 4 and _hw(g, op.inputs[i]) == (1, 1)
               and _hw(g, op.outputs[0]) != (1, 1) for i in spatial_inputs(g, op)[1:]):
            out.append((k, f"op #{op.index} {op.type} broadcasts a per-channel tensor computed in the stage"))
            break
        crossing = {t for o in g.ops[k:] for t in o.inputs if t >= 0 and not g.tensors[t].is_const
                    and (t in g.inputs or any(t in p.outputs for p in g.ops[:k]))}
        if crossing == {g.ops[k - 1].outputs[0]}:
            out.append((k, ""))
    return out


@dataclass
class Grid:
    rows: list[tuple[int, int]]   # output row ranges, top to bottom
    cols: list[tuple[int, int]]

    @property
    def n(self) -> tuple[int, int]:
        return len(self.rows), len(self.cols)

    def patches(self) -> list[Rect]:
        return [Rect(r0, r1, c0, c1) for r0, r1 in self.rows for c0, c1 in self.cols]


def split_even(size: int, parts: int) -> list[tuple[int, int]]:
    """`parts` ranges covering [0, size); the first ones one larger when size % parts != 0."""
    base, extra = divmod(size, parts)
    out, at = [], 0
    for i in range(parts):
        n = base + (1 if i < extra else 0)
        out.append((at, at + n))
        at += n
    return [r for r in out if r[1] > r[0]]


@dataclass
class PatchPlan:
    """Regions of every stage tensor for every patch (patch order = raster order)."""
    split: int
    grid: Grid
    regions: list[dict[int, Rect]] = field(default_factory=list)   # per patch: tensor id -> rect
    macs: int = 0                                                    # whole model, patched stage
    layer_macs: int = 0

    @property
    def mac_overhead(self) -> float:
        return self.macs / self.layer_macs - 1.0 if self.layer_macs else 0.0


def trace(g: Graph, split: int, grid: Grid) -> PatchPlan:
    """Regions per patch by walking the stage backwards; MACs counted over computed regions."""
    stage = g.ops[:split]
    out_t = stage[-1].outputs[0]
    plan = PatchPlan(split=split, grid=grid)
    stage_macs = 0
    for patch in grid.patches():
        reg: dict[int, Rect] = {out_t: patch}
        for op in reversed(stage):
            o = op.outputs[0]
            if o not in reg:   # nothing downstream needs this op in this patch
                continue
            for i in spatial_inputs(g, op):
                t = op.inputs[i]
                r = input_rect(g, op, reg[o], i)
                reg[t] = reg[t].union(r) if t in reg else r
        for op in stage:
            o = op.outputs[0]
            if o in reg:
                full = g.tensors[o]
                per_pixel = op_macs(g, op) // (full.shape[1] * full.shape[2])   # exact: MACs = H*W*per-pixel
                stage_macs += per_pixel * reg[o].h * reg[o].w
        plan.regions.append(reg)
    plan.layer_macs = sum(op_macs(g, op) for op in g.ops)
    plan.macs = stage_macs + sum(op_macs(g, op) for op in g.ops[split:])
    return plan
