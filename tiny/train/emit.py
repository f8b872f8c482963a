"""Training firmware: the compiled model + the training plan -> model.c (with training hooks) + train_model.c.

model.c is the ordinary generated forward pass, rendered again with three additions (emit.model.Extras,
data the templates render; the kernel calls stay those of the inference code):
- the weight/bias tables of updated layers lose `const` (so they live in SRAM, copied from flash
  at boot by the startup code); tables of frozen layers the backward reads lose `static` only;
- a conv / fully connected layer updated on its first n < oc output channels keeps the frozen
  channels in flash: its filter is two tables (`l<op>_filter` n*K bytes in SRAM,
  `l<op>_filter_frozen` the rest, const) and its forward two kernel calls plus an in-place channel
  interleave whose scratch is placed in an arena gap free once the two calls ran;
- after every op whose output the backward needs, a call `tiny_train_capture(op)` copies the int8
  tensor (or packs its 1-bit clamp mask) into the saved buffer;
- the model hash covers the training plan.
train_model.c holds the plan as tables for firmware/src/train/train.c (copied into the project as
tiny_train.c: linked as an object, so its strong tiny_proto_train wins over the weak default).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tiny import paths
from tiny.build.project import RUNTIME_STATICS_BYTES
from tiny.emit.model import Compiled, Extras, render
from tiny.emit.select import board_has_fpu
from tiny.ir import TinyError
from tiny.ops import opdef
from tiny.memory.plan import free_gap
from tiny.passes.sparse_update import BINARY_KINDS, VALUE_KINDS, TrainPlan, input_slots
from tiny.ops.resize import bilinear_sources, resize_sources
from tiny.reference.train import layer_scales, real_values

# The training runtime's codes (firmware/include/tiny/train.h; tests/unit/test_constants.py compares).
_KIND = {"ce": 0, "conv": 1, "dw": 2, "fc": 3, "mean": 4, "add": 5, "copy": 6, "maxpool": 7, "avgpool": 8,
         "transpose": 9, "pad": 10, "concat": 11, "mul": 12, "logistic": 13, "tanh": 14,
         "leaky": 15, "sub": 16, "max": 17, "min": 18, "prelu": 19, "resize": 20,
         "reduce_max": 21, "bilinear": 22, "dtable": 23}  # TINY_TS_*
FLAG_MASK_BITS, FLAG_MASK_COPY, FLAG_IN_FIRST, FLAG_IN2_FIRST, FLAG_UPD_B, FLAG_BCAST = 1, 2, 4, 8, 16, 32   # TINY_TF_*
FLAG_BROADCAST = 64
CAP_COPY, CAP_MASK = 0, 1                                                              # TINY_CAP_*


@dataclass
class TrainCompiled(Compiled):
    train_plan: Any = None
    train_memory: dict[str, int] = field(default_factory=dict)
    param_names: list[str] = field(default_factory=list)
    lr: float = 0.05
    momentum: float = 0.0
    qas: bool = True
    step_kernels: list[str | None] = field(default_factory=list)   # backward kernel per plan step

    def summary(self) -> dict[str, Any]:
        s = super().summary()
        m = self.train_memory
        extra = m["train_peak_sram_bytes"] - m["forward_arena_bytes"]
        s["runtime_statics_bytes"] = RUNTIME_STATICS_BYTES + extra
        return s


def _f(v: float) -> str:
    return float(np.float32(v)).hex() + "f"


def _farr(a: np.ndarray) -> str:
    return ", ".join(_f(v) for v in np.asarray(a, dtype=np.float32).reshape(-1)) or "0"


def backward_kernel(kind: str, d: dict[str, Any], board: Any, kernels: str) -> str:
    """The C backward kernel of a conv/dw/fc step: optimized (firmware/src/train/bwd_opt.c) on boards
    with a hardware FPU when kernels == "opt" and the step is on its fast path, else the portable one
    (bwd_ref.c, the specification). The optimized kernels re-check their conditions at run time."""
    port = {"conv": "tiny_conv2d_bwd_f32", "dw": "tiny_depthwise_conv2d_bwd_f32",
            "fc": "tiny_fully_connected_bwd_f32"}[kind]
    if kernels != "opt" or not board_has_fpu(board):
        return port
    if kind == "conv" and (d["k_h"], d["k_w"], d["s_h"], d["s_w"], d["p_t"], d["p_l"]) == (1, 1, 1, 1, 0, 0):
        return "tiny_conv2d_1x1_bwd_f32"
    if kind == "dw" and (d["k_h"], d["k_w"], d["s_h"], d["s_w"]) == (3, 3, 1, 1):
        return "tiny_depthwise_conv2d_3x3_bwd_f32"
    if kind == "fc":
        return "tiny_fully_connected_blk_bwd_f32"
    return port


def compile_training(c: Compiled, plan: TrainPlan, lr: float, momentum: float, qas: bool,
                     board: Any = None, kernels: str = "opt") -> TrainCompiled:
    g = plan.graph
    split = c.schedule.split if c.schedule is not None and getattr(c.schedule, "split", 0) else 0
    offs = c.plan.offsets()
    key = f"{c.hash};{lr};{momentum};{qas};" + repr([(s.kind, s.op, s.ins, s.in_first, s.mask, s.x_saved,
                                                      (s.update.bias, s.update.weight_channels, s.update.scale) if s.update else None)
                                                     for s in plan.steps]) + repr(
        [(k.op, k.tensor, k.kind) for k in plan.captures]) + f";{kernels};{board_has_fpu(board)}"
    if any(s.bcast for s in plan.steps):    # (another workspace layout: a firmware from before must not match)
        key += ";bcast=" + repr([s.op for s in plan.steps if s.bcast])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    # 1. weight tables: mutable for updated layers, linkable for every backward layer.
    storage: dict[str, str] = {}
    bw_ops = sorted({s.op for s in plan.steps if s.kind in ("conv", "dw", "fc")})
    for op in bw_ops:
        if op < split:
            raise TinyError(f"op #{op} runs inside the patch-based stage (ops #0..#{split - 1}); training "
                            f"can only reach layers after it: update higher layers or use --schedule layer")
        u = plan.update_for(op)
        storage[f"l{op}_filter"] = "" if u and u.weight_channels else "const "
        if plan.split_channels(op):
            storage[f"l{op}_filter_frozen"] = "const "
        if (u and u.bias) or c.params[op].has_bias:
            storage[f"l{op}_bias"] = "" if u and u.bias else "const "
        if u is not None and u.scale:
            storage[f"l{op}_multiplier"] = storage[f"l{op}_shift"] = ""
    # 2. capture hooks.
    cap_ops = sorted({k.op for k in plan.captures if k.op >= 0})
    for cap_op in cap_ops:
        if cap_op < max(split - 1, 0) or (split and cap_op == split - 1):
            raise TinyError(f"the backward needs the output of op #{cap_op}, inside the patch-based stage")
    # interleave scratch of the split layers: a gap of the forward plan free once the layer's two
    # calls ran (its input may be dead by then; the arena grows when there is none)
    splits = plan.split_filters()
    split_scratch: dict[int, int] = {}
    arena = c.plan.arena_bytes
    for op, n in sorted(splits.items()):
        rows = g.tensors[g.ops[op].outputs[0]].size // g.tensors[g.ops[op].outputs[0]].shape[-1]
        if rows > 1:
            out_key = c.plan.aliases.get(f"t{g.ops[op].outputs[0]}", f"t{g.ops[op].outputs[0]}")
            split_scratch[op] = free_gap(c.plan, op, rows * n, keep=frozenset({out_key}))
            arena = max(arena, split_scratch[op] + rows * n)
    mem = plan.memory(arena)
    # the backward workspace reuses the forward arena, grown when the workspace is larger
    grow = max(plan.ws_floats * 4 if mem["workspace_in_arena"] else 0, arena)
    fwd = render(c.program, extras=Extras(hash=digest, storage=storage, captures=frozenset(cap_ops), arena_bytes=grow,
                                      includes=("tiny/train.h",), split_filters=splits,
                                      split_scratch=split_scratch))
    decls: list[str] = []
    externs: list[str] = []
    params: list[tuple[str, str, int]] = []   # (name, C pointer expr, bytes)
    step_inits = []
    for s in plan.steps:
        u = s.update
        fl = 0
        d: dict[str, Any] = dict(kind=_KIND[s.kind], in_h=1, in_w=1, in_c=1, out_h=1, out_w=1, out_c=1, k_h=1,
                                 k_w=1, s_h=1, s_w=1, p_t=0, p_l=0, n_upd=0, g_out=-1, g_in=-1, g_in2=-1,
                                 mask_off=-1, x_off=-1, x_scale=_f(0.0), x_zp=0, w_offset=0, w="NULL",
                                 b="NULL", wscale="NULL", bscale="NULL", w_lr=_f(1.0), w_lr_inv=_f(1.0), mom_w="NULL", mom_b="NULL",
                                 mask_lo=-128, mask_hi=127, mult="NULL", shift="NULL", mult0="NULL",
                                 shift0="NULL", y_off=-1, y_scale=_f(0.0), y_zp=0, mom_s="NULL", bwd="NULL",
                                 frac="NULL", w_frozen="NULL", perm="{ 0, 1, 2, 3 }", axes=0,
                                 bdims="{ { 1, 1, 1, 1 }, { 1, 1, 1, 1 }, { 1, 1, 1, 1 } }", k0="NULL", k1="NULL",
                                 table="NULL")
        t_out = g.tensors[s.out]
        c_last = t_out.shape[-1] if t_out.shape else 1
        # (out_h x out_w x out_c covers every element: the runtime masks that many)
        shp = (1, 1, t_out.size // max(c_last, 1), c_last) if len(t_out.shape) < 4 else t_out.shape
        d.update(out_h=shp[1], out_w=shp[2], out_c=shp[3])
        if s.kind == "ce":
            cap = plan.captures[s.x_saved]
            d.update(g_in=plan.grad_offsets[s.out], x_off=cap.offset, x_scale=_f(t_out.quant.s()),
                     x_zp=t_out.quant.zp(), out_c=t_out.size, out_h=1, out_w=1)
            step_inits.append(d)
            continue
        d["g_out"] = plan.grad_offsets[s.out]
        fl |= FLAG_BCAST if s.bcast else 0
        # (a concatenation's input gradients by input slot: g_in for input 0, g_in2 for input 1)
        slots = input_slots(g, s)
        if slots and slots[0] is not None:
            d["g_in"] = plan.grad_offsets[slots[0][0]]
            fl |= FLAG_IN_FIRST if slots[0][1] else 0
        if len(slots) > 1 and slots[1] is not None:
            d["g_in2"] = plan.grad_offsets[slots[1][0]]
            fl |= FLAG_IN2_FIRST if slots[1][1] else 0
        if s.mask is not None:
            cap = plan.captures[s.mask]
            fl |= FLAG_MASK_BITS if cap.kind == "mask" else FLAG_MASK_COPY
            d.update(mask_off=cap.offset, mask_lo=cap.lo, mask_hi=cap.hi)
        op = g.ops[s.op]
        t_in = g.tensors[op.inputs[0]]
        if s.kind in ("conv", "dw", "fc"):
            p = c.params[s.op]
            if s.kind == "fc":
                d.update(in_c=p.accum_depth, w_offset=int(p.filter_offset))
            else:
                _, kh, kw, _ = p.filter_shape
                d.update(in_h=p.in_shape[1], in_w=p.in_shape[2], in_c=p.in_shape[3], k_h=kh, k_w=kw,
                         s_h=p.stride_h, s_w=p.stride_w, p_t=p.pad_top, p_l=p.pad_left)
            ws, bs = layer_scales(g, s.op)
            pre = f"t{s.op}"
            decls.append(f"static const float {pre}_ws[{ws.size}] = {{{_farr(ws)}}};")
            decls.append(f"static const float {pre}_bs[{bs.size}] = {{{_farr(bs)}}};")
            f_lr = plan.weight_lr(s.op)
            d.update(w=f"(int8_t *)l{s.op}_filter", wscale=f"{pre}_ws", bscale=f"{pre}_bs",
                     w_lr=_f(f_lr), w_lr_inv=_f(1.0 / f_lr), x_scale=_f(t_in.quant.s()), x_zp=t_in.quant.zp())
            f_t = g.tensors[op.inputs[1]]
            oc = shp[3]
            if u is not None and u.weight_channels:
                d["n_upd"] = u.weight_channels
                d["x_off"] = plan.captures[s.x_saved].offset
                if plan.split_channels(s.op):
                    d["w_frozen"] = f"l{s.op}_filter_frozen"
                # the board's N.w is its SRAM table: the updated channels only of a split layer (the
                # frozen ones never change; tiny.train.run.updated_tensors puts them back)
                sram_w = plan.sram_filter_size(s.op)
                params.append((f"{s.op}.w", f"l{s.op}_filter", sram_w))
                if plan.momentum:
                    n = u.weight_channels * (f_t.size // oc)
                    decls.append(f"static float {pre}_mw[{n}];")
                    d["mom_w"] = f"{pre}_mw"
                if plan.shadow:
                    decls.append(f"static int8_t {pre}_wf[{sram_w}];")
                    d["frac"] = f"{pre}_wf"
                    params.append((f"{s.op}.wf", f"{pre}_wf", sram_w))
            if u is not None and u.bias:
                fl |= FLAG_UPD_B
                d["b"] = f"l{s.op}_bias"
                params.append((f"{s.op}.b", f"l{s.op}_bias", 4 * oc))
                if plan.momentum:
                    decls.append(f"static float {pre}_mb[{oc}];")
                    d["mom_b"] = f"{pre}_mb"
            if u is not None and u.scale:
                pp = c.params[s.op]
                m0 = ", ".join(str(int(v)) for v in pp.multiplier)
                e0 = ", ".join(str(int(v)) for v in pp.shift)
                decls.append(f"static const int32_t {pre}_m0[{oc}] = {{{m0}}};")
                decls.append(f"static const int32_t {pre}_e0[{oc}] = {{{e0}}};")
                ycap = plan.captures[s.y_saved]
                d.update(mult=f"l{s.op}_multiplier", shift=f"l{s.op}_shift", mult0=f"{pre}_m0", shift0=f"{pre}_e0",
                         y_off=ycap.offset, y_scale=_f(t_out.quant.s()), y_zp=t_out.quant.zp())
                params.append((f"{s.op}.m", f"l{s.op}_multiplier", 4 * oc))
                params.append((f"{s.op}.e", f"l{s.op}_shift", 4 * oc))
                externs.append(f"extern int32_t l{s.op}_multiplier[];")
                externs.append(f"extern int32_t l{s.op}_shift[];")
                if plan.momentum:
                    decls.append(f"static float {pre}_ms[{oc}];")
                    d["mom_s"] = f"{pre}_ms"
            d["bwd"] = backward_kernel(s.kind, d, board, kernels)
        elif s.kind in ("mean", "reduce_max"):
            p = c.params[s.op]      # its 4-D view (batch 1) and the reduced axes of that view
            d.update(in_h=p.in_dims[1], in_w=p.in_dims[2], in_c=p.in_dims[3], axes=p.axis_mask)
            if s.x_saved is not None:   # reduce_max: its input, where the maxima are found again
                d["x_off"] = plan.captures[s.x_saved].offset
        elif s.kind == "concat":
            p = c.params[s.op]      # outer slices, each of input 0's chunk, then input 1's, ... (elements)
            rows = [(plan.grad_offsets[sl[0]] if sl else -1, n * p.inner, int(bool(sl and sl[1])))
                    for sl, n in zip(slots, p.sizes)]
            decls.append(f"static const int32_t t{s.op}_cat[{3 * len(rows)}] = "
                         f"{{{', '.join(str(v) for r in rows for v in r)}}};")
            d.update(in_h=p.outer, in_w=len(rows), table=f"t{s.op}_cat")
        elif s.kind == "pad":
            p = c.params[s.op]      # rows and columns only: the input sits at (p_t, p_l) of the output
            d.update(in_h=p.in_shape[1], in_w=p.in_shape[2], in_c=p.in_shape[3], p_t=p.before[1], p_l=p.before[2])
        elif s.kind == "transpose":
            p = c.params[s.op]      # 4-D, batch 1 first: the output's axis a is the input's perm4[a]
            d.update(in_h=p.in_dims[1], in_w=p.in_dims[2], in_c=p.in_dims[3],
                     perm="{ " + ", ".join(str(v) for v in p.perm4) + " }")
        elif s.kind in BINARY_KINDS:
            p = c.params[s.op]
            if s.kind != "add" or p.broadcasts:
                fl |= FLAG_BROADCAST if s.kind == "add" else 0
                d["bdims"] = "{ " + ", ".join("{ " + ", ".join(str(int(v)) for v in x) + " }" for x in p.dims) + " }"
            if s.kind in VALUE_KINDS:
                for k, (t, pfx) in enumerate(zip(op.inputs[:2], ("x", "y"))):
                    tk = g.tensors[t]
                    if tk.is_const:      # its real values, computed here as the runtime would
                        decls.append(f"static const float t{s.op}_k{k}[{max(tk.size, 1)}] = "
                                     f"{{{_farr(real_values(tk, tk.data))}}};")
                        d[f"k{k}"] = f"t{s.op}_k{k}"
                    cap = s.x_saved if k == 0 else s.y_saved
                    if cap is not None:
                        d.update({f"{pfx}_off": plan.captures[cap].offset, f"{pfx}_scale": _f(tk.quant.s()),
                                  f"{pfx}_zp": tk.quant.zp()})
        elif s.kind == "leaky":        # the input's sign from its saved copy; y_scale carries alpha
            d.update(x_off=plan.captures[s.x_saved].offset, x_zp=t_in.quant.zp(),
                     y_scale=_f(float(np.float32(op.attrs.get("alpha", 0.2)))))
        elif s.kind == "dtable":        # the derivative at each int8 input, by its value + 128
            decls.append(f"static const float t{s.op}_dt[256] = "
                         f"{{{_farr(opdef(op).derivative(c.params[s.op]))}}};")
            d.update(x_off=plan.captures[s.x_saved].offset, k0=f"t{s.op}_dt")
        elif s.kind in ("logistic", "tanh"):
            cap = plan.captures[s.y_saved]
            d.update(y_off=cap.offset, y_scale=_f(t_out.quant.s()), y_zp=t_out.quant.zp())
        elif s.kind == "resize":
            p = c.params[s.op]      # the input row of each output row, then the column of each column
            rows, cols = resize_sources(p)
            decls.append(f"static const int32_t t{s.op}_rs[{len(rows) + len(cols)}] = "
                         f"{{{', '.join(str(int(v)) for v in (*rows, *cols))}}};")
            d.update(in_h=p.in_shape[1], in_w=p.in_shape[2], in_c=p.in_shape[3], table=f"t{s.op}_rs")
        elif s.kind == "bilinear":
            p = c.params[s.op]      # two input rows per output row, then two columns per column; their weights
            (ry, wy), (rx, wx) = bilinear_sources(p)
            decls.append(f"static const int32_t t{s.op}_rs[{ry.size + rx.size}] = "
                         f"{{{', '.join(str(int(v)) for v in (*ry.reshape(-1), *rx.reshape(-1)))}}};")
            decls.append(f"static const float t{s.op}_wy[{wy.size}] = {{{_farr(wy)}}};")
            decls.append(f"static const float t{s.op}_wx[{wx.size}] = {{{_farr(wx)}}};")
            d.update(in_h=p.in_shape[1], in_w=p.in_shape[2], in_c=p.in_shape[3], table=f"t{s.op}_rs",
                     k0=f"t{s.op}_wy", k1=f"t{s.op}_wx")
        elif s.kind in ("maxpool", "avgpool"):
            p = c.params[s.op]
            d.update(in_h=p.in_shape[1], in_w=p.in_shape[2], in_c=p.in_shape[3], k_h=p.filter_h, k_w=p.filter_w,
                     s_h=p.stride_h, s_w=p.stride_w, p_t=p.pad_top, p_l=p.pad_left)
            if s.x_saved is not None:
                d["x_off"] = plan.captures[s.x_saved].offset
        d["flags"] = fl
        step_inits.append(d)
    # momentum buffers are checkpointed state too
    for s in plan.steps:
        if s.update is None or not plan.momentum:
            continue
        op = g.ops[s.op]
        oc = g.tensors[op.outputs[0]].shape[-1]
        if s.update.weight_channels:
            params.append((f"{s.op}.mw", f"t{s.op}_mw", 4 * s.update.weight_channels * (g.tensors[op.inputs[1]].size // oc)))
        if s.update.bias:
            params.append((f"{s.op}.mb", f"t{s.op}_mb", 4 * oc))
        if s.update.scale:
            params.append((f"{s.op}.ms", f"t{s.op}_ms", 4 * oc))
    for d in step_inits:
        d.setdefault("flags", 0)
    for op in bw_ops:
        u = plan.update_for(op)
        externs.append(f"extern {'' if u and u.weight_channels else 'const '}int8_t l{op}_filter[];")
        if plan.split_channels(op):
            externs.append(f"extern const int8_t l{op}_filter_frozen[];")
        if u and u.bias:
            externs.append(f"extern int32_t l{op}_bias[];")
    caps = []
    for k in plan.captures:
        src = offs[f"t{k.tensor}"]
        n = g.tensors[k.tensor].size
        caps.append(f"    {{ {k.op}, {CAP_COPY if k.kind == 'copy' else CAP_MASK}, {k.lo}, {k.hi}, {src}, {n}, {k.offset} }},")
    fields = ["kind", "flags", "mask_lo", "mask_hi", "in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "k_h", "k_w",
              "s_h", "s_w", "p_t", "p_l", "n_upd", "g_out", "g_in", "g_in2", "mask_off", "x_off", "x_scale", "x_zp",
              "w_offset", "w", "b", "wscale", "bscale", "w_lr", "w_lr_inv", "mom_w", "mom_b", "mult", "shift", "mult0", "shift0",
              "y_off", "y_scale", "y_zp", "mom_s", "bwd", "frac", "w_frozen", "perm", "axes", "bdims", "k0", "k1", "table"]
    steps_c = [("    { " + ", ".join(f".{k} = {d[k]}" for k in fields) + " },") for d in step_inits]
    ws_bytes = mem["backward_workspace_bytes"]
    in_arena = mem["workspace_in_arena"]
    n_classes = g.tensors[plan.logits].size
    lines = [
        "/* Training plan tables: generated by tiny — do not edit. */",
        "#include <stddef.h>", "#include <stdint.h>", '#include "tiny/train.h"', "",
        *externs, *decls,
        f"static uint8_t saved[{max(plan.saved_bytes, 4)}] __attribute__((aligned(4)));",
        f"static float logits_tmp[{n_classes}];",
        "" if in_arena else f"static float workspace[{max(ws_bytes // 4, 1)}];",
        f"static const tiny_train_capture_t captures[{len(caps)}] = {{", *caps, "};",
        f"static const tiny_train_step_t steps[{len(steps_c)}] = {{", *steps_c, "};",
        f"static const tiny_train_param_t params[{max(len(params), 1)}] = {{",
        *(f"    {{ (void *){ptr}, {nb} }}, /* {name} */" for name, ptr, nb in params),
        *(["    { NULL, 0 },"] if not params else []), "};",
        "const tiny_train_model_t tiny_train_model = {",
        f'    .hash = "{digest}", .n_captures = {len(caps)}, .n_steps = {len(steps_c)}, .n_params = {len(params)},',
        f"    .n_classes = {n_classes}, .captures = captures, .steps = steps, .params = params,",
        f"    .saved = saved, .workspace = {'NULL' if in_arena else 'workspace'},",
        f"    .saved_bytes = {plan.saved_bytes}, .workspace_bytes = {ws_bytes}, "
        f".peak_bytes = {mem['train_peak_sram_bytes']},",
        f"    .logits_tmp = logits_tmp, .lr = {_f(lr)}, .momentum = {_f(momentum)}, .qas = {int(bool(qas))},",
        "};", ""]
    files = dict(fwd.files)
    files["train_model.c"] = "\n".join(lines)
    for name in ("train", "bwd_ref", "bwd_opt"):     # the training runtime travels with the model
        files[f"tiny_{name}.c" if name == "train" else f"tiny_train_{name}.c"] = \
            (paths.FIRMWARE / "src" / "train" / f"{name}.c").read_text()
    tc = TrainCompiled(graph=c.graph, params=c.params, plan=c.plan, files=files, hash=digest,
                       const_bytes=c.const_bytes, schedule=c.schedule, readable_ops=c.readable_ops,
                       marker_order=c.marker_order, train_plan=plan, train_memory=mem,
                       param_names=[n for n, _, _ in params], lr=lr, momentum=momentum, qas=qas,
                       step_kernels=[None if d["bwd"] == "NULL" else d["bwd"] for d in step_inits])
    return tc

