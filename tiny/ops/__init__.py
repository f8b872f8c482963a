"""The op registry: one OpDef per TFLite op type (tiny/ops/base.py says what an OpDef holds).

Adding an op: a module here with its Params dataclass, prepare/run/emit and `DEFS = [OpDef(...)]`,
its import and entry in _MODULES, its C kernel under firmware/src/kernels/ref/ and a test. Every other stage
reads the registry through the helpers below; none names an op type.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from tiny.ir import Graph, IRError, Op
from tiny.ops import (activation, add, batch_matmul, concatenation, conv2d, depthwise_conv2d, fully_connected,
                      elu, gelu, hard_swish, logistic, maximum_minimum, mean, mul, pack, pad, pool, prelu, quantize, reduce_max,
                      reshape, resize, shape, slice, softmax, split, strided_slice, sub, svdf, table_lookup, tanh, transpose,
                      transpose_conv)
from tiny.ops.base import LUT, Local, OpDef, Params, Rect, Variant

_MODULES = [conv2d, depthwise_conv2d, fully_connected, pool, pad, reshape, concatenation, quantize, add, mul,
            mean, softmax, logistic, hard_swish, gelu, elu, shape, strided_slice, pack,
            transpose, reduce_max, resize, slice, sub, maximum_minimum, prelu, activation, tanh, batch_matmul,
            transpose_conv, split, svdf, table_lookup]


def _load() -> dict[str, OpDef]:
    table: dict[str, OpDef] = {}
    for mod in _MODULES:
        for d in mod.DEFS:
            if d.name in table:
                raise RuntimeError(f"op {d.name} is defined twice ({mod.__name__})")
            table[d.name] = d
    return table


REGISTRY: dict[str, OpDef] = _load()


def lookup(kind: str) -> OpDef | None:
    """The OpDef of an op type, or None when tiny does not know it."""
    return REGISTRY.get(kind)


def opdef(op: Op) -> OpDef:
    """The OpDef of `op`; IRError naming the op when tiny cannot run it."""
    d = REGISTRY.get(op.type)
    if d is None or not d.runnable:
        raise IRError(f"op #{op.index} {op.type}: no reference kernel for this op type")
    return d


def supported() -> set[str]:
    """Op types a model may contain (run, or folded into constants at load)."""
    return set(REGISTRY)


def runnable() -> set[str]:
    """Op types with a kernel (what can remain after constant folding)."""
    return {k for k, d in REGISTRY.items() if d.runnable}


def prepare_all(g: Graph) -> list[Params]:
    """prepare() every op; raises IRError naming the first op tiny cannot run."""
    return [opdef(op).prepare(g, op) for op in g.ops]


def results(g: Graph, op: Op, out: Any) -> dict[int, np.ndarray]:
    """What `opdef(op).run` returned, by tensor id, each reshaped to its tensor: one array for a
    single-output op; for an op with several outputs (SPLIT) or with inputs it updates in place
    (the OpDef's `updates`, e.g. a recurrent state) a sequence: the outputs in order, then the new
    values of the updated inputs."""
    d = opdef(op)
    tids = list(op.outputs) + [op.inputs[i] for i in d.updates]
    vals = [out] if len(tids) == 1 else list(out)
    if len(vals) != len(tids):
        raise IRError(f"op #{op.index} {op.type}: its reference returned {len(vals)} values for {len(tids)} tensors")
    return {t: np.asarray(v).reshape(g.tensors[t].shape) for t, v in zip(tids, vals)}


def traits(op: Op) -> OpDef:
    """The OpDef of `op` for trait queries (an empty definition for unknown types)."""
    return REGISTRY.get(op.type) or OpDef(name=op.type)


__all__ = ["LUT", "Local", "OpDef", "Params", "REGISTRY", "Rect", "Variant", "lookup", "opdef", "prepare_all",
           "results", "runnable", "supported", "traits"]
