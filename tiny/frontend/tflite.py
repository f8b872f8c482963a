""".tflite flatbuffer -> IR, using the generated schema module (no TensorFlow import)."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from tiny.frontend import flatbuf
from tiny.frontend.verify import verify_graph, verify_model
from tiny.ir import Graph, IRError, Op, Quant, Tensor, TinyError, verify
from tiny.passes.fold import FOLDABLE, fold_constants


def _schema() -> Any:
    return flatbuf.schema()  # the `tflite` package (core), else TFLM's / LiteRT's copy


_TYPES = {0: "float32", 2: "int32", 3: "uint8", 4: "int64", 6: "bool", 7: "int16", 9: "int8"}
_ACT = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}
_PAD = {0: "SAME", 1: "VALID"}

# Ops whose options carry a fused activation and what else we read from the options.
SUPPORTED = {
    "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "MUL", "AVERAGE_POOL_2D",
    "MAX_POOL_2D", "MEAN", "PAD", "RESHAPE", "SOFTMAX", "LOGISTIC", "HARD_SWISH",
    "CONCATENATION", "QUANTIZE", "DEQUANTIZE",
}


def _opnames(schema: Any) -> dict[int, str]:
    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_") and isinstance(v, int)}


def _attrs(kind: str, opt: Any) -> dict[str, Any]:
    a: dict[str, Any] = {}
    if opt is None:
        if kind in ("ADD", "MUL", "FULLY_CONNECTED", "CONCATENATION"):
            a["activation"] = "NONE"
        return a
    if hasattr(opt, "fusedActivationFunction"):
        a["activation"] = _ACT.get(opt.fusedActivationFunction, str(opt.fusedActivationFunction))
    if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        a.update(padding=_PAD[opt.padding], stride_h=opt.strideH, stride_w=opt.strideW,
                 dilation_h=opt.dilationHFactor, dilation_w=opt.dilationWFactor)
        if kind == "DEPTHWISE_CONV_2D":
            a["depth_multiplier"] = opt.depthMultiplier
    elif kind in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        a.update(padding=_PAD[opt.padding], stride_h=opt.strideH, stride_w=opt.strideW,
                 filter_h=opt.filterHeight, filter_w=opt.filterWidth)
    elif kind == "FULLY_CONNECTED":
        a.update(keep_num_dims=bool(opt.keepNumDims), weights_format=opt.weightsFormat)
    elif kind == "CONCATENATION":
        a["axis"] = opt.axis
    elif kind == "SOFTMAX":
        a["beta"] = float(opt.beta)
    elif kind == "MEAN":
        a["keep_dims"] = bool(opt.keepDims)
    elif kind == "STRIDED_SLICE":
        a.update(begin_mask=opt.beginMask, end_mask=opt.endMask, ellipsis_mask=opt.ellipsisMask,
                 new_axis_mask=opt.newAxisMask, shrink_axis_mask=opt.shrinkAxisMask)
    elif kind == "PACK":
        a.update(axis=opt.axis)
    elif kind == "RESHAPE" and getattr(opt, "newShape", None) is not None:
        a["new_shape"] = [int(v) for v in opt.newShape]
    return a


def load_bytes(buf: bytes, name: str = "model") -> Graph:
    """Parse a .tflite flatbuffer into a verified Graph; raise TinyError on bad input."""
    schema = _schema()
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise TinyError(f"{name}: not a TFLite flatbuffer (missing 'TFL3' identifier; "
                        f"{len(buf)} bytes)")
    model = flatbuf.read_model(buf, name)
    verify_model(model, name, _opnames(schema))  # nothing below sees an unchecked index or shape
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
        tensors[i] = Tensor(id=i, name=_s(t.name) or f"t{i}", shape=shape, dtype=dtype, quant=q, data=data)
    ops: list[Op] = []
    for k, o in enumerate(sg.operators or []):
        oc = model.operatorCodes[o.opcodeIndex]
        code = max(int(oc.builtinCode), int(oc.deprecatedBuiltinCode))
        kind = names.get(code, f"CUSTOM({_s(oc.customCode)})" if oc.customCode else f"OP{code}")
        if kind not in SUPPORTED and kind not in FOLDABLE:
            outs = [tensors[t].name for t in (o.outputs if o.outputs is not None else [])]
            raise IRError(f"{name}: op #{k} {kind} (output {outs}) is not supported; "
                          f"supported ops: {', '.join(sorted(SUPPORTED))}")
        ins = [int(v) for v in (o.inputs if o.inputs is not None else [])]
        outs = [int(v) for v in (o.outputs if o.outputs is not None else [])]
        ops.append(Op(index=k, type=kind, inputs=ins, outputs=outs, attrs=_attrs(kind, o.builtinOptions)))
    g = Graph(tensors=tensors, ops=ops, inputs=[int(v) for v in sg.inputs], outputs=[int(v) for v in sg.outputs],
              name=Path(name).stem, meta={"sha256": hashlib.sha256(buf).hexdigest(), "tflite": buf})
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
