"""PRELU on int8 with a broadcast int8 alpha, as TFLM (micro/kernels/prelu*.cc ->
reference_ops::BroadcastPrelu4DSlow): x - zp_in >= 0 is scaled by double(s_in) / s_out, otherwise
(x - zp_in) * (alpha - zp_alpha) by s_in * s_alpha / s_out (both in double, QuantizeMultiplier),
+ zp_out, clamped to int8."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tiny.emit.ctx import EmitCtx
from tiny.ir import Graph, Op
from tiny.ops.add import BinaryParams, binary_common, binary_operands, elementwise_macs
from tiny.ops.base import OpDef, Variant, elementwise_rect
from tiny.reference.fixedpoint import quantize_multiplier
from tiny.reference.fixedpoint_ext import mbqm



@dataclass(eq=False)
class PreluParams(BinaryParams):
    input_offset: int = 0
    alpha_offset: int = 0
    output_offset: int = 0
    multiplier_1: int = 0
    shift_1: int = 0
    multiplier_2: int = 0
    shift_2: int = 0
PARAM_FIELDS = ("input_offset", "alpha_offset", "output_offset", "multiplier_1", "shift_1",
                "multiplier_2", "shift_2")


def prepare(g: Graph, op: Op) -> PreluParams:
    p = PreluParams(**binary_common(g, op))
    si, sa, so = (float(np.float32(s)) for s in p.scales)
    zi, za, zo = p.zero_points
    m1, s1 = quantize_multiplier(si / so)
    m2, s2 = quantize_multiplier(si * sa / so)
    return replace(p, input_offset=-zi, alpha_offset=-za, output_offset=zo,
                   multiplier_1=m1, shift_1=s1, multiplier_2=m2, shift_2=s2)


def run(p: PreluParams, inputs: list[np.ndarray | None]) -> np.ndarray:
    d1, d2, do = p.dims
    x = np.broadcast_to(np.asarray(inputs[0], dtype=np.int64).reshape(d1) + p.input_offset, do)
    a = np.broadcast_to(np.asarray(inputs[1], dtype=np.int64).reshape(d2) + p.alpha_offset, do)
    pos = mbqm(x, p.multiplier_1, p.shift_1)
    neg = mbqm(x * a, p.multiplier_2, p.shift_2)
    out = np.clip(np.where(x >= 0, pos, neg) + p.output_offset, -128, 127)
    return out.astype(np.int8).reshape(p.out_shape)


def scratch_bytes(p: PreluParams) -> int:
    return 0


def emit(p: PreluParams, e: EmitCtx, fn: str) -> str:
    params = e.struct("tiny_prelu_params", "params", {k: int(getattr(p, k)) for k in PARAM_FIELDS})
    x, alpha = binary_operands(p, e)
    d1, d2, do = p.dims
    return f"{fn}({params}, {e.dims(d1)}, {x}, {e.dims(d2)}, {alpha}, {e.dims(do)}, {e.out()});"


PRELU = OpDef(name="PRELU", arity=(2, 2, (), None), prepare=prepare, run=run, emit=emit, scratch=scratch_bytes,
              variants=(Variant("tiny_prelu_s8"),), macs=elementwise_macs, input_rect=elementwise_rect,
              elementwise=True, local=True, data_inputs=lambda g, op: [0], backward="prelu")
DEFS = [PRELU]
