""".tflite flatbuffer -> IR, using the generated schema module (no TensorFlow import)."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from tiny.frontend import flatbuf, islands, upsample
from tiny.frontend.verify import verify_graph, verify_model
from tiny.ir import Graph, IRError, Op, Quant, Tensor, TinyError, verify
from tiny.ops import REGISTRY, lookup, runnable
from tiny.passes.fold import fold_constants


def _schema() -> Any:
    return flatbuf.schema()  # the `tflite` package (core), else TFLM's / LiteRT's copy


_TYPES = {0: "float32", 2: "int32", 3: "uint8", 4: "int64", 6: "bool", 7: "int16", 9: "int8"}


def _opnames(schema: Any) -> dict[int, str]:
    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_") and isinstance(v, int)}


def _attrs(kind: str, opt: Any) -> dict[str, Any]:
    """Op.attrs from the flatbuffer options object (each OpDef reads its own options)."""
    return REGISTRY[kind].options(opt)


def load_bytes(buf: bytes, name: str = "model") -> Graph:
    """Parse a .tflite flatbuffer into a verified Graph; raise TinyError on bad input."""
    schema = _schema()
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise TinyError(f"{name}: not a TFLite flatbuffer (missing 'TFL3' identifier; "
                        f"{len(buf)} bytes)")
    model = flatbuf.read_model(buf, name)
    verify_model(model, name, _opnames(schema))  # nothing below sees an unchecked index or shape
    original = buf
    buf, model, lowered = upsample.rewrite(buf, model, name)
    if lowered:
        verify_model(model, name, _opnames(schema))
    if not model.subgraphs:
        raise TinyError(f"{name}: the model has no subgraph")
    if len(model.subgraphs) > 1:
        raise IRError(f"{name}: {len(model.subgraphs)} subgraphs; tiny supports single-subgraph models")
    sg = model.subgraphs[0]
    names = _opnames(schema)
    tensors: dict[int, Tensor] = {}
    for i, t in enumerate(sg.tensors or []):
        dtype = _TYPES.get(t.type)
        if dtype is None:
            raise IRError(f"{name}: tensor {i} '{_s(t.name)}' has unsupported type code {t.type}")
        shape = tuple(int(d) for d in (t.shape if t.shape is not None else []))
        data = None
        b = model.buffers[t.buffer] if t.buffer < len(model.buffers) else None
        if b is not None and b.data is not None and len(b.data) > 0:
            raw = np.asarray(b.data, dtype=np.uint8).tobytes()
            data = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype)
            if data.size != int(np.prod(shape, dtype=np.int64)):
                raise TinyError(f"{name}: tensor {i} '{_s(t.name)}' holds {data.size} values "
                                f"for shape {shape} (corrupt file)")
            data = data.reshape(shape)
        elif b is not None and getattr(b, "size", 0):
            raise IRError(f"{name}: tensor {i} uses an external buffer (offset/size); "
                          "re-export the model with buffers inline")
        q = None
        if t.quantization is not None and t.quantization.scale is not None and len(t.quantization.scale):
            q = Quant(scale=np.asarray(t.quantization.scale, dtype=np.float32),
                      zero_point=np.asarray(t.quantization.zeroPoint, dtype=np.int64),
                      axis=int(t.quantization.quantizedDimension))
        tensors[i] = Tensor(id=i, name=_s(t.name) or f"t{i}", shape=shape, dtype=dtype, quant=q, data=data,
                            variable=bool(t.isVariable) and data is None)
    ops: list[Op] = []
    for k, o in enumerate(sg.operators or []):
        oc = model.operatorCodes[o.opcodeIndex]
        code = max(int(oc.builtinCode), int(oc.deprecatedBuiltinCode))
        kind = names.get(code, f"CUSTOM({_s(oc.customCode)})" if oc.customCode else f"OP{code}")
        if lookup(kind) is None:
            outs = [tensors[t].name for t in (o.outputs if o.outputs is not None else [])]
            raise IRError(f"{name}: op #{k} {kind} (output {outs}) is not supported; "
                          f"supported ops: {', '.join(sorted(runnable()))}")
        ins = [int(v) for v in (o.inputs if o.inputs is not None else [])]
        outs = [int(v) for v in (o.outputs if o.outputs is not None else [])]
        ops.append(Op(index=k, type=kind, inputs=ins, outputs=outs, attrs=_attrs(kind, o.builtinOptions)))
    # float islands (DEQUANTIZE -> float ELU -> QUANTIZE) as int8 tables: the graph only, the oracle
    # runs the file's island in float32
    ops, tables = islands.fold(tensors, ops, [int(v) for v in sg.outputs])
    g = Graph(tensors=tensors, ops=ops, inputs=[int(v) for v in sg.inputs], outputs=[int(v) for v in sg.outputs],
              name=Path(name).stem, meta={"sha256": hashlib.sha256(buf).hexdigest(), "tflite": buf})
    if lowered:    # the user's file, and what became of it (the oracle runs `tflite`)
        g.meta.update(lowered=lowered, original_sha256=hashlib.sha256(original).hexdigest())
    if tables:
        g.meta["lowered"] = [*g.meta.get("lowered", []), *tables]
    verify(g)
    return verify_graph(fold_constants(g))


def _s(v: Any) -> str:
    if v is None:
        return ""
    return flatbuf.text(v)


def load(path: str | Path) -> Graph:
    p = Path(path)
    if not p.exists():
        raise TinyError(f"{p}: no such file")
    return load_bytes(p.read_bytes(), name=str(p))
