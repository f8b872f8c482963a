"""TFLite Micro as the oracle of a model holding an int8 element-wise op it has no kernel for (an
OpDef with tflm=False: GELU).

TFLite itself (LiteRT) has such kernels, but its other kernels are not TFLM's (its optimized int8
CONV_2D rounds differently in about one element of 500), so LiteRT cannot be the oracle of the whole
model. Instead each such op is evaluated by LiteRT alone, on all 256 int8 inputs (a one-op model
with the op's own quantization and options, builtin kernels without delegates), and replaced, in a
copy of the model that only the oracle runs, by TFLM ops that look its output up in that table:
CAST (int8 -> int32), ADD 128, GATHER from the 256 results. An element-wise op of one int8 input
is exactly its table, so TFLM then computes every tensor as TFLite would, and tiny is compared with
an oracle that owes nothing to tiny's own table. New tensors are appended: ids do not change."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from tiny.ir import Graph, TinyError


def table_ops(g: Graph) -> list[int]:
    """Indices of the ops TFLite Micro has no kernel for."""
    from tiny.ops import lookup
    return [op.index for op in g.ops if (d := lookup(op.type)) is not None and not d.tflm]


def _new(cls: Any, **kw: Any) -> Any:
    o = cls()
    for k, v in kw.items():
        setattr(o, k, v)
    return o


def _pack(s: Any, m: Any) -> bytes:
    import flatbuffers
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _one_op(s: Any, m: Any, rec: Any) -> bytes:
    """A model of `rec` alone on a [256] int8 input, quantized as in m."""
    sg = m.subgraphs[0]
    code = m.operatorCodes[rec.opcodeIndex]
    tensors = []
    for k, tid in enumerate((rec.inputs[0], rec.outputs[0])):
        t = sg.tensors[tid]
        tensors.append(_new(s.TensorT, shape=[256], type=t.type, buffer=k + 1, name=f"t{k}".encode(),
                            quantization=t.quantization))
    op = _new(s.OperatorT, opcodeIndex=0, inputs=[0], outputs=[1], builtinOptionsType=rec.builtinOptionsType,
              builtinOptions=rec.builtinOptions)
    one = _new(s.ModelT, version=3, operatorCodes=[code], buffers=[s.BufferT(), s.BufferT(), s.BufferT()],
               description=b"tiny oracle table",
               subgraphs=[_new(s.SubGraphT, tensors=tensors, inputs=[0], outputs=[1], operators=[op], name=b"main")])
    return _pack(s, one)


def substitute(buf: bytes, g: Graph, run_litert: Callable[[bytes, np.ndarray], np.ndarray]) -> bytes:
    """The model's bytes with each op of table_ops(g) replaced by CAST / ADD / GATHER from the table
    run_litert(one-op model bytes, the 256 int8 inputs) returns."""
    from tiny.frontend import flatbuf
    from tiny.ops import lookup
    s = flatbuf.object_schema()
    m = s.ModelT.InitFromObj(s.Model.GetRootAs(buf, 0))
    sg = m.subgraphs[0]
    codes: dict[int, int] = {}

    def opcode(code: int) -> int:
        if code not in codes:
            m.operatorCodes.append(_new(s.OperatorCodeT, builtinCode=code, deprecatedBuiltinCode=min(code, 127),
                                        version=1))
            codes[code] = len(m.operatorCodes) - 1
        return codes[code]

    def tensor(shape: list[int], typ: int, name: str, data: np.ndarray | None = None) -> int:
        m.buffers.append(_new(s.BufferT, data=None if data is None else np.frombuffer(data.tobytes(), np.uint8)))
        sg.tensors.append(_new(s.TensorT, shape=list(shape), type=typ, buffer=len(m.buffers) - 1,
                               name=name.encode()))
        return len(sg.tensors) - 1

    todo = set(table_ops(g))
    ops = []
    for k, rec in enumerate(sg.operators):
        if k not in todo:
            ops.append(rec)
            continue
        op = g.ops[k]
        if not lookup(op.type).elementwise or len(rec.inputs) != 1 or g.tensors[op.inputs[0]].dtype != "int8":
            raise TinyError(f"op #{k} {op.type}: TFLite Micro has no kernel for it and it is not an int8 "
                            "element-wise op of one input, so no oracle can check it")
        lut = np.asarray(run_litert(_one_op(s, m, rec), np.arange(-128, 128, dtype=np.int8))).reshape(256)
        ti, to = rec.inputs[0], rec.outputs[0]
        shape = list(sg.tensors[ti].shape)
        wide = tensor(shape, s.TensorType.INT32, f"{op.type.lower()}{k}_value")
        index = tensor(shape, s.TensorType.INT32, f"{op.type.lower()}{k}_index")
        k128 = tensor([1], s.TensorType.INT32, f"{op.type.lower()}{k}_128", np.array([128], np.int32))
        tab = tensor([256], s.TensorType.INT8, f"{op.type.lower()}{k}_table", lut.astype(np.int8))
        bo = s.BuiltinOptions
        ops += [_new(s.OperatorT, opcodeIndex=opcode(s.BuiltinOperator.CAST), inputs=[ti], outputs=[wide]),
                _new(s.OperatorT, opcodeIndex=opcode(s.BuiltinOperator.ADD), inputs=[wide, k128], outputs=[index],
                     builtinOptionsType=bo.AddOptions, builtinOptions=s.AddOptionsT()),
                _new(s.OperatorT, opcodeIndex=opcode(s.BuiltinOperator.GATHER), inputs=[tab, index], outputs=[to],
                     builtinOptionsType=bo.GatherOptions, builtinOptions=_new(s.GatherOptionsT, axis=0))]
    sg.operators = ops
    return _pack(s, m)
