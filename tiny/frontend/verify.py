"""Verify a parsed .tflite (flatbuf.ModelRec) before anything uses it.

A damaged or hostile file must end in one clear TinyError naming the tensor or op and what is
wrong, never in an IndexError three stages later or in TFLite Micro aborting: every index in
range, every shape non-negative and consistent with its buffer's byte size, quantization arrays
of the right length with finite positive scales and in-range zero points, the options an op
needs present and sane, and every tensor produced before it is used (which, with one writer per
tensor, also makes the graph acyclic).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from tiny.frontend.flatbuf import ModelRec, OperatorRec, TensorRec
from tiny.ir import Graph, IRError, TinyError
from tiny.ops import REGISTRY

ITEMSIZE = {0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 6: 1, 7: 2, 9: 1, 10: 8, 16: 4}  # TensorType -> bytes
ZP_RANGE = {9: (-128, 127), 3: (0, 255), 7: (0, 0), 2: (0, 0), 4: (0, 0)}  # int8, uint8, int16/32/64
MAX_RANK = 8
_MIN_SCALE = float(np.finfo(np.float32).tiny)   # below: a subnormal whose reciprocal overflows
MAX_TENSOR_BYTES = 1 << 31          # no Cortex-M (nor TFLite's int32 sizes) holds more

# Builtin options class each op reads and whether it cannot do without it; operand counts and
# ranks of the ops whose kernels index their operands (both from the op registry, tiny/ops/).
OPTIONS = {k: (d.fb_options, d.fb_options_required) for k, d in REGISTRY.items() if d.fb_options}
ARITY = {k: d.arity for k, d in REGISTRY.items() if d.arity is not None}
MULTI_OUTPUT = {k for k, d in REGISTRY.items() if d.multi_output}
_POSITIVE = ("strideH", "strideW", "filterHeight", "filterWidth", "dilationHFactor", "dilationWFactor")
_MAX_WINDOW = 1 << 16


def _tname(t: TensorRec, i: int) -> str:
    return f"tensor {i} '{t.name[:60]}'" if t.name else f"tensor {i}"


def verify_model(m: ModelRec, name: str, opnames: dict[int, str]) -> None:
    """Raise TinyError on the first structural defect of subgraph 0 of `m`."""
    if not m.subgraphs:
        raise TinyError(f"{name}: the model has no subgraph")
    sg = m.subgraphs[0]
    nt, nb = len(sg.tensors), len(m.buffers)
    for i, t in enumerate(sg.tensors):
        _tensor(m, t, i, name, nb)
    for what, ids in (("input", sg.inputs), ("output", sg.outputs)):
        if not ids:
            raise TinyError(f"{name}: the model declares no graph {what}")
        for tid in ids:
            if not 0 <= tid < nt:
                raise TinyError(f"{name}: graph {what} {tid} is not a tensor (the model has {nt})")
    const = {i for i, t in enumerate(sg.tensors) if _data(m, t) is not None}
    # variable tensors (recurrent state, e.g. SVDF's) exist before the first op
    produced = set(sg.inputs) | {i for i, t in enumerate(sg.tensors) if t.isVariable and i not in const}
    for tid in sg.inputs:
        if tid in const:
            raise TinyError(f"{name}: graph input {_tname(sg.tensors[tid], tid)} is a constant")
    for k, o in enumerate(sg.operators):
        kind = _op(m, o, k, name, nt, opnames)
        where = f"{name}: op #{k} {kind}"
        for tid in o.inputs:
            if tid != -1 and tid not in const and tid not in produced:
                raise TinyError(f"{where}: input {_tname(sg.tensors[tid], tid)} is used before any op "
                                "produces it (graph out of order or cyclic)")
        for tid in o.outputs:
            if tid in const:
                raise TinyError(f"{where}: writes the constant {_tname(sg.tensors[tid], tid)}")
            if tid in produced:
                raise TinyError(f"{where}: {_tname(sg.tensors[tid], tid)} is written twice")
            produced.add(tid)
    for tid in sg.outputs:
        if tid not in produced and tid not in const:
            raise TinyError(f"{name}: graph output {_tname(sg.tensors[tid], tid)} is never produced")


def _data(m: ModelRec, t: TensorRec) -> np.ndarray | None:
    b = m.buffers[t.buffer] if 0 <= t.buffer < len(m.buffers) else None
    return b.data if b is not None else None


def _tensor(m: ModelRec, t: TensorRec, i: int, name: str, nb: int) -> None:
    where = f"{name}: {_tname(t, i)}"
    if not 0 <= t.buffer < nb:
        raise TinyError(f"{where}: buffer index {t.buffer} out of range (the model has {nb} buffers)")
    if t.hasSparsity:
        raise TinyError(f"{where}: sparse tensors are not supported; densify the model")
    shape = t.shape or []
    if len(shape) > MAX_RANK:
        raise TinyError(f"{where}: rank {len(shape)} exceeds {MAX_RANK}")
    if any(d < 0 for d in shape):
        raise TinyError(f"{where}: negative dimension in shape {tuple(shape)} (dynamic shapes are not "
                        "supported; export with a fixed batch size)")
    size = ITEMSIZE.get(t.type)
    n = math.prod(shape)
    if size is not None and n * size > MAX_TENSOR_BYTES:
        raise TinyError(f"{where}: shape {tuple(shape)} is {n * size:,} bytes, more than "
                        f"{MAX_TENSOR_BYTES:,}")
    data = m.buffers[t.buffer].data
    if data is not None and size is not None and data.size != n * size:
        raise TinyError(f"{where}: buffer {t.buffer} holds {data.size} bytes, shape {tuple(shape)} "
                        f"needs {n * size} (corrupt file)")
    q = t.quantization
    if q is None or q.scale is None or q.scale.size == 0:
        return
    ns = q.scale.size
    if q.zeroPoint is None or q.zeroPoint.size != ns:
        nz = 0 if q.zeroPoint is None else q.zeroPoint.size
        raise TinyError(f"{where}: {ns} quantization scales but {nz} zero points")
    if ns > 1:
        if not 0 <= q.quantizedDimension < len(shape):
            raise TinyError(f"{where}: quantized dimension {q.quantizedDimension} out of range for shape "
                            f"{tuple(shape)}")
        if shape[q.quantizedDimension] != ns:
            raise TinyError(f"{where}: {ns} per-channel scales for {shape[q.quantizedDimension]} channels "
                            f"(dimension {q.quantizedDimension} of {tuple(shape)})")
    sc = np.asarray(q.scale, dtype=np.float64)
    bad = ~(np.isfinite(sc) & (sc >= _MIN_SCALE))
    if bad.any():
        j = int(np.argmax(bad))
        raise TinyError(f"{where}: quantization scale[{j}] = {sc[j]!r} (must be finite, at least {_MIN_SCALE:.3g})")
    lo, hi = ZP_RANGE.get(t.type, (-(1 << 63), (1 << 63) - 1))
    zp = np.asarray(q.zeroPoint, dtype=np.int64)
    out = (zp < lo) | (zp > hi)
    if out.any():
        j = int(np.argmax(out))
        raise TinyError(f"{where}: zero point[{j}] = {int(zp[j])} outside [{lo}, {hi}] for its type")


def _op(m: ModelRec, o: OperatorRec, k: int, name: str, nt: int, opnames: dict[int, str]) -> str:
    nc = len(m.operatorCodes)
    if not 0 <= o.opcodeIndex < nc:
        raise TinyError(f"{name}: op #{k}: opcode index {o.opcodeIndex} out of range "
                        f"(the model has {nc} operator codes)")
    oc = m.operatorCodes[o.opcodeIndex]
    code = max(oc.builtinCode, oc.deprecatedBuiltinCode)
    kind = opnames.get(code, f"CUSTOM({oc.customCode})" if oc.customCode else f"OP{code}")
    where = f"{name}: op #{k} {kind}"
    for role, ids in (("input", o.inputs), ("output", o.outputs)):
        for tid in ids:
            if not (0 <= tid < nt or (role == "input" and tid == -1)):
                raise TinyError(f"{where}: {role} tensor index {tid} out of range (the model has {nt})")
    if not o.outputs:
        raise TinyError(f"{where}: has no output")
    if kind in ARITY:
        _arity(m.subgraphs[0].tensors, o, kind, where)
    want = OPTIONS.get(kind)
    opt = o.builtinOptions
    if want is not None:
        cls, required = want
        if opt is None and required:
            raise TinyError(f"{where}: builtin options ({cls}) missing")
        if opt is not None and opt.kind != cls:
            raise TinyError(f"{where}: carries {opt.kind}, expected {cls}")
    if opt is not None:
        _options(opt, where)
    return kind


def _arity(tensors: list[TensorRec], o: OperatorRec, kind: str, where: str) -> None:
    lo, hi, in_ranks, out_rank = ARITY[kind]
    if not lo <= len(o.inputs) <= hi or any(t == -1 for t in o.inputs[:lo]):
        raise TinyError(f"{where}: {len(o.inputs)} inputs {o.inputs[:8]}, expected {lo}"
                        + (f"..{hi}" if hi != lo else "") + " (present)")
    if len(o.outputs) != 1 and kind not in MULTI_OUTPUT:
        raise TinyError(f"{where}: {len(o.outputs)} outputs, expected 1")
    for j, (tid, r) in enumerate(zip(o.inputs, in_ranks)):
        if r is not None and tid != -1 and len(tensors[tid].shape or []) != r:
            raise TinyError(f"{where}: input {j} {_tname(tensors[tid], tid)} has shape "
                            f"{tuple(tensors[tid].shape or [])}, expected rank {r}")
    out = tensors[o.outputs[0]]
    if out_rank is not None and len(out.shape or []) != out_rank:
        raise TinyError(f"{where}: output {_tname(out, o.outputs[0])} has shape {tuple(out.shape or [])}, "
                        f"expected rank {out_rank}")


def check_int8(g: Graph, name: str) -> None:
    """Refuse a float model with how to quantize it (before any op is prepared)."""
    from tiny import ops
    float_ops = [op for op in g.ops if not ops.traits(op).io_convert
                 and any(t >= 0 and g.tensors[t].dtype == "float32" for t in op.inputs + op.outputs)]
    if float_ops:
        op = float_ops[0]
        t = next(g.tensors[t] for t in op.inputs + op.outputs if t >= 0 and g.tensors[t].dtype == "float32")
        raise IRError(
            f"{name}: op #{op.index} {op.type} computes in float32 (tensor '{t.name}'); tiny runs full-int8 "
            f"models. Quantize it: pass the Keras model itself (`tiny compile model.keras ...` quantizes it), "
            f"or convert with TFLiteConverter using optimizations=[tf.lite.Optimize.DEFAULT], a "
            f"representative_dataset and supported_ops=[tf.lite.OpsSet.TFLITE_BUILTINS_INT8].")


def verify_graph(g: Graph) -> Graph:
    """Run every op's prepare step once at load time, so an op whose tensors do not fit it is refused
    here, naming the op, rather than deep inside compile; prepare's own TinyErrors pass through."""
    from tiny.ops import opdef as kernel      # the op registry
    check_int8(g, g.name)
    for op in g.ops:
        try:
            kernel(op).prepare(g, op)
        except TinyError:
            raise
        except (ArithmeticError, IndexError, KeyError, ValueError, TypeError, AttributeError) as e:
            outs = [g.tensors[t].name[:60] for t in op.outputs]
            raise IRError(f"op #{op.index} {op.type} (output {outs}): its tensors do not fit the op "
                          f"({type(e).__name__}: {str(e)[:100]})") from None
    return g


def _options(opt: Any, where: str) -> None:
    v = vars(opt)
    for f in _POSITIVE:
        if f in v and not 1 <= int(v[f]) <= _MAX_WINDOW:
            raise TinyError(f"{where}: {f} = {v[f]} (must be 1..{_MAX_WINDOW})")
    if "padding" in v and v["padding"] not in (0, 1):
        raise TinyError(f"{where}: padding code {v['padding']} (SAME=0 or VALID=1)")
    if "fusedActivationFunction" in v and not 0 <= v["fusedActivationFunction"] <= 5:
        raise TinyError(f"{where}: fused activation code {v['fusedActivationFunction']} is not an activation")
    if "depthMultiplier" in v and not 0 <= int(v["depthMultiplier"]) <= _MAX_WINDOW:
        raise TinyError(f"{where}: depth multiplier {v['depthMultiplier']}")
    if opt.kind == "SoftmaxOptions" and not (math.isfinite(v.get("beta", 1.0)) and v.get("beta", 1.0) > 0):
        raise TinyError(f"{where}: softmax beta {v.get('beta')} (must be finite and positive)")
