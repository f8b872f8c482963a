"""numpy int8 kernels, bit-exact with TFLite Micro, and a graph interpreter over them.

Each op module defines OPS (the TFLite op types it handles) and:
  prepare(g, op) -> dict          compile-time constants (multipliers, shifts, offsets, dims)
  run(p, inputs) -> np.ndarray    the kernel; inputs = values of op.inputs (None for -1)
  scratch_bytes(p) -> int         the kernel's scratch need (the C _get_buffer_size companion)
  emit(p, e) -> str               the C statement(s) calling the firmware kernel
"""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import numpy as np

from tiny.ir import Graph, IRError, Op

_MODULES = ["conv2d", "depthwise_conv2d", "fully_connected", "pool", "pad", "reshape",
            "concatenation", "quantize", "add", "mul", "mean", "softmax", "logistic", "hard_swish",
            "transpose", "reduce_max", "resize",
            "sub", "maximum_minimum", "prelu", "activation", "tanh", "slice", "batch_matmul", "transpose_conv"]


def kernels() -> dict[str, ModuleType]:
    table: dict[str, ModuleType] = {}
    for name in _MODULES:
        try:
            mod = importlib.import_module(f"tiny.reference.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"tiny.reference.{name}":
                continue
            raise
        for kind in mod.OPS:
            table[kind] = mod
    return table


def kernel_for(op: Op) -> ModuleType:
    table = kernels()
    if op.type not in table:
        raise IRError(f"op #{op.index} {op.type}: no reference kernel for this op type")
    return table[op.type]


def prepare_all(g: Graph) -> list[dict[str, Any]]:
    """prepare() every op; raises IRError naming the first op tiny cannot run."""
    return [kernel_for(op).prepare(g, op) for op in g.ops]


def run_graph(g: Graph, inputs: list[np.ndarray], params: list[dict[str, Any]] | None = None,
              ) -> dict[int, np.ndarray]:
    """Run the whole graph; return the value of every activation tensor by id."""
    params = params if params is not None else prepare_all(g)
    vals: dict[int, np.ndarray] = {}
    for tid, x in zip(g.inputs, inputs):
        t = g.tensors[tid]
        if tuple(x.shape) != tuple(t.shape):
            raise IRError(f"input '{t.name}': expected shape {t.shape}, got {tuple(x.shape)}")
        vals[tid] = np.asarray(x)
    for op, p in zip(g.ops, params):
        args = [None if tid < 0 else (g.tensors[tid].data if g.tensors[tid].is_const else vals[tid])
                for tid in op.inputs]
        out = kernel_for(op).run(p, args)
        t = g.tensors[op.outputs[0]]
        vals[op.outputs[0]] = np.asarray(out).reshape(t.shape)
    return vals


def run(g: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    vals = run_graph(g, inputs)
    return [vals[t] for t in g.outputs]
