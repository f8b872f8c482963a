"""TABLE_LOOKUP: tiny's own op for a float island of an int8 model (DEQUANTIZE -> float32 element-wise
ops -> QUANTIZE) folded at load into its 256 int8 results (tiny/frontend/islands.py computes the
table and the chain's derivative as TFLite Micro computes the island). Not a TFLite op: it exists
only in the loaded graph; the file keeps the island, which the TFLM oracle runs in float32."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tiny.ir import Graph, Op
from tiny.ops.base import OpDef, Params, elementwise_rect, lut_variant, same_shape_input
from tiny.reference.fixedpoint_ext import op_error


@dataclass(eq=False)
class TableParams(Params):
    table: np.ndarray            # int8 result of each int8 input, indexed by value + 128
    derivative: np.ndarray       # float32 derivative of the island at each int8 input's real value
    island: str
    out_shape: Any


def prepare(g: Graph, op: Op) -> TableParams:
    x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
    if x.shape != y.shape or x.dtype != "int8" or y.dtype != "int8":
        raise op_error(g, op, "a table maps an int8 tensor onto one of the same shape")
    return TableParams(table=np.asarray(op.attrs["table"], np.int8), derivative=np.asarray(op.attrs["derivative"],
                       np.float32), island=str(op.attrs.get("island", "")), out_shape=tuple(y.shape))


def table(p: TableParams) -> np.ndarray:
    return p.table


def run(p: TableParams, inputs: list[np.ndarray | None]) -> np.ndarray:
    return p.table[np.asarray(inputs[0], dtype=np.int64) + 128].reshape(p.out_shape)


TABLE_LOOKUP = OpDef(name="TABLE_LOOKUP", arity=(1, 1, (), None), prepare=prepare, run=run,
                     variants=(lut_variant("TABLE_LOOKUP", table),
                               lut_variant("TABLE_LOOKUP", table, fn="tiny_lookup_s8", dsp=False)),
                     macs=lambda g, op: g.tensors[op.outputs[0]].size,
                     input_rect=elementwise_rect, elementwise=True, local=True, inplace=same_shape_input,
                     backward="dtable", derivative=lambda p: p.derivative)
DEFS = [TABLE_LOOKUP]
