"""The op registry: one OpDef per TFLite op type (tiny/ops/base.py says what an OpDef holds).

Adding an op: a module here with its Params dataclass, prepare/run/emit and `DEFS = [OpDef(...)]`,
its import and entry in _MODULES, its C kernel under firmware/src/kernels/ref/ and a test. Every other stage
reads the registry through the helpers below; none names an op type.
"""
from __future__ import annotations

from tiny.ir import Graph, IRError, Op
from tiny.ops import (add, concatenation, conv2d, depthwise_conv2d, fully_connected, hard_swish, logistic, mean,
                      mul, pack, pad, pool, quantize, reshape, shape, softmax, strided_slice)
from tiny.ops.base import LUT, Local, OpDef, Params, Rect, Variant

_MODULES = [conv2d, depthwise_conv2d, fully_connected, pool, pad, reshape, concatenation, quantize, add, mul,
            mean, softmax, logistic, hard_swish, shape, strided_slice, pack]


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


def traits(op: Op) -> OpDef:
    """The OpDef of `op` for trait queries (an empty definition for unknown types)."""
    return REGISTRY.get(op.type) or OpDef(name=op.type)


__all__ = ["LUT", "Local", "OpDef", "Params", "REGISTRY", "Rect", "Variant", "lookup", "opdef", "prepare_all",
           "runnable", "supported", "traits"]
