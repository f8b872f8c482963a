"""MAXIMUM and MINIMUM on int8 with broadcasting, as TFLM (micro/kernels/maximum_minimum.cc ->
reference_ops::MaximumMinimumBroadcastSlow): the larger / smaller raw int8 value, no
requantization (converted models give inputs and output one quantization)."""
from __future__ import annotations

from typing import Any

import numpy as np

from tiny.emit.ctx import EmitCtx
from tiny.ir import Graph, Op
from tiny.reference.add import binary_common, binary_operands

OPS = ["MAXIMUM", "MINIMUM"]


def prepare(g: Graph, op: Op) -> dict[str, Any]:
    p = binary_common(g, op)
    p.update(op=op.type, index=op.index, is_min=int(op.type == "MINIMUM"), act_min=-128, act_max=127)
    return p


def run(p: dict[str, Any], inputs: list[np.ndarray | None]) -> np.ndarray:
    d1, d2, _ = p["dims"]
    a = np.asarray(inputs[0], dtype=np.int8).reshape(d1)
    b = np.asarray(inputs[1], dtype=np.int8).reshape(d2)
    out = np.minimum(a, b) if p["is_min"] else np.maximum(a, b)
    return out.astype(np.int8).reshape(p["out_shape"])


def scratch_bytes(p: dict[str, Any]) -> int:
    return 0


def emit(p: dict[str, Any], e: EmitCtx) -> str:
    params = e.struct("tiny_maximum_minimum_params", "params", {"is_min": int(p["is_min"])})
    in1, in2 = binary_operands(p, e)
    d1, d2, do = p["dims"]
    return (f"tiny_maximum_minimum_s8({params}, {e.dims(d1)}, {in1}, {e.dims(d2)}, {in2}, "
            f"{e.dims(do)}, {e.out()});")
