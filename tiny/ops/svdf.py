"""SVDF (int8 input / output, int16 time weights and activation state), as TFLM
(micro/kernels/svdf.cc -> svdf_common.cc EvalIntegerSvdfReference<int16_t>).

Inputs: x [batch, input_size] int8, weights_feature [filters, input_size] int8, weights_time
[filters, memory] int16, bias [units] int32 (units = filters / rank), and the activation state
[batch, filters * memory] int16, a variable tensor kept from one invocation to the next. Each
invocation:
  1. every filter's memory row shifts left by one (TFLM shifts the whole flat buffer by one; the
     element that crosses into the previous row lands in that row's last slot, overwritten next);
  2. the newest slot of filter f gets  clamp_int16(MBQM(sum_i wf[f,i] * (x[i] - x_zp), m1) + state_zp);
  3. per filter  t[f] = sum_j wt[f,j] * (state[f,j] - state_zp)  (int32);
  4. per unit  acc = bias[u] + sum over its `rank` consecutive filters of t;
     y = clamp_int8(MBQM(acc, m2) + y_zp).
m1 = float32(x_scale * wf_scale / state_scale), m2 = float32(state_scale * wt_scale / y_scale), both
through QuantizeMultiplier. The integer path applies no fused activation (TFLM ignores it there)
beyond the int8 clamp."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tiny.emit.ctx import EmitCtx
from tiny.ir import Graph, Op
from tiny.ops.base import OpDef, Params, Variant, fused_activation
from tiny.ops.conv2d import op_error
from tiny.reference.fixedpoint import multiply_by_quantized_multiplier as mbqm
from tiny.reference.fixedpoint import quantize_multiplier

STATE = 4       # position of the activation-state input (updated in place)


@dataclass(eq=False)
class SvdfParams(Params):
    op: str
    index: int
    batch: int
    input_size: int
    filters: int
    memory: int
    rank: int
    units: int
    input_zp: int
    state_zp: int
    output_zp: int
    m1: int
    s1: int
    m2: int
    s2: int
    weights_feature: np.ndarray     # int8 [filters, input_size]
    weights_time: np.ndarray        # int16 [filters, memory]
    bias: np.ndarray                # int32 [units] (zeros when absent)
    out_shape: tuple[int, ...]


def _scale(*v: float) -> float:
    """a * b / c in float32, as TFLM computes it from the float `params.scale` fields."""
    a, b, c = (np.float32(x) for x in v)
    return float(np.float32(np.float32(a * b) / c))


def prepare(g: Graph, op: Op) -> SvdfParams:
    if len(op.inputs) != 5 or len(op.outputs) != 1 or any(op.inputs[i] < 0 for i in (0, 1, 2, STATE)):
        raise op_error(g, op, "expected inputs (input, weights_feature, weights_time, bias, state) and one output")
    x, wf, wt, st, y = (g.tensors[t] for t in (op.inputs[0], op.inputs[1], op.inputs[2], op.inputs[STATE],
                                               op.outputs[0]))
    b = g.tensors[op.inputs[3]] if op.inputs[3] >= 0 else None
    want = {x.name: (x, "int8"), wf.name: (wf, "int8"), wt.name: (wt, "int16"), st.name: (st, "int16"),
            y.name: (y, "int8")}
    for name, (t, dt) in want.items():
        if t.dtype != dt:
            raise op_error(g, op, f"tensor '{name}' is {t.dtype}; expected {dt} (int8 SVDF with int16 state)")
        if t.quant is None or t.quant.per_channel:
            raise op_error(g, op, f"tensor '{name}' needs per-tensor quantization")
    if not (wf.is_const and wt.is_const) or (b is not None and not b.is_const):
        raise op_error(g, op, "weights and bias must be constant")
    if not st.variable:
        raise op_error(g, op, f"state '{st.name}' is not a variable tensor (TFLM requires is_variable)")
    if len(x.shape) != 2 or len(wf.shape) != 2 or len(wt.shape) != 2 or len(st.shape) != 2 or len(y.shape) != 2:
        raise op_error(g, op, "input, weights, state and output must be 2-D")
    batch, n_in = (int(v) for v in x.shape)
    filters, memory = (int(v) for v in wt.shape)
    rank = int(op.attrs.get("rank", 1))
    if rank < 1 or filters % rank:
        raise op_error(g, op, f"rank {rank} does not divide the {filters} filters")
    units = filters // rank
    if tuple(wf.shape) != (filters, n_in) or tuple(st.shape) != (batch, filters * memory) \
            or tuple(y.shape) != (batch, units) or (b is not None and tuple(b.shape) != (units,)):
        raise op_error(g, op, f"shapes do not fit: input {x.shape}, weights_feature {wf.shape}, weights_time "
                              f"{wt.shape}, bias {None if b is None else b.shape}, state {st.shape}, output {y.shape}")
    if b is not None and b.dtype != "int32":
        raise op_error(g, op, f"bias '{b.name}' is {b.dtype}; expected int32")
    m1, s1 = quantize_multiplier(_scale(x.quant.s(), wf.quant.s(), st.quant.s()))
    m2, s2 = quantize_multiplier(_scale(st.quant.s(), wt.quant.s(), y.quant.s()))
    bias = np.asarray(b.data, dtype=np.int32) if b is not None else np.zeros(units, dtype=np.int32)
    return SvdfParams(op=op.type, index=op.index, batch=batch, input_size=n_in, filters=filters, memory=memory,
                      rank=rank, units=units, input_zp=x.quant.zp(), state_zp=st.quant.zp(), output_zp=y.quant.zp(),
                      m1=m1, s1=s1, m2=m2, s2=s2, weights_feature=np.asarray(wf.data, dtype=np.int8),
                      weights_time=np.asarray(wt.data, dtype=np.int16), bias=bias, out_shape=tuple(y.shape))


def run(p: SvdfParams, inputs: list[np.ndarray | None]) -> list[np.ndarray]:
    """[output, new state]: the op's output and its state after this invocation."""
    x = np.asarray(inputs[0], dtype=np.int64).reshape(p.batch, p.input_size)
    old = np.asarray(inputs[STATE], dtype=np.int64).reshape(p.batch, p.filters, p.memory)
    state = np.empty_like(old)
    state[:, :, :-1] = old[:, :, 1:]
    feat = (x - p.input_zp) @ p.weights_feature.astype(np.int64).T                  # [batch, filters]
    state[:, :, -1] = np.clip(mbqm(feat, p.m1, p.s1) + p.state_zp, -32768, 32767)
    t = ((state - p.state_zp) * p.weights_time.astype(np.int64)).sum(axis=2)         # [batch, filters]
    acc = p.bias.astype(np.int64) + t.reshape(p.batch, p.units, p.rank).sum(axis=2)
    y = np.clip(mbqm(acc, p.m2, p.s2) + p.output_zp, -128, 127).astype(np.int8)
    return [y.reshape(p.out_shape), state.astype(np.int16).reshape(p.batch, p.filters * p.memory)]


def emit(p: SvdfParams, e: EmitCtx, fn: str) -> str:
    wf = e.const("weights_feature", p.weights_feature, "int8_t")
    wt = e.const("weights_time", p.weights_time, "int16_t")
    bias = e.const("bias", p.bias, "int32_t")
    params = e.struct("tiny_svdf_params", "params", {
        "batch": p.batch, "input_size": p.input_size, "filters": p.filters, "memory": p.memory, "rank": p.rank,
        "input_offset": -p.input_zp, "state_zp": p.state_zp, "output_zp": p.output_zp,
        "multiplier1": p.m1, "shift1": p.s1, "multiplier2": p.m2, "shift2": p.s2})
    return f"{fn}({params}, {e.inp(0)}, {wf}, {wt}, {bias}, {e.inp(STATE)}, {e.out()});"


def options(opt: Any) -> dict[str, Any]:
    a = fused_activation(opt)
    if opt is not None:
        a["rank"] = int(opt.rank)
    return a


def macs(g: Graph, op: Op) -> int:
    wf, wt = g.tensors[op.inputs[1]].shape, g.tensors[op.inputs[2]].shape
    batch = g.tensors[op.inputs[0]].shape[0]
    return int(batch * (wf[0] * wf[1] + wt[0] * wt[1]))


SVDF = OpDef(name="SVDF", fb_options="SVDFOptions", fb_options_required=True, options=options,
             arity=(5, 5, (2, 2, 2, None, 2), 2), prepare=prepare, run=run, emit=emit,
             variants=(Variant("tiny_svdf_s8"),), macs=macs, updates=(STATE,), data_inputs=lambda g, op: [0])
DEFS = [SVDF]
