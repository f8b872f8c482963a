"""Lowering: graph + schedule + target -> Program, the typed steps the C printer renders.

Each step carries its op, the chosen kernel variant, the typed params and its planned scratch; the
arena plan is made after the kernel choice (a variant's scratch is part of it). Printing (tiny/emit/
model.py::render) adds nothing a later stage would have to edit."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tiny import ops
from tiny.ir import Graph, Op
from tiny.memory.inplace import inplace_aliases, inplace_scratch
from tiny.memory.plan import Plan, plan_graph
from tiny.ops import OpDef, Params, Variant, prepare_all
from tiny.target import Target


@dataclass
class Step:
    op: Op
    opdef: OpDef
    params: Params
    variant: Variant            # the C kernel that runs it
    scratch: int                # planned scratch bytes (portable need + in-place + variant's extra)
    inplace: bool               # the output overwrites an input

    @property
    def inputs(self) -> list[str]:
        """Arena buffer keys of the activation inputs (constants live in flash)."""
        return [f"t{t}" for t in self.op.inputs if t >= 0]

    @property
    def outputs(self) -> list[str]:
        return [f"t{t}" for t in self.op.outputs]


@dataclass
class Program:
    graph: Graph
    target: Target
    schedule: Any               # a tiny.passes.patch.Schedule or None (layer by layer)
    steps: list[Step]
    plan: Plan
    hash: str
    params: list[Params] = field(default_factory=list)

    @property
    def split(self) -> int:
        return self.schedule.split if self.schedule is not None and self.schedule.split else 0

    def describe(self) -> dict[str, Any]:
        """A plain-data view of the program (snapshot tests, debugging): per step the op, kernel,
        params type, scratch and the arena buffers (key, offset) it reads and writes; inside a
        patch stage the patch-local buffers (p<tensor>)."""
        offs = self.plan.offsets()
        g = self.graph

        def bufs(st: Step, keys: list[str]) -> list[list[Any]]:
            out = []
            for k in keys:
                if g.tensors[int(k[1:])].is_const:
                    continue
                local = "p" + k[1:]
                k = local if st.op.index < self.split and local in offs else k
                out.append([k, offs.get(k)])
            return out
        return {"target": self.target.key(), "schedule": self.schedule.describe() if self.split else {"schedule": "layer"},
                "arena_bytes": self.plan.arena_bytes, "lower_bound": self.plan.lower_bound,
                "steps": [{"op": st.op.index, "type": st.op.type, "kernel": st.variant.fn,
                           "params": type(st.params).__name__, "scratch": st.scratch, "inplace": st.inplace,
                           "in": bufs(st, st.inputs), "out": bufs(st, st.outputs),
                           "patch_stage": st.op.index < self.split} for st in self.steps]}


def lower(g: Graph, schedule: Any, target: Target, inplace: bool = True, hash: str = "") -> Program:
    """Prepare every op, choose each kernel for `target`, size scratch and plan the arena."""
    params = prepare_all(g)
    defs = [ops.opdef(op) for op in g.ops]
    scratch = [d.scratch_bytes(p) for d, p in zip(defs, params)]
    split = schedule.split if schedule is not None and schedule.split else 0
    aliases = inplace_aliases(g, g.ops[split:]) if inplace else {}
    inplace_ops = {op.index for op in g.ops if op.outputs[0] in aliases}
    if split:
        inplace_ops, scratch = set(schedule.inplace_ops), list(schedule.scratch)
    else:
        for i in inplace_ops:
            scratch[i] += inplace_scratch(g, g.ops[i])
    choices = [d.select(p, target, inplace=op.index in inplace_ops) for op, d, p in zip(g.ops, defs, params)]
    if split:   # the searched plan fixed the stage's scratch: keep variants that fit it
        choices = [v if i >= split or v.scratch(params[i]) == 0
                   else defs[i].select(params[i], target, i in inplace_ops, scratch_free=True)
                   for i, v in enumerate(choices)]
    if split:   # the schedule's scratch already holds the variants' extra after the stage (tiny/compile.py)
        scratch = list(schedule.scratch)
    else:
        scratch = [s + int(v.scratch(p)) for s, v, p in zip(scratch, choices, params)]
    plan = schedule.plan if split else plan_graph(g, scratch, aliases)
    steps = [Step(op, d, p, v, s, op.index in inplace_ops)
             for op, d, p, v, s in zip(g.ops, defs, params, choices, scratch)]
    return Program(graph=g, target=target, schedule=schedule, steps=steps, plan=plan, hash=hash, params=params)
