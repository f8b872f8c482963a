"""MCUNetV2 patch-based inference: memory plan of a patch schedule, schedule search, numpy executor.

Execution of a patch schedule: for each patch (raster order), crop the patch's input window out
of the full image, run every stage op on its region into small per-patch buffers, and place the
patch's output into the full stage-output tensor; then the rest of the network runs layer by
layer. Step i of the plan is op i, both inside the stage (per patch, identical for every patch)
and after it, so one planner covers both parts. The image stays live through the whole stage:
it counts in the peak."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tiny.ops import opdef, results, traits
from tiny.ir import Graph, TinyError
from tiny.memory.plan import Buffer, Plan, _align, assign, lifetimes, merge_aliases
from tiny.ops.base import Local, Params
from tiny.passes.patch_geometry import (Grid, PatchPlan, Rect, spatial_inputs, split_even, stage_splits, trace,
                                        window_params)


@dataclass
class Schedule:
    """A chosen patch schedule with its memory plan (or the layer-based one when split == 0)."""
    split: int
    grid: Grid | None
    patches: PatchPlan | None
    plan: Plan
    macs: int
    layer_macs: int
    candidates: list[dict[str, Any]] = field(default_factory=list)

    @property
    def peak(self) -> int:
        return self.plan.arena_bytes

    @property
    def mac_overhead(self) -> float:
        return self.macs / self.layer_macs - 1.0 if self.layer_macs else 0.0

    def describe(self) -> dict[str, Any]:
        if not self.split:
            return {"schedule": "layer", "peak_bytes": self.peak, "patch_mac_overhead": 0.0}
        return {"schedule": "patch", "split_after_op": self.split - 1, "grid": list(self.grid.n),
                "peak_bytes": self.peak, "patch_mac_overhead": round(self.mac_overhead, 4)}


def _nbytes(g: Graph, tid: int, r: Rect) -> int:
    t = g.tensors[tid]
    return r.h * r.w * int(t.shape[3]) * (t.nbytes // t.size)


def needs_crop(g: Graph, pp: PatchPlan, op_index: int, which: int) -> bool:
    """Whether an elementwise op's input region differs from its output region in some patch."""
    op = g.ops[op_index]
    t_in, t_out = op.inputs[which], op.outputs[0]
    for reg in pp.regions:
        if t_out in reg and t_in in reg and reg[t_in] != reg[t_out] and (reg[t_in].h, reg[t_in].w) != (1, 1):
            return True
    return False


def patch_buffers(g: Graph, pp: PatchPlan, scratch: list[int]) -> list[Buffer]:
    """Buffers of a patch schedule: image + full stage output + per-patch locals + the rest."""
    split = pp.split
    stage = g.ops[:split]
    t_img, t_out = g.inputs[0], stage[-1].outputs[0]
    rest = [b for b in lifetimes(g, scratch) if b.tensor is not None and b.tensor not in (t_img,)
            and b.first >= split]
    rest += [b for b in lifetimes(g, scratch) if b.tensor is None and b.first >= split]
    last_use = max([i for i, op in enumerate(g.ops) if t_out in op.inputs] + [len(g.ops) - 1
                   if t_out in g.outputs else split - 1])
    bufs = [Buffer(f"t{t_img}", _align(g.tensors[t_img].nbytes), 0, split - 1, tensor=t_img),
            Buffer(f"t{t_out}", _align(g.tensors[t_out].nbytes), 0, last_use, tensor=t_out)]
    local_size: dict[int, int] = {}
    for reg in pp.regions:
        for tid, r in reg.items():
            local_size[tid] = max(local_size.get(tid, 0), _nbytes(g, tid, r))
    for tid, size in local_size.items():
        prod = next((i for i, op in enumerate(stage) if tid in op.outputs), 0)
        users = [i for i, op in enumerate(stage) if tid in op.inputs]
        last = max(users + [prod, split - 1 if tid == t_out else prod])
        bufs.append(Buffer(f"p{tid}", _align(size), prod, last, tensor=None))
    for i, op in enumerate(stage):
        if traits(op).elementwise:
            for w in spatial_inputs(g, op):
                if needs_crop(g, pp, i, w):
                    bufs.append(Buffer(f"c{i}_{w}", _align(local_size[op.outputs[0]]), i, i))
        if scratch[i] > 0:
            bufs.append(Buffer(f"s{i}", _align(scratch[i]), i, i))
    return bufs + rest


def plan_patch(g: Graph, pp: PatchPlan, scratch: list[int], aliases: dict[str, str] | None = None,
               thorough: bool = True) -> Plan:
    """thorough=False: greedy-by-size only (fast, for ranking candidates in the search)."""
    bufs, resolved = merge_aliases(patch_buffers(g, pp, scratch), aliases or {})
    return assign(bufs, len(g.ops), resolved, orders=("size",), first_fit=False) if not thorough \
        else assign(bufs, len(g.ops), resolved)


def grids(h: int, w: int, max_n: int = 8) -> list[Grid]:
    out = []
    for gh in range(1, min(max_n, h) + 1):
        for gw in range(1, min(max_n, w) + 1):
            if gh * gw > 1 and abs(gh - gw) <= 1:
                out.append(Grid(split_even(h, gh), split_even(w, gw)))
    return out


def stage_inplace(g: Graph, split: int) -> tuple[dict[str, str], set[int]]:
    """In-place ops of a patch schedule: inside the stage the ops whose OpDef allows it on patch-local
    buffers (depthwise), after it every in-place op (on full tensors)."""
    from tiny.memory.inplace import inplace_aliases, inplace_input
    aliases = {f"t{o}": f"t{i}" for o, i in inplace_aliases(g, g.ops[split:]).items()}
    ops = {op.index for op in g.ops[split:] if f"t{op.outputs[0]}" in aliases}
    t_out = g.ops[split - 1].outputs[0]
    for op in g.ops[:split]:
        if traits(op).inplace_in_patch and op.outputs[0] != t_out and inplace_input(g, op) is not None:
            aliases[f"p{op.outputs[0]}"] = f"p{op.inputs[0]}"
            ops.add(op.index)
    return aliases, ops


def build_schedule(g: Graph, split: int, grid: Grid, base_scratch: list[int], thorough: bool = True,
                   rest_extra: list[int] | None = None) -> Schedule:
    """Trace, size scratch (in-place depthwise needs one local output channel) and plan.
    `rest_extra`: scratch the optimized kernel variants of ops after the stage need beyond the
    portable kernels' (inside the stage only variants without planned scratch run)."""
    from tiny.analysis import total_macs
    from tiny.memory.inplace import inplace_scratch
    pp = trace(g, split, grid)
    aliases, ops = stage_inplace(g, split)
    scratch = list(base_scratch)
    for i in range(split, len(scratch)):
        scratch[i] += rest_extra[i] if rest_extra else 0
    for i in ops:
        if i < split:
            o = g.ops[i].outputs[0]
            scratch[i] += max(reg[o].h * reg[o].w for reg in pp.regions)
        else:
            scratch[i] += inplace_scratch(g, g.ops[i])
    plan = plan_patch(g, pp, scratch, aliases, thorough)
    s = Schedule(split, grid, pp, plan, pp.macs, total_macs(g))
    s.scratch, s.inplace_ops = scratch, ops
    return s


def search(g: Graph, base_scratch: list[int], layer_plan: Plan, budget: int | None, mode: str,
           stage_ok: Any = None, _report_budget: int | None = None, rest_extra: list[int] | None = None) -> Schedule:
    """Pick split and grid. mode 'patch': lowest peak; 'auto': fewest MACs with peak <= budget
    (the layer-based schedule is a candidate too)."""
    from tiny.analysis import total_macs
    layer_macs = total_macs(g)
    layer = Schedule(0, None, None, layer_plan, layer_macs, layer_macs)
    splits = stage_splits(g)
    legal = [k for k, why in splits if not why and k >= 1 and (stage_ok is None or stage_ok(k))]
    cands: list[Schedule] = []
    rest_bound = _rest_lower_bounds(g, base_scratch)
    img = g.tensors[g.inputs[0]].nbytes

    def floor_of(k: int) -> int:
        return max(rest_bound[k], img + g.tensors[g.ops[k - 1].outputs[0]].nbytes)
    # Most promising splits first, so the floor test prunes the rest early.
    for k in sorted(legal, key=floor_of):
        t_out = g.tensors[g.ops[k - 1].outputs[0]]
        floor = floor_of(k)
        best_so_far = min((c.peak for c in cands), default=None)
        if mode == "patch" and budget is None and best_so_far is not None and floor >= best_so_far:
            continue   # no grid at this split can beat what we have
        if budget is not None and mode != "patch" and floor > budget and cands:
            continue
        _, h, w, _ = t_out.shape
        for grid in grids(int(h), int(w)):
            cands.append(build_schedule(g, k, grid, base_scratch, thorough=False, rest_extra=rest_extra))
    table = [{"split_after_op": s.split - 1, "grid": list(s.grid.n), "peak_bytes": s.peak,
              "patch_mac_overhead": round(s.mac_overhead, 4)} for s in cands]
    if not cands:
        why = next((w for _, w in splits if w), "no op boundary has a single tensor crossing it")
        if mode == "auto" and budget is not None and layer.peak <= budget:
            layer.candidates = table
            return layer
        raise TinyError(f"the patch pass cannot split this graph: {why}. The layer-based schedule "
                        f"still works (--schedule layer).")
    if mode == "patch" and budget is None and _report_budget is not None:
        budget = _report_budget   # nothing fits: report the lowest peak against the asked budget
    if mode == "patch" and budget is None:
        best = min(cands, key=lambda s: (s.peak, s.macs))
        best = build_schedule(g, best.split, best.grid, base_scratch, thorough=True, rest_extra=rest_extra)
    else:
        budget = budget if budget is not None else layer.peak
        fitting = [s for s in cands + [layer] if s.peak <= budget]
        if not fitting and mode != "patch":
            return search(g, base_scratch, layer_plan, None, "patch", stage_ok, _report_budget=budget,
                          rest_extra=rest_extra)
        if not fitting:
            low = min(cands, key=lambda s: (s.peak, s.macs))
            live = low.plan.step_live_bytes
            where = max(range(len(live)), key=lambda i: live[i])
            op = g.ops[where]
            raise TinyError(
                f"no schedule fits an SRAM budget of {budget:,} bytes: the smallest peak is {low.peak:,} bytes "
                f"(split after op #{low.split - 1}, {low.grid.n[0]}x{low.grid.n[1]} patches), spent at op "
                f"#{op.index} {op.type} '{g.tensors[op.outputs[0]].name}' ({live[where]:,} live bytes"
                f"{', inside the patch stage' if where < low.split else ''})")
        best = min(fitting, key=lambda s: (s.macs, s.peak, s.split > 0))
    if best.split:   # re-plan the winner with every placement order (never larger)
        best = build_schedule(g, best.split, best.grid, base_scratch, thorough=True, rest_extra=rest_extra)
    best.candidates = table
    return best


def _rest_lower_bounds(g: Graph, scratch: list[int]) -> list[int]:
    """For each split k: the largest live bytes at any step >= k (a floor on any schedule's peak)."""
    from tiny.memory.inplace import inplace_aliases
    from tiny.memory.plan import live_bytes
    # Every in-place alias any split could use, merged: live bytes can only be lower than real.
    keyed = {f"t{o}": f"t{i}" for o, i in inplace_aliases(g).items()}
    bufs, _ = merge_aliases(lifetimes(g, scratch), keyed)
    live = live_bytes(bufs, len(g.ops))
    out = [0] * (len(g.ops) + 1)
    for k in range(len(g.ops) - 1, -1, -1):
        out[k] = max(out[k + 1], live[k])
    return out


def stage_emittable(g: Graph, params: list[Params]) -> Any:
    """A predicate on split points: every stage op's params can be re-targeted to a patch
    (elementwise operands of equal shapes, or flat ones)."""
    def ok(k: int) -> bool:
        return all(params[i].patchable(tuple(g.tensors[op.outputs[0]].shape)) for i, op in enumerate(g.ops[:k]))
    return ok


def usable_sram(board: Any) -> int:
    """SRAM left for the arena after the runtime's stack and static buffers (the same reserve
    the build's budget check applies)."""
    from tiny.build.project import RUNTIME_STATICS_BYTES
    return int(board.sram_bytes) - int(board.stack_bytes) - RUNTIME_STATICS_BYTES


# ---------------------------------------------------------------- numpy executor
def local_pad(g: Graph, op_index: int, reg: dict[int, Rect]) -> tuple[int, int]:
    """(top, left) padding a windowed stage op sees in a patch (0, 0 for other ops)."""
    op = g.ops[op_index]
    if not traits(op).windowed:
        return 0, 0
    out_r, in_r = reg[op.outputs[0]], reg[op.inputs[0]]
    _, _, sh, sw, _, _, pt, pl = window_params(g, op)
    return pt - out_r.r0 * sh + in_r.r0, pl - out_r.c0 * sw + in_r.c0


def local_geometry(g: Graph, op_index: int, reg: dict[int, Rect]) -> Local:
    """Patch-local shapes and padding of stage op `op_index` in one patch."""
    op = g.ops[op_index]
    out_r, in_r = reg[op.outputs[0]], reg[op.inputs[0]]
    oshape = tuple(g.tensors[op.outputs[0]].shape)
    ishape = tuple(g.tensors[op.inputs[0]].shape)
    out_l = (oshape[0], out_r.h, out_r.w, oshape[3])
    in_l = (ishape[0], in_r.h, in_r.w, ishape[3]) if len(ishape) == 4 else ishape
    pt, pl = local_pad(g, op_index, reg)
    return Local(in_shape=in_l, out_shape=out_l, full_out_shape=oshape, pad_top=pt, pad_left=pl,
                 size=int(np.prod(out_l)))


def local_params(p: Params, g: Graph, op_index: int, reg: dict[int, Rect]) -> Params:
    """An op's prepared params re-targeted to its patch-local input/output regions."""
    return p.localize(local_geometry(g, op_index, reg))


def crop(x: np.ndarray, have: Rect, want: Rect) -> np.ndarray:
    """The `want` rectangle out of a local buffer that holds `have`."""
    return x[:, want.r0 - have.r0:want.r1 - have.r0, want.c0 - have.c0:want.c1 - have.c0, :]


def run_patched(g: Graph, pp: PatchPlan, params: list[Params], inputs: list[np.ndarray],
                ) -> dict[int, np.ndarray]:
    """Execute the schedule with the numpy kernels; returns every tensor the rest computes."""
    stage = g.ops[:pp.split]
    t_img, t_out = g.inputs[0], stage[-1].outputs[0]
    full_out = np.zeros(g.tensors[t_out].shape, dtype=np.int8)
    for reg in pp.regions:
        local: dict[int, np.ndarray] = {t_img: crop(inputs[0], Rect(0, inputs[0].shape[1], 0, inputs[0].shape[2]),
                                                    reg[t_img])}
        for i, op in enumerate(stage):
            o = op.outputs[0]
            if o not in reg:
                continue
            args: list[np.ndarray | None] = []
            for w, t in enumerate(op.inputs):
                if t < 0:
                    args.append(None)
                elif g.tensors[t].is_const:
                    args.append(g.tensors[t].data)
                elif traits(op).elementwise and (reg[t].h, reg[t].w) != (1, 1) and reg[t] != reg[o]:
                    args.append(crop(local[t], reg[t], reg[o]))
                else:
                    args.append(local[t])
            q = local_params(params[i], g, i, reg)
            local[o] = np.asarray(opdef(op).run(q, args)).reshape(q.out_shape)
        r = reg[t_out]
        full_out[:, r.r0:r.r1, r.c0:r.c1, :] = local[t_out]
    vals = {t_img: inputs[0], t_out: full_out}
    for op, p in zip(g.ops[pp.split:], params[pp.split:]):
        args = [None if t < 0 else (g.tensors[t].data if g.tensors[t].is_const else vals[t]) for t in op.inputs]
        vals.update(results(g, op, opdef(op).run(p, args)))
    return vals
