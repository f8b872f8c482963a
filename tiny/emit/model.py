"""Graph + memory plan -> model.c / model.h: constant tables and a straight-line call list."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import jinja2

from tiny import __version__
from tiny.analysis import shape_str, total_macs
from tiny.emit.ctx import EmitCtx, SplitCall
from tiny.emit.lower import Program, lower
from tiny.emit.patch import emit_stage
from tiny.ir import Graph, TinyError
from tiny.memory.plan import Plan
from tiny.ops import Params
from tiny.paths import CODEGEN
from tiny.target import Target

_DTYPE_CODE = {"int8": 0, "int32": 1, "float32": 2, "uint8": 3, "int16": 4}
_CTYPE = {"int8": "int8_t", "int32": "int32_t", "float32": "float", "uint8": "uint8_t", "int16": "int16_t"}


@dataclass(frozen=True)
class Extras:
    """What a training firmware adds to the forward pass, rendered by the same templates:
    `storage` gives tables a storage other than `static const` (symbol -> "" mutable / "const "
    linkable), `captures` are ops after which tiny_train_capture(op) saves what the backward
    needs, `arena_bytes` a larger arena (the backward workspace reuses it), `hash` the model hash.
    `split_filters` (op -> n): layers whose filter is two tables, the first n output channels
    (updated, SRAM: `l<op>_filter`) and the rest (frozen, flash: `l<op>_filter_frozen`), run as two
    kernel calls; `split_scratch` (op -> arena byte offset) places the interleave scratch of those
    with more than one output row."""
    hash: str
    storage: dict[str, str] = field(default_factory=dict)
    captures: frozenset[int] = frozenset()
    arena_bytes: int = 0
    includes: tuple[str, ...] = ()
    split_filters: dict[int, int] = field(default_factory=dict)
    split_scratch: dict[int, int] = field(default_factory=dict)


@dataclass
class Compiled:
    """Everything `tiny compile` produced for one model."""
    graph: Graph
    params: list[Params]
    plan: Plan
    files: dict[str, str]
    hash: str
    const_bytes: int
    schedule: Any = None
    readable_ops: list[int] = field(default_factory=list)   # ops whose output READ_TENSOR can fetch
    marker_order: list[int] = field(default_factory=list)   # op index of each layer-marker pair, in order
    kernels: dict[int, str] = field(default_factory=dict)   # op index -> C function called
    target: Target | None = None
    program: Any = None                                      # the lowered Program (tiny/emit/lower.py)

    def summary(self) -> dict[str, Any]:
        # Inputs and outputs live in the arena: no separate I/O buffers on the board.
        return {"arena_bytes": self.plan.arena_bytes, "weights_bytes": self.const_bytes, "io_bytes": 0,
                "hash": self.hash, "macs": total_macs(self.graph)}


def model_hash(g: Graph, key: str = "") -> str:
    h = hashlib.sha256(g.meta.get("tflite", b"") + key.encode() + __version__.encode())
    # weights requantized in memory (training headroom) differ from the .tflite bytes: two such
    # graphs must not share a firmware project (tiny.workflow.project_dir_for) or pass its model check
    if g.meta.get("weight_headroom"):
        h.update(repr(g.meta["weight_headroom"]).encode())
    return h.hexdigest()[:16]


def compile_key(target: Target, schedule: Any = None) -> str:
    """What of the target and schedule changes the generated C (hashed into the model hash)."""
    split = schedule.split if schedule is not None and schedule.split else 0
    if split:
        mode = target.schedule if target.schedule != "layer" else "patch"
        key = f"board={target.board};schedule={mode};split={split};grid={schedule.grid.n}"
    else:
        key = f"board={target.board};schedule=layer"
    if target.kernels != "opt" and target.dsp:
        key += ";kernels=" + target.kernels
    return key


def _c_ident(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", s)


def _comment_safe(s: str) -> str:
    return s.replace("*/", "* /").replace("/*", "/ *")


def short_name(name: str) -> str:
    """A tensor's name shortened for comments: its first ';'-separated part, last two path parts."""
    first = name.split(";")[0]
    return _comment_safe("/".join(first.split("/")[-2:])[:60])


def arena_slots(g: Graph, plan: Plan) -> list[dict[str, Any]]:
    """One named slot per planned buffer, by offset: `#define ARENA_<KEY> offset` with its size,
    live range (op steps) and what it holds; buffers running in place name the slot they share."""
    what = {"t": "", "p": "patch-local ", "s": "scratch of op #", "c": "patch crop for op #"}
    out = []
    for b in sorted(plan.buffers, key=lambda b: (b.offset, b.key)):
        k = b.key
        if k[0] in "tp" and k[1:].isdigit():
            desc = what[k[0]] + short_name(g.tensors[int(k[1:])].name)
        else:
            desc = what.get(k[0], "") + k[1:].split("_")[0]
        out.append({"key": k, "macro": f"ARENA_{k.upper()}", "offset": b.offset, "bytes": b.nbytes,
                    "first": b.first, "last": b.last, "what": desc, "alias": None})
    names = {s["key"]: s["macro"] for s in out}
    for k, v in sorted(plan.aliases.items()):
        desc = short_name(g.tensors[int(k[1:])].name) if k[1:].isdigit() else k
        out.append({"key": k, "macro": f"ARENA_{k.upper()}", "offset": names[v], "bytes": 0, "first": 0, "last": 0,
                    "what": f"{desc}, in place over {names[v]}", "alias": names[v]})
    return out


def _checked(code: str, index: int) -> str:
    """Make each kernel call statement return an error code from invoke when the kernel fails."""
    out = []
    for line in code.splitlines():
        s = line.strip()
        if s.startswith("tiny_") and s.endswith(");") and "=" not in s.split("(")[0]:
            line = line.replace(s, f"if ({s[:-1]} != TINY_OK) return {index + 1};")
        out.append(line)
    return "\n".join(out)


def split_call(st: Any, n: int, target: Target, scratch_expr: str) -> SplitCall:
    """The two calls of a split layer: each part's kernel chosen for its own shape, within the
    op's planned scratch (sized for the whole layer)."""
    d, p = st.opdef, st.params
    fns = []
    for lo, hi in ((0, n), (n, int(p.out_shape[-1]))):
        sub = d.channel_slice(p, lo, hi)
        v = d.select(sub, target, st.inplace)
        if v.scratch(sub) > st.scratch:
            v = d.select(sub, target, st.inplace, scratch_free=True)
        fns.append(v.fn)
    return SplitCall(n=n, fns=(fns[0], fns[1]), scratch_expr=scratch_expr)


def compile_graph(g: Graph, target: Target | None = None, schedule: Any = None, inplace: bool = True,
                  extras: Extras | None = None) -> Compiled:
    """prepare every op (errors before any C is written), choose kernels, plan the arena (tiny/emit/
    lower.py), then print the program as C.

    `target`: board and kernel set (tiny/target.py; default: the host board, optimized kernels);
    `schedule`: a tiny.passes.patch.Schedule; its first `split` ops then run patch by patch.
    `extras`: what a training firmware adds (tiny/train/emit.py)."""
    target = target if target is not None else Target()
    prog = lower(g, schedule, target, inplace, hash=model_hash(g, compile_key(target, schedule)))
    return render(prog, extras)


def render(prog: Program, extras: Extras | None = None) -> Compiled:
    """The C of a lowered program: model.c (tables + a straight call list) and model.h."""
    g, schedule, target, params = prog.graph, prog.schedule, prog.target, prog.params
    defs = [st.opdef for st in prog.steps]
    choices = [st.variant for st in prog.steps]
    scratch = [st.scratch for st in prog.steps]
    plan, split = prog.plan, prog.split
    offs = plan.offsets()
    digest = extras.hash if extras is not None else prog.hash
    storage = dict(extras.storage) if extras is not None else {}
    captures = extras.captures if extras is not None else frozenset()
    splits = extras.split_filters if extras is not None else {}
    declared: list[str] = []
    slots = arena_slots(g, plan)
    at = {s["key"]: s["macro"] for s in slots}

    def ptr(tid: int, const: bool) -> str:
        t = g.tensors[tid]
        if t.is_const:
            return "NULL"
        qual = "const " if const else ""
        return f"({qual}{_CTYPE[t.dtype]} *)(tiny_arena + {at[f't{tid}']})"

    layers, blocks = [], []
    const_total = sum(g.tensors[t].nbytes for op in g.ops for t in op.inputs if t >= 0 and g.tensors[t].is_const)
    const_total += sum(v.const_bytes for v in choices)     # e.g. tiny_lut_s8 tables in flash
    if split:
        decls, loop = emit_stage(g, schedule, params, scratch, at, _checked, choices)
        layers.append({"index": 0, "type": "PATCH STAGE", "label": f"ops #0..#{split - 1}", "decls": decls,
                       "ins": shape_str(g.tensors[g.inputs[0]].shape),
                       "outs": shape_str(g.tensors[g.ops[split - 1].outputs[0]].shape), "scratch": 0})
        blocks.append(loop)
    for op, p, d, s in list(zip(g.ops, params, defs, scratch))[split:]:
        # a variable (state) input is updated in place by its op: a mutable pointer
        e = EmitCtx(prefix=f"l{op.index}", inputs=[ptr(t, not g.tensors[t].variable) if t >= 0 else "NULL"
                                                   for t in op.inputs],
                    outputs=[ptr(t, False) for t in op.outputs],
                    scratch_expr=f"(tiny_arena + {at[f's{op.index}']})" if s > 0 else "NULL",
                    scratch_size=s, storage=storage)
        if op.index in splits:
            off = extras.split_scratch.get(op.index)
            e.split = split_call(prog.steps[op.index], splits[op.index], target,
                                 "NULL" if off is None else f"(int8_t *)(tiny_arena + {off})")
        call = d.call(p, e, choices[op.index])
        declared += e.declared
        out = g.tensors[op.outputs[0]]
        label = _comment_safe(out.name)
        layers.append({
            "index": op.index, "type": op.type, "label": label, "decls": e.decls,
            "ins": ", ".join(shape_str(g.tensors[t].shape) for t in op.inputs if t >= 0 and not g.tensors[t].is_const),
            "outs": shape_str(out.shape), "scratch": s,
        })
        blocks.append("\n".join([f"    /* #{op.index} {op.type} {short_name(out.name)} (tables above: l{op.index}_*) */", f"    tiny_layer_begin({op.index});",
                                  *("    " + x for x in _checked(call, op.index).splitlines()),
                                  f"    tiny_layer_end({op.index});",
                                  *([f"    tiny_train_capture({op.index});"] if op.index in captures else []),
                                  f"    if (stop_after == {op.index}) return 0;"]))

    # Tensors inside a patch stage only ever exist as patch-local pieces: not readable.
    stage_internal = {t for op in g.ops[:max(split - 1, 0)] for t in op.outputs}

    def ref(tid: int) -> dict[str, Any]:
        t = g.tensors[tid]
        key = f"t{tid}"
        ok = key in offs and tid not in stage_internal
        return {"offset": offs[key] if ok else 0, "bytes": t.nbytes if ok else 0,
                "dtype": _DTYPE_CODE.get(t.dtype, 0), "name": _comment_safe(t.name), "id": tid,
                "shape": shape_str(t.shape), "dtype_name": t.dtype,
                "scale": t.quant.s() if t.quant else 1.0, "zp": t.quant.zp() if t.quant else 0}

    n_t = max(g.tensors) + 1 if g.tensors else 0
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(CODEGEN)), keep_trailing_newline=True,
                             trim_blocks=False, undefined=jinja2.StrictUndefined)
    ctx = {
        "name": _c_ident(g.name), "version": __version__, "source": _comment_safe(g.meta.get("source", g.name)),
        "hash": digest, "arena_bytes": max(plan.arena_bytes, 16), "lower_bound": plan.lower_bound,
        "slots": slots, "arena_alloc": max(plan.arena_bytes, 16, extras.arena_bytes if extras is not None else 0),
        "includes": list(extras.includes) if extras is not None else [],
        "const_bytes": const_total, "n_ops": len(g.ops), "macs": total_macs(g), "layers": layers,
        "blocks": blocks, "schedule": schedule.describe() if split else {"schedule": "layer"},
        "inputs": [ref(t) for t in g.inputs], "outputs": [ref(t) for t in g.outputs],
        "variables": [{"macro": at[f"t{t}"], "bytes": g.tensors[t].nbytes, "name": _comment_safe(g.tensors[t].name),
                       "fill": int(g.tensors[t].reset_value().reshape(-1)[0]) & 0xFF if g.tensors[t].size else 0}
                      for t in g.variables()],
        "tensors": [ref(t) if t in g.tensors and f"t{t}" in offs else {"offset": 0, "bytes": 0, "dtype": 0, "name": "", "id": t}
                    for t in range(n_t)],
    }
    files = {"model.c": env.get_template("model.c.j2").render(**ctx),
             "model.h": env.get_template("model.h.j2").render(**ctx)}
    missing = sorted(set(storage) - set(declared))
    if missing:
        raise TinyError(f"generated code has no table {', '.join(missing)} (the op emits no such table)")
    c = Compiled(graph=g, params=params, plan=plan, files=files, hash=digest, const_bytes=const_total)
    c.program = prog
    c.kernels = {op.index: v.fn for op, v in zip(g.ops, choices)}
    c.schedule = schedule
    c.target = target
    c.readable_ops = [op.index for op in g.ops if op.index >= max(split - 1, 0)]
    # The order in which one INVOKE calls the layer markers (instruction counts are per call).
    n_patches = len(schedule.patches.regions) if split else 0
    c.marker_order = [i for _ in range(n_patches) for i in range(split)] + list(range(split, len(g.ops)))
    return c
