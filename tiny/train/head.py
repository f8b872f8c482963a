"""A new classifier head for the user's classes: resize the logits layer of an int8 .tflite.

The head (the FULLY_CONNECTED or 1x1 CONV_2D producing the logits) gets `n` output channels:
weights drawn Glorot-uniform in float and quantized per output channel (scale = max|w| / 127, so
every channel uses the full int8 range and QAS sees well-conditioned scales), biases zero, the
logits keep their quantization. Every activation after the head (softmax, reshape, ...) is
resized along its last axis. The result is an ordinary self-consistent .tflite, so compiling,
training on the board and writing the fine-tuned model back all work unchanged."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tiny import ops
from tiny.frontend.flatbuf import object_schema
from tiny.frontend.tflite import load_bytes
from tiny.ir import Graph, TinyError
from tiny.ops import kinds as K


def logits_op(g: Graph) -> int:
    """Index of the op producing the logits: the last FULLY_CONNECTED / CONV_2D before the output."""
    for op in reversed(g.ops):
        if ops.traits(op).classifier:
            return op.index
    raise TinyError("the model has no FULLY_CONNECTED or CONV_2D layer to use as its classifier head")


def n_classes(g: Graph) -> int:
    """The classes the head tells apart (a one-unit sigmoid head: 2)."""
    from tiny.train.layers import classes_of
    return classes_of(int(g.tensors[g.ops[logits_op(g)].outputs[0]].shape[-1]))


def replace_head(tflite: bytes, n: int, seed: int = 0) -> bytes:
    """The model with an n-class head (see the module docstring)."""
    import flatbuffers
    if n < 2:
        raise TinyError(f"a classifier needs at least 2 classes, got {n}")
    g = load_bytes(tflite, "model")
    tflite = g.meta["tflite"]      # the bytes tiny loaded (a Keras UpSampling2D is rewritten: op positions move)
    k = logits_op(g)
    head = g.ops[k]
    w_t, out_t = g.tensors[head.inputs[1]], g.tensors[head.outputs[0]]
    old = int(out_t.shape[-1])
    x_scale = g.tensors[head.inputs[0]].quant.s()
    schema = object_schema()
    m = schema.ModelT.InitFromObj(schema.Model.GetRootAs(tflite, 0))
    sub = m.subgraphs[0]
    # float Glorot-uniform weights -> int8 per output channel
    rng = np.random.default_rng(seed)
    fan_in = int(np.prod(w_t.shape[1:]))
    lim = np.sqrt(6.0 / (fan_in + n))
    wf = rng.uniform(-lim, lim, (n, *w_t.shape[1:])).astype(np.float32)
    scale = np.maximum(np.abs(wf.reshape(n, -1)).max(axis=1), 1e-8) / 127.0
    wq = np.clip(np.round(wf / scale.reshape(n, *([1] * (wf.ndim - 1)))), -127, 127).astype(np.int8)

    def new_buffer(arr: np.ndarray) -> int:
        buf = schema.BufferT()
        buf.data = np.frombuffer(np.ascontiguousarray(arr).tobytes(), dtype=np.uint8)
        m.buffers.append(buf)
        return len(m.buffers) - 1

    def quant(scales: np.ndarray) -> object:
        q = schema.QuantizationParametersT()
        q.scale = [float(v) for v in scales]
        q.zeroPoint = [0] * len(scales)
        q.quantizedDimension = 0
        return q

    tw = sub.tensors[head.inputs[1]]
    tw.shape = [n, *w_t.shape[1:]]
    tw.buffer = new_buffer(wq)
    tw.quantization = quant(scale)
    if len(head.inputs) > 2 and head.inputs[2] >= 0:
        tb = sub.tensors[head.inputs[2]]
        tb.shape = [n]
        tb.buffer = new_buffer(np.zeros(n, np.int32))
        tb.quantization = quant(scale.astype(np.float64) * x_scale)
    # resize the logits and everything downstream along the class axis; constant target shapes
    # (RESHAPE, or the PACK Keras emits to build one) follow the class count
    names = {v: key for key, v in vars(schema.BuiltinOperator).items() if not key.startswith("_")}
    fb_ops = sub.operators
    start = next(i for i, o in enumerate(fb_ops) if o.outputs is not None and int(o.outputs[0]) == head.outputs[0])
    downstream = {head.outputs[0]}
    for o in fb_ops[start + 1:]:
        ins = [int(t) for t in (o.inputs if o.inputs is not None else [])]
        kind = names.get(max(int(m.operatorCodes[o.opcodeIndex].builtinCode),
                             int(m.operatorCodes[o.opcodeIndex].deprecatedBuiltinCode)), "")
        if kind in (K.RESHAPE, K.PACK):
            for t in ins:
                ct = sub.tensors[t]
                data = m.buffers[ct.buffer].data if ct.buffer < len(m.buffers) else None
                if ct.type == 2 and data is not None and len(data):   # constant int32
                    vals = np.frombuffer(np.asarray(data, np.uint8).tobytes(), dtype="<i4")
                    if old in vals.tolist():
                        ct.buffer = new_buffer(np.where(vals == old, n, vals).astype(np.int32))
        if any(t in downstream for t in ins):
            downstream.update(int(t) for t in (o.outputs if o.outputs is not None else []))
    for tid in downstream:
        t = sub.tensors[tid]
        if t.type != 2 and t.shape is not None and len(t.shape) and int(t.shape[-1]) == old:  # not int32 shapes
            t.shape = [*list(t.shape)[:-1], n]
            if t.shapeSignature is not None and len(t.shapeSignature):
                t.shapeSignature = [*list(t.shapeSignature)[:-1], n]
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    out = bytes(b.Output())
    load_bytes(out, "model with a new head")   # verify() the result
    return out


def with_head_for(model: Path, classes: int, out_dir: Path) -> Path:
    """`model` itself when its head already has `classes` outputs, else a resized copy in out_dir."""
    from tiny.frontend.tflite import load
    g = load(model)
    if n_classes(g) == classes:
        return model
    out_dir.mkdir(parents=True, exist_ok=True)
    p = out_dir / f"{model.stem}-head{classes}.tflite"
    p.write_bytes(replace_head(model.read_bytes(), classes))
    return p


def label_count(data: str) -> int | None:
    """How many classes a --data source has (a built-in task's own count; None when unknown)."""
    from tiny.train.data import TASK_CLASSES
    if data in TASK_CLASSES:      # a user's model on a built-in task gets a head of that task's size
        return TASK_CLASSES[data]
    from tiny.data_files import class_count
    return class_count(data)


def adapt_head(g: Graph, data: str, out_dir: Path, log=print) -> Graph:
    """`g`, or `g` with a new head when `data` has a different number of classes."""
    from tiny.pipeline import load_model
    want = label_count(data)
    have = n_classes(g)
    if want is None or want == have:
        return g
    out_dir.mkdir(parents=True, exist_ok=True)
    p = out_dir / f"{Path(g.meta.get('source', g.name)).stem}-head{want}.tflite"
    p.write_bytes(replace_head(g.meta["tflite"], want))
    log(f"the model's head has {have} classes, the data {want}: new head written to {p}")
    return load_model(p)
