"""Read a .tflite flatbuffer into plain records, with nothing but `flatbuffers` and a generated schema.

The schema comes from the `tflite` package (core dependency: pure Python, the flatc-generated
accessors of TFLite's schema.fbs); the TFLite Micro / LiteRT copies are used when it is absent.
All three expose the same accessor API, so the records below are built from that API alone and
carry the field names of flatc's object API (`opcodeIndex`, `builtinOptions`, `quantizedDimension`,
...), which is what the rest of the frontend reads.

Reading is eager and bounded: every vector length is checked against the file size before it is
walked, so a corrupt length cannot make the reader loop for hours, and every error of the
flatbuffers runtime (struct.error, IndexError, ...) becomes one TinyError naming the file.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from tiny.ir import TinyError

_SCHEMA_MODULES = ("tflite", "tflite_micro.tensorflow.lite.micro.python.schema_py_generated",
                   "ai_edge_litert.schema_py_generated")


@lru_cache(maxsize=1)
def schema() -> Any:
    """The generated TFLite schema module (classes Model, Tensor, Conv2DOptions, ... as attributes)."""
    for mod in _SCHEMA_MODULES:
        try:
            m = importlib.import_module(mod)
        except ImportError:
            continue
        if hasattr(m, "Model") and hasattr(m, "BuiltinOperator"):
            return m
    raise TinyError("no TFLite schema module found: install the 'tflite' package (pip install tflite)")


@dataclass
class Buffer:
    data: np.ndarray | None      # uint8 bytes, None when empty
    offset: int = 0              # > 0: data lives outside the flatbuffer (models > 2 GB)
    size: int = 0


@dataclass
class Quantization:
    scale: np.ndarray | None
    zeroPoint: np.ndarray | None
    quantizedDimension: int = 0


@dataclass
class TensorRec:
    shape: list[int] | None
    type: int
    buffer: int
    name: str
    quantization: Quantization | None
    isVariable: bool = False
    hasSparsity: bool = False


@dataclass
class OperatorRec:
    opcodeIndex: int
    inputs: list[int]
    outputs: list[int]
    builtinOptionsType: int
    builtinOptions: Any          # an Options record (object-API field names) or None


@dataclass
class OperatorCode:
    builtinCode: int
    deprecatedBuiltinCode: int
    customCode: str | None
    version: int = 1


@dataclass
class SubGraph:
    tensors: list[TensorRec]
    operators: list[OperatorRec]
    inputs: list[int]
    outputs: list[int]
    name: str = ""


@dataclass
class ModelRec:
    version: int
    operatorCodes: list[OperatorCode]
    subgraphs: list[SubGraph]
    buffers: list[Buffer]
    size: int = field(default=0)     # bytes of the file


class Options:
    """A builtin-options table as plain attributes (`fusedActivationFunction`, `strideH`, ...)."""

    def __init__(self, kind: str, values: dict[str, Any]) -> None:
        self.kind = kind
        self.__dict__.update(values)

    def __repr__(self) -> str:
        return f"{self.kind}({', '.join(f'{k}={v!r}' for k, v in vars(self).items() if k != 'kind')})"


MAX_NAME = 256


def text(v: Any) -> str:
    """A flatbuffer string as one line of text: undecodable bytes become U+FFFD, control characters
    '?', and a name longer than MAX_NAME is cut (a damaged length must not flood an error message)."""
    if v is None:
        return ""
    s = bytes(v).decode("utf-8", errors="replace") if isinstance(v, (bytes, bytearray, memoryview)) else str(v)
    s = "".join(c if c.isprintable() else "?" for c in s[:MAX_NAME + 1])
    return s if len(s) <= MAX_NAME else s[:MAX_NAME] + "..."


class _Reader:
    def __init__(self, buf: bytes, name: str) -> None:
        self.buf, self.name, self.s = buf, name, schema()
        self.opt_names = {v: k for k, v in vars(self.s.BuiltinOptions).items()
                          if not k.startswith("_") and isinstance(v, int)}

    def _len(self, obj: Any, fld: str, what: str, elem: int = 4) -> int:
        n = int(getattr(obj, fld + "Length")())
        if n < 0 or n * elem > len(self.buf):
            raise TinyError(f"{self.name}: corrupt TFLite file ({what} claims {n} entries in a "
                            f"{len(self.buf)}-byte file)")
        return n

    def _ints(self, obj: Any, fld: str, what: str) -> list[int] | None:
        if getattr(obj, fld + "IsNone")():
            return None
        self._len(obj, fld, what)
        arr = getattr(obj, fld + "AsNumpy")()
        return [int(v) for v in np.asarray(arr).reshape(-1)] if not isinstance(arr, int) else []

    def _np(self, obj: Any, fld: str, what: str, elem: int) -> np.ndarray | None:
        if getattr(obj, fld + "IsNone")():
            return None
        self._len(obj, fld, what, elem)
        arr = getattr(obj, fld + "AsNumpy")()
        return np.array(arr).reshape(-1) if not isinstance(arr, int) else np.zeros(0)

    def model(self) -> ModelRec:
        s, buf = self.s, self.buf
        m = s.Model.GetRootAs(buf, 0)
        codes = []
        for i in range(self._len(m, "OperatorCodes", "operator_codes")):
            oc = m.OperatorCodes(i)
            codes.append(OperatorCode(builtinCode=int(oc.BuiltinCode()),
                                      deprecatedBuiltinCode=int(oc.DeprecatedBuiltinCode()),
                                      customCode=text(oc.CustomCode()) or None, version=int(oc.Version())))
        buffers = []
        for i in range(self._len(m, "Buffers", "buffers")):
            b = m.Buffers(i)
            data = self._np(b, "Data", f"buffer {i}", 1)
            buffers.append(Buffer(data=data if data is not None and data.size else None,
                                  offset=int(b.Offset()) if hasattr(b, "Offset") else 0,
                                  size=int(b.Size()) if hasattr(b, "Size") else 0))
        subgraphs = [self.subgraph(m.Subgraphs(i), i)
                     for i in range(self._len(m, "Subgraphs", "subgraphs"))]
        return ModelRec(version=int(m.Version()), operatorCodes=codes, subgraphs=subgraphs,
                        buffers=buffers, size=len(buf))

    def subgraph(self, sg: Any, k: int) -> SubGraph:
        tensors = []
        for i in range(self._len(sg, "Tensors", f"subgraph {k} tensors")):
            t = sg.Tensors(i)
            q = t.Quantization()
            quant = None
            if q is not None:
                quant = Quantization(scale=self._np(q, "Scale", f"tensor {i} scale", 4),
                                     zeroPoint=self._np(q, "ZeroPoint", f"tensor {i} zero_point", 8),
                                     quantizedDimension=int(q.QuantizedDimension()))
            tensors.append(TensorRec(shape=self._ints(t, "Shape", f"tensor {i} shape"), type=int(t.Type()),
                                     buffer=int(t.Buffer()), name=text(t.Name()), quantization=quant,
                                     isVariable=bool(t.IsVariable()), hasSparsity=t.Sparsity() is not None))
        ops = []
        for i in range(self._len(sg, "Operators", f"subgraph {k} operators")):
            o = sg.Operators(i)
            ot = int(o.BuiltinOptionsType())
            ops.append(OperatorRec(opcodeIndex=int(o.OpcodeIndex()),
                                   inputs=self._ints(o, "Inputs", f"op #{i} inputs") or [],
                                   outputs=self._ints(o, "Outputs", f"op #{i} outputs") or [],
                                   builtinOptionsType=ot, builtinOptions=self.options(ot, o.BuiltinOptions())))
        return SubGraph(tensors=tensors, operators=ops,
                        inputs=self._ints(sg, "Inputs", f"subgraph {k} inputs") or [],
                        outputs=self._ints(sg, "Outputs", f"subgraph {k} outputs") or [],
                        name=text(sg.Name()))

    def options(self, kind: int, table: Any) -> Options | None:
        """Copy every scalar and int-vector field of an options table, named as flatc's object API."""
        cls_name = self.opt_names.get(kind)
        if table is None or not kind or cls_name is None:
            return None
        cls = getattr(self.s, cls_name, None)
        if cls is None:
            return None
        opt = cls()
        opt.Init(table.Bytes, table.Pos)
        methods = [n for n in dir(cls) if n[:1].isupper() and callable(getattr(cls, n))]
        vectors = {n[:-6] for n in methods if n.endswith("Length")}
        values: dict[str, Any] = {}
        for n in methods:
            if (n == "Init" or n.startswith("GetRootAs") or "BufferHasIdentifier" in n
                    or n.endswith(("Length", "IsNone", "AsNumpy"))):
                continue
            attr = n[0].lower() + n[1:]
            if n in vectors:
                if not hasattr(cls, n + "AsNumpy"):
                    continue
                values[attr] = self._ints(opt, n, f"{cls_name}.{attr}")
            else:
                v = getattr(opt, n)()
                values[attr] = v if isinstance(v, (int, float)) else None
        return Options(cls_name, values)


def read_model(buf: bytes, name: str = "model") -> ModelRec:
    """Parse `buf` into a ModelRec; TinyError on anything the flatbuffers runtime cannot read."""
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise TinyError(f"{name}: not a TFLite flatbuffer (missing 'TFL3' identifier; {len(buf)} bytes)")
    try:
        return _Reader(bytes(buf), name).model()
    except TinyError:
        raise
    except Exception as e:  # truncated or corrupt flatbuffers raise many kinds of error
        raise TinyError(f"{name}: corrupt or truncated TFLite file ({type(e).__name__}: "
                        f"{str(e)[:120]})") from None


def object_schema() -> Any:
    """A generated TFLite schema with flatc's object API (ModelT ... Pack), needed to write a model:
    TFLM's or LiteRT's copy (the core `tflite` package reads only)."""
    for mod in _SCHEMA_MODULES:
        try:
            m = importlib.import_module(mod)
        except ImportError:
            continue
        if hasattr(m, "ModelT"):
            return m
    raise TinyError("writing a .tflite needs a TFLite schema with the object API (ModelT): install the "
                    "oracle extra (tflite-micro)")


def opnames() -> dict[int, str]:
    """BuiltinOperator code -> name."""
    return {v: k for k, v in vars(schema().BuiltinOperator).items()
            if not k.startswith("_") and isinstance(v, int)}
