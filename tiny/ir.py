"""The intermediate representation: a graph of ops over quantized tensors.

Tensors are identified by an integer id (the .tflite tensor index when read from a
flatbuffer); quantization parameters live on tensors. Ops are kept in execution order.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class TinyError(Exception):
    """An error meant for the user: printed without a traceback by the CLI."""


class IRError(TinyError):
    """The graph is malformed or uses something tiny does not support."""


DTYPES = {"int8": np.int8, "uint8": np.uint8, "int16": np.int16, "int32": np.int32,
          "int64": np.int64, "float32": np.float32, "bool": np.bool_}

_ITEMSIZE = {k: np.dtype(v).itemsize for k, v in DTYPES.items()}


@dataclass
class Quant:
    """Affine quantization: real = scale * (q - zero_point), per tensor or per `axis`."""
    scale: np.ndarray           # float32, shape (1,) or (channels,)
    zero_point: np.ndarray      # int64, same shape as scale
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        return self.scale.size > 1

    def s(self) -> float:
        """The per-tensor scale (float32 as stored in the flatbuffer)."""
        return float(self.scale.reshape(-1)[0])

    def zp(self) -> int:
        return int(self.zero_point.reshape(-1)[0])


@dataclass
class Tensor:
    id: int
    name: str
    shape: tuple[int, ...]
    dtype: str                              # key of DTYPES
    quant: Quant | None = None
    data: np.ndarray | None = None          # set for constants (weights, biases, shapes)
    # A variable tensor (TFLite `is_variable`): state an op updates in place and that lives from one
    # invocation to the next (SVDF's activation state); the graph starts with its reset value.
    variable: bool = False

    @property
    def is_const(self) -> bool:
        return self.data is not None

    def reset_value(self) -> np.ndarray:
        """A variable tensor's value after a reset, as TFLM's ResetVariableTensors: int8 filled with
        its zero point, other types with 0."""
        fill = self.quant.zp() if self.dtype == "int8" and self.quant is not None else 0
        return np.full(self.shape, fill, dtype=DTYPES[self.dtype])

    @property
    def size(self) -> int:
        return math.prod(self.shape)  # math.prod: this runs millions of times in schedule search

    @property
    def nbytes(self) -> int:
        return self.size * _ITEMSIZE[self.dtype]


@dataclass
class Op:
    index: int
    type: str                               # TFLite builtin name, e.g. "CONV_2D"
    inputs: list[int]                       # tensor ids; -1 for an omitted optional input
    outputs: list[int]
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.index}:{self.type}"


@dataclass
class Graph:
    tensors: dict[int, Tensor]
    ops: list[Op]
    inputs: list[int]
    outputs: list[int]
    name: str = "model"
    meta: dict[str, Any] = field(default_factory=dict)

    def t(self, tid: int) -> Tensor:
        return self.tensors[tid]

    def producer(self, tid: int) -> Op | None:
        for op in self.ops:
            if tid in op.outputs:
                return op
        return None

    def consumers(self, tid: int) -> list[Op]:
        return [op for op in self.ops if tid in op.inputs]

    def activations(self) -> list[int]:
        """Ids of non-constant tensors that are read or written by the graph."""
        seen: list[int] = []
        for tid in list(self.inputs) + [t for op in self.ops for t in op.inputs + op.outputs]:
            if tid >= 0 and not self.tensors[tid].is_const and tid not in seen:
                seen.append(tid)
        return seen

    def variables(self) -> list[int]:
        """Ids of the variable (state) tensors, in id order."""
        return sorted(t.id for t in self.tensors.values() if t.variable)

    def layer_label(self, op: Op) -> str:
        """A readable label for an op: its index, type and output tensor name."""
        out = self.tensors[op.outputs[0]].name if op.outputs else ""
        return f"#{op.index} {op.type} -> {out}"


def verify(g: Graph) -> None:
    """Check structural invariants; raise IRError naming the op and tensor on failure."""
    produced: set[int] = set(g.inputs) | set(g.variables())   # state exists before the first op
    for tid in g.inputs:
        if tid not in g.tensors:
            raise IRError(f"graph input {tid} is not a tensor")
    for i, op in enumerate(g.ops):
        if op.index != i:
            raise IRError(f"op {op.name}: index {op.index} does not match position {i}")
        for tid in op.inputs:
            if tid == -1:
                continue
            if tid not in g.tensors:
                raise IRError(f"op {op.name}: input tensor {tid} does not exist")
            t = g.tensors[tid]
            if not t.is_const and tid not in produced:
                raise IRError(f"op {op.name}: input tensor {tid} '{t.name}' is used before it is produced")
        for tid in op.outputs:
            if tid not in g.tensors:
                raise IRError(f"op {op.name}: output tensor {tid} does not exist")
            if tid in produced:
                raise IRError(f"op {op.name}: tensor {tid} '{g.tensors[tid].name}' is written twice")
            if g.tensors[tid].is_const:
                raise IRError(f"op {op.name}: writes constant tensor {tid}")
            produced.add(tid)
    for tid in g.outputs:
        if tid not in produced:
            raise IRError(f"graph output {tid} is never produced")
    for t in g.tensors.values():
        if t.is_const and tuple(t.data.shape) != tuple(t.shape):
            raise IRError(f"tensor {t.id} '{t.name}': data shape {t.data.shape} != declared {t.shape}")
        if t.quant is not None and t.quant.scale.shape != t.quant.zero_point.shape:
            raise IRError(f"tensor {t.id} '{t.name}': scale and zero point shapes differ")
