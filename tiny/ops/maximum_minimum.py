"""MAXIMUM and MINIMUM on int8 with broadcasting, as TFLM (micro/kernels/maximum_minimum.cc ->
reference_ops::MaximumMinimumBroadcastSlow): the larger / smaller raw int8 value, no
requantization (converted models give inputs and output one quantization)."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tiny.emit.ctx import EmitCtx
from tiny.ir import Graph, Op
from tiny.ops.add import BinaryParams, binary_common, binary_inplace, binary_operands, elementwise_macs
from tiny.ops.base import OpDef, Variant, elementwise_rect



@dataclass(eq=False)
class MaxMinParams(BinaryParams):
    is_min: int = 0


def prepare(g: Graph, op: Op) -> MaxMinParams:
    p = MaxMinParams(**binary_common(g, op))
    return replace(p, is_min=int(op.type == "MINIMUM"), act_min=-128, act_max=127)


def run(p: MaxMinParams, inputs: list[np.ndarray | None]) -> np.ndarray:
    d1, d2, _ = p.dims
    a = np.asarray(inputs[0], dtype=np.int8).reshape(d1)
    b = np.asarray(inputs[1], dtype=np.int8).reshape(d2)
    out = np.minimum(a, b) if p.is_min else np.maximum(a, b)
    return out.astype(np.int8).reshape(p.out_shape)


def scratch_bytes(p: MaxMinParams) -> int:
    return 0


def emit(p: MaxMinParams, e: EmitCtx, fn: str) -> str:
    params = e.struct("tiny_maximum_minimum_params", "params", {"is_min": int(p.is_min)})
    in1, in2 = binary_operands(p, e)
    d1, d2, do = p.dims
    return (f"{fn}({params}, {e.dims(d1)}, {in1}, {e.dims(d2)}, {in2}, "
            f"{e.dims(do)}, {e.out()});")


_COMMON = dict(arity=(2, 2, (), None), prepare=prepare, run=run, emit=emit, scratch=scratch_bytes,
               variants=(Variant("tiny_maximum_minimum_s8"),), macs=elementwise_macs, input_rect=elementwise_rect,
               elementwise=True, local=True, inplace=binary_inplace)
MAXIMUM = OpDef(name="MAXIMUM", backward="max", **_COMMON)
MINIMUM = OpDef(name="MINIMUM", backward="min", **_COMMON)
DEFS = [MAXIMUM, MINIMUM]
