"""Compile a graph for a target: search the schedule the target asks for, then emit it."""
from __future__ import annotations

from typing import Callable

from tiny import ops
from tiny.emit.model import Compiled, compile_graph
from tiny.ir import Graph
from tiny.passes.patch import search, stage_emittable, usable_sram
from tiny.target import Target


def compile_model(g: Graph, target: Target, stage_ok: Callable[[int], bool] | None = None) -> Compiled:
    """The layer-based compile, or (schedule patch / auto) the searched patch schedule; `auto`
    without a budget uses the board's usable SRAM. stage_ok: an extra predicate on split points
    (training: the patch stage stays below the backward)."""
    layer = compile_graph(g, target)
    if target.schedule == "layer":
        return layer
    budget = target.sram_budget
    if target.schedule == "auto" and budget is None:
        budget = usable_sram(target.info)
    params = ops.prepare_all(g)
    base = [ops.opdef(op).scratch_bytes(p) for op, p in zip(g.ops, params)]
    emittable = stage_emittable(g, params)
    ok = emittable if stage_ok is None else (lambda k: stage_ok(k) and emittable(k))
    # the optimized variants' own scratch for ops after the stage (e.g. the conv GEMM's im2col buffer)
    extra = [max(int(d.select(p, target, ip).scratch(p)) for ip in (False, True))
             for d, p in ((ops.opdef(op), p) for op, p in zip(g.ops, params))]
    s = search(g, base, layer.plan, budget, target.schedule, ok, rest_extra=extra)
    if not s.split:
        layer.schedule_info = {"schedule": "layer", "layer_based_peak_bytes": layer.plan.arena_bytes,
                               "patch_candidates": s.candidates}
        return layer
    c = compile_graph(g, target, schedule=s)
    c.schedule_info = {**s.describe(), "layer_based_peak_bytes": layer.plan.arena_bytes,
                       "patch_based_peak_bytes": s.peak, "patch_candidates": s.candidates}
    return c
