"""Keras 3's UpSampling2D, loaded as the RESIZE_NEAREST_NEIGHBOR it computes.

Keras 3 writes `UpSampling2D(size)` as `ops.repeat` along rows and then columns, and the converter
turns each repeat into EXPAND_DIMS -> TILE -> RESHAPE (the RESHAPE's target shape computed at run
time by SHAPE -> STRIDED_SLICE -> CONCATENATION). TFLite Micro has no TILE kernel, so neither it nor
tiny could run such a model. Each chain copies every row (or column) of an NHWC int8 tensor r times
in a row: exactly a nearest-neighbour resize by an integer factor, which TFLM, tiny's kernels and
its training backward all take. This pass rewrites the model before anything else sees it:

- each chain becomes one RESIZE_NEAREST_NEIGHBOR (half_pixel_centers, whose source index
  floor((y + 0.5) / r) is the repeat's y // r with a margin of 0.5 / r against float error; the
  source tables are checked against the repeat before a chain is rewritten);
- a row resize feeding only a column resize becomes one resize (no intermediate tensor);
- ops left with no consumer (the shape arithmetic) are dropped. Tensor ids do not change;
- every tensor takes the shape TFLite computes when it runs the file (runtime_shapes): the
  converter records wrong static shapes after a run-time RESHAPE, and so for every later op.

It works on the frontend's plain records or on flatc's object API (ModelT): their field names are
the same, and a `Make` says how to build the few new objects. With the object API (the oracle
extra) the model is rewritten as bytes, so TFLM checks exactly the model tiny compiles.
Any other TILE is refused with the reason it did not match."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from tiny.ir import IRError
from tiny.ops import kinds as K

_INT8, _INT32, _INT64 = 9, 2, 4


@dataclass
class Make:
    """Builders of the new objects of one representation (records or object API)."""
    buffer: Callable[[bytes], Any]
    tensor: Callable[[list[int], int, int, str], Any]              # shape, type, buffer, name
    opcode: Callable[[int, int], Any]                              # builtin code, version
    op: Callable[[int, list[int], list[int], int, Any], Any]       # opcode, ins, outs, options type, options
    resize_options: Callable[[], Any]                              # half_pixel_centers, not align_corners
    options_type: int                                              # BuiltinOptions.ResizeNearestNeighborOptions
    resize_code: int                                               # BuiltinOperator.RESIZE_NEAREST_NEIGHBOR


@dataclass
class Chain:
    expand: int          # op positions
    tile: int
    reshape: int
    x: int               # the upsampled NHWC tensor ([1, T, C] for UpSampling1D)
    out: int             # the RESHAPE's output
    axis: int            # 1: rows, 2: columns
    factor: int
    expanded: int = -1   # EXPAND_DIMS's output
    tiled: int = -1      # TILE's output
    rank: int = 4        # of x

    @property
    def seq(self) -> bool:
        """UpSampling1D: the EXPAND_DIMS output [1, T, 1, C] is resized to [1, T r, 1, C]; the
        EXPAND_DIMS and the RESHAPE back to rank 3 stay."""
        return self.rank == 3


def _kind(m: Any, o: Any, names: dict[int, str]) -> str:
    oc = m.operatorCodes[o.opcodeIndex]
    return names.get(max(int(oc.builtinCode), int(oc.deprecatedBuiltinCode)), "")


def _const(m: Any, sg: Any, tid: int) -> np.ndarray | None:
    t = sg.tensors[tid]
    b = m.buffers[t.buffer] if 0 <= t.buffer < len(m.buffers) else None
    data = None if b is None else b.data
    if data is None or len(data) == 0 or int(t.type) not in (_INT32, _INT64):
        return None
    raw = np.asarray(data, dtype=np.uint8).tobytes()
    return np.frombuffer(raw, dtype="<i4" if int(t.type) == _INT32 else "<i8").astype(np.int64)


def _shape(sg: Any, tid: int) -> list[int]:
    s = sg.tensors[tid].shape
    return [int(d) for d in (s if s is not None else [])]


def _quant(sg: Any, tid: int) -> tuple:
    q = sg.tensors[tid].quantization
    if q is None or q.scale is None or len(q.scale) == 0:
        return ()
    return (tuple(np.asarray(q.scale, np.float64).tolist()),
            tuple(np.asarray(q.zeroPoint if q.zeroPoint is not None else [], np.int64).tolist()))


def _repeats_exactly(n_in: int, r: int) -> bool:
    """The resize's source table (as TFLM and tiny compute it) is the repeat's."""
    from tiny.ops.resize import nearest_index
    return bool(np.array_equal(nearest_index(n_in * r, n_in, False, True), np.repeat(np.arange(n_in), r)))


def find(m: Any, names: dict[int, str]) -> tuple[list[Chain], dict[int, str]]:
    """The upsampling chains of subgraph 0, and for every other TILE (by op position) why not."""
    sg = m.subgraphs[0]
    ops = sg.operators
    producer = {int(t): k for k, o in enumerate(ops) for t in (o.outputs if o.outputs is not None else [])}
    users: dict[int, list[int]] = {}
    for k, o in enumerate(ops):
        for t in (o.inputs if o.inputs is not None else []):
            users.setdefault(int(t), []).append(k)
    ctx = _Ctx(m, sg, names, producer, users, {int(t) for t in sg.outputs}, {})
    chains: list[Chain] = []
    refused: dict[int, str] = {}
    for k, o in enumerate(ops):
        if _kind(m, o, names) != K.TILE:
            continue
        found = _match(ctx, k)
        if isinstance(found, str):
            refused[k] = found
        else:
            chains.append(found)
            ctx.shapes[found.out] = _repeated(ctx.shape(found.x), found.axis, found.factor)
    return chains, refused


@dataclass
class _Ctx:
    m: Any
    sg: Any
    names: dict[int, str]
    producer: dict[int, int]
    users: dict[int, list[int]]
    outputs: set[int]
    shapes: dict[int, list[int]]     # true shapes of the chains' outputs (the file's may be wrong)

    def kind(self, k: int) -> str:
        return _kind(self.m, self.sg.operators[k], self.names)

    def shape(self, tid: int) -> list[int]:
        return self.shapes.get(tid) or _shape(self.sg, tid)

    def value(self, tid: int, depth: int = 0) -> np.ndarray | None:
        """A constant, or the int vector the shape arithmetic computes (SHAPE, STRIDED_SLICE and
        CONCATENATION of constants); None when it is anything else."""
        c = _const(self.m, self.sg, tid)
        k = self.producer.get(tid)
        if c is not None or k is None or depth > 16:
            return c
        o, kind = self.sg.operators[k], self.kind(k)
        if kind == K.SHAPE:
            return np.asarray(self.shape(int(o.inputs[0])), np.int64)
        parts = [self.value(int(t), depth + 1) for t in o.inputs]
        if any(p is None for p in parts):
            return None
        if kind == K.CONCATENATION and all(p.ndim == 1 for p in parts):
            return np.concatenate(parts)
        if kind == K.STRIDED_SLICE:
            from tiny.ir import Op
            from tiny.ops import REGISTRY
            d = REGISTRY[kind]
            op = Op(index=k, type=kind, inputs=[int(t) for t in o.inputs], outputs=[tid],
                    attrs=d.options(o.builtinOptions))
            try:
                return np.asarray(d.fold(op, [_Value(p) for p in parts]), np.int64).reshape(-1)
            except IRError:
                return None
        return None


@dataclass
class _Value:
    data: np.ndarray


def _repeated(shape: list[int], axis: int, r: int) -> list[int]:
    out = list(shape)
    out[axis] *= r
    return out


def _match(c: _Ctx, k: int) -> Chain | str:
    """The chain around TILE op k, or the reason it is not one."""
    sg = c.sg
    o = sg.operators[k]
    t_in, mult_t = (list(o.inputs) + [-1, -1])[:2]
    t_in, t_out = int(t_in), int(o.outputs[0])
    mult = _const(c.m, sg, int(mult_t))
    if mult is None:
        return "its multiples are not a constant"
    e = c.producer.get(t_in)
    if e is None or c.kind(e) != K.EXPAND_DIMS:
        return f"it tiles by {mult.tolist()}, not the repeat of an EXPAND_DIMS output (UpSampling2D's pattern)"
    x, axis_t = int(sg.operators[e].inputs[0]), int(sg.operators[e].inputs[1])
    axis = _const(c.m, sg, axis_t)
    xs = c.shape(x)
    rank = len(xs)
    if rank not in (3, 4) or int(sg.tensors[x].type) != _INT8 or axis is None or axis.size != 1:
        return f"it repeats a tensor of shape {xs}, not an int8 NHWC feature map or [1, T, C] sequence"
    a = int(axis[0]) + (rank + 1 if int(axis[0]) < 0 else 0)
    r = int(mult[a]) if 0 <= a < mult.size else 0
    if (mult.size != rank + 1 or a not in ((2, 3) if rank == 4 else (2,)) or r < 1
            or any(int(v) != 1 for i, v in enumerate(mult) if i != a)):
        return (f"it tiles by {mult.tolist()} after EXPAND_DIMS at axis {int(axis[0])}: not a repeat of the "
                "rows or columns of an NHWC tensor (or of the steps of a sequence)")
    rs = c.users.get(t_out, [])
    if len(rs) != 1 or c.kind(rs[0]) != K.RESHAPE:
        return "its output does not go to one RESHAPE only (UpSampling2D's pattern)"
    ro = sg.operators[rs[0]]
    out = int(ro.outputs[0])
    want = _repeated(xs, a - 1, r)
    target = c.value(int(ro.inputs[1])) if len(ro.inputs) > 1 else None
    if target is None or target.tolist() != want:
        got = "a shape tiny cannot evaluate" if target is None else target.tolist()
        return f"the RESHAPE after it targets {got}, not the repeated shape {want}"
    if (c.users.get(t_in, []) != [k] or any(t in c.outputs for t in (t_in, t_out))
            or len({_quant(sg, t) for t in (x, t_in, t_out, out)}) != 1):
        return "its intermediate tensors are used elsewhere or change quantization"
    if not _repeats_exactly(xs[a - 1], r):
        return f"a nearest-neighbour resize of {xs[a - 1]} by {r} does not repeat exactly in float32"
    return Chain(expand=e, tile=k, reshape=rs[0], x=x, out=out, axis=a - 1, factor=r, expanded=t_in, tiled=t_out,
                 rank=rank)


def runtime_shapes(buf: bytes) -> dict[int, list[int]] | None:
    """Every tensor's shape as TFLite itself computes it when the model runs (LiteRT, the oracle
    extra), or None. The converter records a wrong static shape after a RESHAPE whose target is
    computed at run time (UpSampling2D's: [1, 1, 12, 5] for a conv output of [1, 12, 12, 5]), and
    every later op inherits it; TFLite's own shape propagation is the authority on what it meant."""
    import warnings
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            it = Interpreter(model_content=bytes(buf), experimental_preserve_all_tensors=True,
                             experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        it.allocate_tensors()
        for d in it.get_input_details():
            it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
        it.invoke()
        return {int(d["index"]): [int(v) for v in d["shape"]] for d in it.get_tensor_details()}
    except (ValueError, RuntimeError):    # LiteRT cannot run it either: keep the file's shapes
        return None


def lower(m: Any, names: dict[int, str], make: Make, shapes: dict[int, list[int]] | None = None) -> list[str]:
    """Rewrite subgraph 0 of `m` in place (module docstring); one line per resize made. `shapes`:
    the run-time shapes (runtime_shapes), which replace the file's where they differ."""
    sg = m.subgraphs[0]
    for tid, shape in (shapes or {}).items():
        t = sg.tensors[tid] if 0 <= tid < len(sg.tensors) else None
        if t is not None and _shape(sg, tid) != shape and _const(m, sg, tid) is None:
            _set_shape(t, shape)
    chains, refused = find(m, names)
    for c in chains:   # the converter may record a wrong static shape after the run-time RESHAPE
        _set_shape(sg.tensors[c.out], _repeated(_shape(sg, c.x), c.axis, c.factor))
    if refused:
        k, why = next(iter(refused.items()))
        outs = [sg.tensors[int(t)].name for t in sg.operators[k].outputs]
        raise IRError(f"op #{k} TILE (output {outs}) is not supported: tiny loads TILE only as the "
                      f"nearest-neighbour upsampling Keras 3's UpSampling2D writes (EXPAND_DIMS -> TILE -> "
                      f"RESHAPE repeating the rows or columns of an int8 NHWC tensor), and {why}. "
                      "Upsample with Resizing(interpolation='nearest') or tf.image.resize instead.")
    if not chains:
        return []
    code = next((i for i, c in enumerate(m.operatorCodes)
                 if max(int(c.builtinCode), int(c.deprecatedBuiltinCode)) == make.resize_code), None)
    if code is None:
        m.operatorCodes.append(make.opcode(make.resize_code, 3))   # v3: int8 with half_pixel_centers
        code = len(m.operatorCodes) - 1
    def const(values: list[int], name: str) -> int:
        m.buffers.append(make.buffer(np.asarray(values, "<i4").tobytes()))
        sg.tensors.append(make.tensor([len(values)], _INT32, len(m.buffers) - 1, name))
        return len(sg.tensors) - 1

    made: dict[int, tuple[Any, Chain]] = {}     # output tensor -> (the resize, its chain)
    for c in chains:
        if c.seq:       # [1, T, 1, C] -> [1, T r, 1, C], then the RESHAPE (to a constant shape) to rank 3
            n, t, ch = _shape(sg, c.out)
            _set_shape(sg.tensors[c.tiled], [n, t, 1, ch])
            reshape = sg.operators[c.reshape]
            reshape.inputs = [int(reshape.inputs[0]), const([n, t, ch], f"{sg.tensors[c.out].name}/shape")]
            made[c.out] = (make.op(code, [c.expanded, const([t, 1], f"{sg.tensors[c.tiled].name}/size")],
                                   [c.tiled], make.options_type, make.resize_options()), c)
            continue
        hw = _shape(sg, c.out)[1:3]
        made[c.out] = (make.op(code, [c.x, const(hw, f"{sg.tensors[c.out].name}/size")], [c.out], make.options_type,
                               make.resize_options()), c)
    at = {(c.tile if c.seq else c.reshape): op for op, c in made.values()}
    gone = {p for c in chains for p in ((c.tile,) if c.seq else (c.expand, c.tile, c.reshape))}
    sg.operators = [at.get(k, o) for k, o in enumerate(sg.operators) if k not in gone or k in at]
    _drop_dead(sg)
    # a row repeat read only by a column repeat (UpSampling2D's pair): one resize from the first input
    first = {out: c for out, (_, c) in made.items()}
    outputs = {int(t) for t in sg.outputs}
    for op, c in made.values():
        prev = made.get(int(op.inputs[0]))
        readers = [o for o in sg.operators if int(op.inputs[0]) in [int(t) for t in o.inputs]]
        if prev is not None and prev[1].axis != c.axis and len(readers) == 1 and readers[0] is op and int(op.inputs[0]) not in outputs:
            first[c.out] = first.pop(prev[1].out)
            op.inputs = [int(prev[0].inputs[0]), int(op.inputs[1])]
    _drop_dead(sg)
    return [f"ops #{f.expand}..#{made[out][1].reshape} of the file (UpSampling1D's EXPAND_DIMS/TILE/RESHAPE) -> "
            f"EXPAND_DIMS, RESIZE_NEAREST_NEIGHBOR {_shape(sg, f.x)[1]}x1 -> {_shape(sg, out)[1]}x1, RESHAPE"
            if f.seq else
            f"ops #{f.expand}..#{made[out][1].reshape} of the file (UpSampling2D's EXPAND_DIMS/TILE/RESHAPE) -> "
            f"RESIZE_NEAREST_NEIGHBOR {'x'.join(map(str, _shape(sg, f.x)[1:3]))} -> "
            f"{'x'.join(map(str, _shape(sg, out)[1:3]))}" for out, f in first.items()]


def _set_shape(t: Any, shape: list[int]) -> None:
    """A tensor's shape, and its signature when the file has one (records carry none)."""
    t.shape = list(shape)
    if getattr(t, "shapeSignature", None) is not None:
        t.shapeSignature = list(shape)


def _drop_dead(sg: Any) -> None:
    """Remove ops none of whose outputs is read or a graph output (the repeat's shape arithmetic)."""
    outputs = {int(t) for t in sg.outputs}
    while True:
        read = {int(t) for o in sg.operators for t in (o.inputs if o.inputs is not None else [])}
        keep = [o for o in sg.operators
                if any(int(t) in read or int(t) in outputs for t in (o.outputs if o.outputs is not None else []))]
        if len(keep) == len(sg.operators):
            return
        sg.operators = keep


def _records_make(s: Any) -> Make:
    from tiny.frontend import flatbuf as fb
    return Make(
        buffer=lambda b: fb.Buffer(data=np.frombuffer(b, np.uint8)),
        tensor=lambda shape, typ, buf, name: fb.TensorRec(shape=shape, type=typ, buffer=buf, name=name,
                                                           quantization=None),
        opcode=lambda code, v: fb.OperatorCode(builtinCode=code, deprecatedBuiltinCode=min(code, 127),
                                               customCode=None, version=v),
        op=lambda code, ins, outs, ot, opt: fb.OperatorRec(opcodeIndex=code, inputs=ins, outputs=outs,
                                                           builtinOptionsType=ot, builtinOptions=opt),
        resize_options=lambda: fb.Options("ResizeNearestNeighborOptions",
                                          {"alignCorners": False, "halfPixelCenters": True}),
        options_type=int(s.BuiltinOptions.ResizeNearestNeighborOptions),
        resize_code=int(s.BuiltinOperator.RESIZE_NEAREST_NEIGHBOR))


def _object_make(s: Any) -> Make:
    def new(cls: Any, **kw: Any) -> Any:
        o = cls()
        for k, v in kw.items():
            setattr(o, k, v)
        return o
    return Make(
        buffer=lambda b: new(s.BufferT, data=np.frombuffer(b, np.uint8)),
        tensor=lambda shape, typ, buf, name: new(s.TensorT, shape=shape, type=typ, buffer=buf, name=name),
        opcode=lambda code, v: new(s.OperatorCodeT, builtinCode=code, deprecatedBuiltinCode=min(code, 127),
                                   version=v),
        op=lambda code, ins, outs, ot, opt: new(s.OperatorT, opcodeIndex=code, inputs=ins, outputs=outs,
                                                builtinOptionsType=ot, builtinOptions=opt),
        resize_options=lambda: new(s.ResizeNearestNeighborOptionsT, alignCorners=False, halfPixelCenters=True),
        options_type=int(s.BuiltinOptions.ResizeNearestNeighborOptions),
        resize_code=int(s.BuiltinOperator.RESIZE_NEAREST_NEIGHBOR))


def rewrite(buf: bytes, model: Any, name: str) -> tuple[bytes, Any, list[str]]:
    """(bytes, records, notes) of the model with its UpSampling2D chains lowered; the input itself
    when it has no TILE. Bytes are rewritten when the object API is installed (so the TFLM oracle
    runs the rewritten model), else only the records."""
    from tiny.frontend import flatbuf
    from tiny.ir import TinyError
    names = flatbuf.opnames()
    if not any(_kind(model, o, names) == K.TILE for o in model.subgraphs[0].operators):
        return buf, model, []
    try:
        obj = flatbuf.object_schema()
    except TinyError:
        obj = None
    try:
        if obj is None:
            return buf, model, lower(model, names, _records_make(flatbuf.schema()))
        import flatbuffers
        m = obj.ModelT.InitFromObj(obj.Model.GetRootAs(buf, 0))
        for t in m.subgraphs[0].tensors:        # names as text, like the records'
            t.name = flatbuf.text(t.name)
        notes = lower(m, names, _object_make(obj), runtime_shapes(buf))
    except IRError as e:
        raise IRError(f"{name}: {e}") from None
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    out = bytes(b.Output())
    return out, flatbuf.read_model(out, name), notes
