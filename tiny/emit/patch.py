"""C for a patch stage: per-patch geometry tables and one loop that calls the same kernels.

Each stage op keeps its constant tables; what changes per patch (region extents and the
top/left padding seen by the kernel) lives in a `tiny_patch_geo` table indexed by patch."""
from __future__ import annotations

from typing import Any

from tiny import ops
from tiny.emit.ctx import EmitCtx, SymDims
from tiny.ir import Graph
from tiny.ops.base import Local, Params, Variant
from tiny.passes.patch import Schedule, local_pad, needs_crop
from tiny.passes.patch_geometry import Rect, spatial_inputs

_CTYPE = {"int8": "int8_t", "int32": "int32_t", "float32": "float", "uint8": "uint8_t", "int16": "int16_t"}


def _win(r: Rect) -> str:
    return f"{{ {r.r0}, {r.c0}, {r.h}, {r.w} }}"


def _rows(items: list[str], per_line: int = 4) -> str:
    return ",\n    ".join(", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line))


def patch_params(g: Graph, i: int, p: Params) -> Params:
    """Prepared params of stage op i with symbolic per-patch extents and padding (read from the
    patch's `tiny_patch_geo` row `pg` at run time)."""
    op = g.ops[i]
    out_full = tuple(g.tensors[op.outputs[0]].shape)
    out = SymDims(out_full, "pg->out_h", "pg->out_w")
    x = g.tensors[op.inputs[0]] if op.inputs and op.inputs[0] >= 0 else None
    inp = SymDims(tuple(x.shape), "pg->in_h", "pg->in_w") if x is not None and len(x.shape) == 4 else None
    return p.localize(Local(in_shape=inp, out_shape=out, full_out_shape=out_full, pad_top="pg->pad_top",
                            pad_left="pg->pad_left", size=out.size_expr))


def emit_stage(g: Graph, s: Schedule, params: list[Params], scratch: list[int], offs: dict[str, str],
               checked: Any, choices: list[Variant]) -> tuple[list[str], str]:
    """Declarations and the loop of the patch stage; `choices`: the kernel variant of each op,
    `offs`: the arena slot (C expression of its offset) of each planned buffer key."""
    pp = s.patches
    n = len(pp.regions)
    stage = g.ops[:s.split]
    t_img, t_out = g.inputs[0], stage[-1].outputs[0]
    img, out = g.tensors[t_img], g.tensors[t_out]
    esize = img.nbytes // img.size
    decls = [f"/* ==== patch stage: ops #0..#{s.split - 1} run patch by patch, {s.grid.n[0]}x{s.grid.n[1]} "
             f"patches of the {out.shape[1]}x{out.shape[2]} output of op #{s.split - 1} ==== */",
             f"static const tiny_window stage_in_win[{n}] = {{ /* input image window of each patch */\n    "
             + _rows([_win(reg[t_img]) for reg in pp.regions]) + "\n};",
             f"static const tiny_window stage_out_win[{n}] = {{ /* where each patch lands in the stage output */\n    "
             + _rows([_win(reg[t_out]) for reg in pp.regions]) + "\n};"]

    def local_ptr(key: str, tid: int, const: bool) -> str:
        return f"({'const ' if const else ''}{_CTYPE[g.tensors[tid].dtype]} *)(tiny_arena + {offs[key]})"

    body: list[str] = [
        f"tiny_window_crop(&(tiny_dims){{ {', '.join(map(str, img.shape))} }}, "
        f"(const int8_t *)(tiny_arena + {offs[f't{t_img}']}), &stage_in_win[p], {esize}, "
        f"(int8_t *)(tiny_arena + {offs[f'p{t_img}']}));"]
    for i, op in enumerate(stage):
        p = params[i]
        o = op.outputs[0]
        geo = []
        for reg in pp.regions:
            pt, pl = local_pad(g, i, reg)
            ir = reg[op.inputs[0]]
            geo.append(f"{{ {ir.h}, {ir.w}, {reg[o].h}, {reg[o].w}, {pt}, {pl} }}")
        decls.append(f"static const tiny_patch_geo l{i}_geo[{n}] = {{ /* in h, w; out h, w; pad top, left */\n    "
                     + _rows(geo) + "\n};")
        pre: list[str] = []
        ins: list[str] = []
        for w, t in enumerate(op.inputs):
            if t < 0 or g.tensors[t].is_const:
                ins.append("NULL")
            elif ops.traits(op).elementwise and w in spatial_inputs(g, op) and needs_crop(g, pp, i, w):
                crops = [_win(Rect(reg[o].r0 - reg[t].r0, reg[o].r0 - reg[t].r0 + reg[o].h,
                                   reg[o].c0 - reg[t].c0, reg[o].c0 - reg[t].c0 + reg[o].w)) for reg in pp.regions]
                srcd = [f"{{ {reg[t].h}, {reg[t].w} }}" for reg in pp.regions]
                decls.append(f"static const tiny_window l{i}_crop{w}[{n}] = {{\n    " + _rows(crops) + "\n};")
                decls.append(f"static const tiny_tile l{i}_src{w}[{n}] = {{\n    " + _rows(srcd, 8) + "\n};")
                c = g.tensors[t].shape[3]
                pre.append(f"tiny_window_crop(&(tiny_dims){{ 1, l{i}_src{w}[p].h, l{i}_src{w}[p].w, {c} }}, "
                           f"{local_ptr(f'p{t}', t, True)}, &l{i}_crop{w}[p], 1, {local_ptr(f'c{i}_{w}', t, False)});")
                ins.append(local_ptr(f"c{i}_{w}", t, True))
            else:
                ins.append(local_ptr(f"p{t}", t, True))
        e = EmitCtx(prefix=f"l{i}", inputs=ins, outputs=[local_ptr(f"p{o}", o, False)],
                    scratch_expr=f"(tiny_arena + {offs[f's{i}']})" if scratch[i] > 0 else "NULL",
                    scratch_size=scratch[i], local_structs=True)
        call = ops.opdef(op).call(patch_params(g, i, p), e, choices[i])
        decls.extend(e.decls)
        lines = [f"/* #{i} {op.type} {g.tensors[o].name} */", "{", f"    const tiny_patch_geo *pg = &l{i}_geo[p];",
                 *("    " + x for x in pre), f"    tiny_layer_begin({i});", *("    " + x for x in e.locals),
                 *("    " + x for x in checked(call, i).splitlines()), f"    tiny_layer_end({i});", "}"]
        body.extend(lines)
    body.append(f"tiny_window_place({local_ptr(f'p{t_out}', t_out, True)}, &stage_out_win[p], {esize}, "
                f"&(tiny_dims){{ {', '.join(map(str, out.shape))} }}, (int8_t *)(tiny_arena + {offs[f't{t_out}']}));")
    loop = "\n".join(["    for (int32_t p = 0; p < %d; ++p) {" % n, *("        " + x for x in "\n".join(body).splitlines()),
                      "    }", f"    if (stop_after >= 0 && stop_after < {s.split}) return 0;"])
    return decls, loop
