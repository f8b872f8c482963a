"""What an op is: the OpDef record every stage reads, its kernel variants and typed params.

One OpDef per TFLite op type (tiny/ops/<op>.py defines them, tiny/ops/__init__.py collects them).
The frontend asks it which ops load and how to read their options, the reference interpreter runs
`run`, kernel selection walks `variants`, the planner asks for scratch and in-place rules, the
patch pass for the receptive field, training for the backward kind. Nothing outside tiny/ops/
names an op type.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from tiny.ir import Graph, Op

if TYPE_CHECKING:
    from tiny.emit.ctx import EmitCtx
    from tiny.target import Target


# ---------------------------------------------------------------- geometry shared with the patch pass
@dataclass(frozen=True)
class Rect:
    """Rows [r0, r1) x columns [c0, c1) of an NHWC tensor."""
    r0: int
    r1: int
    c0: int
    c1: int

    @property
    def h(self) -> int:
        return self.r1 - self.r0

    @property
    def w(self) -> int:
        return self.c1 - self.c0

    def union(self, o: "Rect") -> "Rect":
        return Rect(min(self.r0, o.r0), max(self.r1, o.r1), min(self.c0, o.c0), max(self.c1, o.c1))


def elementwise_rect(g: Graph, op: Op, out: Rect, which: int = 0) -> Rect:
    """Receptive field of an elementwise op: the output rectangle itself, clipped to the input
    (a broadcast [1,1,1,C] input needs its single pixel)."""
    s = g.tensors[op.inputs[which]].shape
    hi, wi = int(s[1]), int(s[2])
    if (hi, wi) == (1, 1):
        return Rect(0, 1, 0, 1)
    return Rect(max(out.r0, 0), min(out.r1, hi), max(out.c0, 0), min(out.c1, wi))


def same_shape_input(g: Graph, op: Op) -> list[int]:
    """In-place candidates of a unary elementwise op: input 0 when it has the output's shape and type."""
    x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
    return [0] if x.dtype == y.dtype and x.shape == y.shape else []


@dataclass(frozen=True)
class Local:
    """Where a patch-stage op runs: its (patch-local) input and output shapes and the top/left
    padding its window sees. Values may be C expressions (per-patch extents at run time)."""
    in_shape: Any
    out_shape: Any
    full_out_shape: tuple[int, ...]
    pad_top: Any = 0
    pad_left: Any = 0
    size: Any = None            # element count of out_shape (an int or a C expression)


# ---------------------------------------------------------------- typed prepared parameters
@dataclass(eq=False)
class Params:
    """Base of every op's prepared parameters (TFLM's OpData): compile-time constants only.

    Item access (`p.x`) is a bridge for code written against the old dict params; new code
    uses attributes."""

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def __setitem__(self, key: str, value: Any) -> None:
        setattr(self, key, value)

    def __contains__(self, key: str) -> bool:
        return key in {f.name for f in fields(self)}

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)

    def patchable(self, out_shape: tuple[int, ...]) -> bool:
        """Whether localize() can re-target these params to any patch of an output of `out_shape`."""
        return True

    def localize(self, loc: Local) -> "Params":
        """These params re-targeted to a patch (default: only the output extent changes)."""
        return replace(self, out_shape=loc.out_shape) if "out_shape" in self else self


def _zero(*_: Any) -> int:
    return 0


def _always(*_: Any) -> bool:
    return True


# ---------------------------------------------------------------- kernel variants
@dataclass(frozen=True)
class Variant:
    """One C kernel that can run an op.

    fn:      the C function (firmware/src/kernels/ref/ or arm/), named tiny_<op>_<variant>_s8.
    when:    selection predicate on (params, target); variants are tried in order, first match wins.
    dsp:     needs target.optimized (kernels "opt" on a board with the DSP extension).
    inplace: None = either; True = only when the op runs in place; False = only out of place.
    scratch: extra planned scratch bytes beyond the op's portable need (the kernel's
             `_get_buffer_size` companion evaluated in Python).
    emit:    a call writer for a kernel whose signature differs from the op's (e.g. tiny_lut_s8);
             None: the op's `emit` writes the call with `fn`.
    """
    fn: str
    when: Callable[[Any, "Target"], bool] = _always
    dsp: bool = False
    inplace: bool | None = None
    scratch: Callable[[Any], int] = _zero
    emit: Callable[[Any, "EmitCtx", str], str] | None = None
    const_bytes: int = 0        # flash the variant adds (e.g. a 256-byte lookup table)


# ---------------------------------------------------------------- the op definition
@dataclass(frozen=True)
class OpDef:
    """Everything tiny knows about one TFLite op type.

    name:          TFLite builtin name.
    options:       flatbuffer builtin-options object (or None) -> Op.attrs.
    prepare:       (graph, op) -> typed Params; raises IRError naming op, tensor and numbers.
    run:           numpy reference kernel, bit-exact with TFLM: (params, input values) -> output.
    emit:          (params, EmitCtx, C function name) -> the C statement(s) calling the kernel.
    variants:      C kernels, most specialised first; the last one should always match.
    scratch:       the portable kernel's scratch bytes for these params.
    macs:          multiply-accumulates of the op in the graph.
    input_rect:    receptive field: (graph, op, output Rect, input position) -> input Rect.
    data_inputs:   positions of inputs that carry activations (default: every non-constant one).
    elementwise:   output element i depends only on element i of each (equal-shaped) input.
    windowed:      a sliding-window op (kernel, stride, dilation, SAME/VALID padding in attrs).
    local:         may run inside a patch stage (spatially local and re-targetable per patch).
    inplace:       (graph, op) -> input positions the op may overwrite with its output (candidates;
                   tiny/memory/inplace.py takes the first whose tensor dies at the op).
    inplace_scratch: extra scratch when running in place.
    inplace_in_patch: runs in place on patch-local buffers inside a patch stage too.
    backward:      training backward kind (conv/dw/fc/mean/add/mul/copy/maxpool/avgpool/transpose/pad/concat/
                   logistic/tanh/leaky/sub/max/min/prelu/resize/reduce_max/
                   bilinear/dtable) or None: no backward.
    trainable:     has weights the training runtime can update.
    classifier:    can be the logits layer of a classifier head.
    fold:          compile-time evaluation when the inputs are constant: (op, input tensors) -> array.
    fold_needs_values: False when fold reads only input shapes (SHAPE).
    io_convert:    converts between float and int8 at the model boundary (QUANTIZE/DEQUANTIZE).
    color:         colour of the op in plots.
    fb_options:    flatbuffer builtin-options class the op reads; fb_options_required: it cannot do
                   without (tiny/frontend/verify.py refuses the model before parsing further).
    arity:         (min inputs, max inputs, rank of each listed input or None, output rank or None)
                   checked by tiny/frontend/verify.py; -1 (absent) is allowed for inputs past min.
    multi_output:  the op may have several outputs (SPLIT): `run` returns one array per output.
    channel_slice: (params, lo, hi) -> the params of output channels [lo, hi) alone (a training
                   firmware runs a layer whose frozen channels stay in flash as two calls).
    portable_why:  (params) -> why a call of an op with DSP variants runs its portable kernel on a
                   DSP board (the bench report's reason).
    no_dsp_why:    why the op has no DSP variant at all (reported when it costs a noticeable share).
    updates:       positions of inputs the op rewrites in place (a variable state tensor, kept
                   between invocations); `run` then returns the outputs followed by their new values
                   (tiny.ops.results maps them to tensors).
    derivative:    (params) -> the op's derivative at each int8 input's real value (256 float32, indexed
                   by value + 128): backward kind "dtable" (an element-wise op of one input).
    tflm:          TFLite Micro has an int8 kernel for it; False: TFLite itself (LiteRT's builtin
                   kernels) is the oracle of a model holding one (tiny/oracle.py).
    """
    name: str
    options: Callable[[Any], dict[str, Any]] = lambda opt: {}
    prepare: Callable[[Graph, Op], Params] | None = None
    run: Callable[[Any, list], np.ndarray] | None = None
    emit: Callable[[Any, "EmitCtx", str], str] | None = None
    variants: tuple[Variant, ...] = ()
    scratch: Callable[[Any], int] = _zero
    macs: Callable[[Graph, Op], int] = _zero
    input_rect: Callable[[Graph, Op, Rect, int], Rect] | None = None
    data_inputs: Callable[[Graph, Op], list[int]] | None = None
    elementwise: bool = False
    windowed: bool = False
    local: bool = False
    inplace: Callable[[Graph, Op], list[int]] | None = None
    inplace_scratch: Callable[[Graph, Op], int] = _zero
    inplace_in_patch: bool = False
    backward: str | None = None
    trainable: bool = False
    classifier: bool = False
    fold: Callable[[Op, list], np.ndarray] | None = None
    fold_needs_values: bool = True
    io_convert: bool = False
    color: str | None = None
    fb_options: str | None = None
    fb_options_required: bool = False
    arity: tuple[int, int, tuple[int | None, ...], int | None] | None = None
    multi_output: bool = False
    updates: tuple[int, ...] = ()
    portable_why: Callable[[Any], str] = lambda p: "no variant selected"
    no_dsp_why: str = "none written yet"
    channel_slice: Callable[[Any, int, int], Any] | None = None
    derivative: Callable[[Any], np.ndarray] | None = None
    tflm: bool = True

    @property
    def runnable(self) -> bool:
        return self.prepare is not None

    def scratch_bytes(self, p: Params) -> int:
        return int(self.scratch(p))

    def select(self, p: Params, target: "Target", inplace: bool = False, scratch_free: bool = False) -> Variant:
        """The kernel variant to call for params `p` on `target` (first matching one; with
        scratch_free, the first one that needs no planned scratch of its own)."""
        for v in self.variants:
            if v.dsp and not target.optimized:
                continue
            if scratch_free and v.scratch(p):
                continue
            if v.inplace is not None and v.inplace != inplace:
                continue
            if v.when(p, target):
                return v
        raise ValueError(f"{self.name}: no kernel variant matches (the last variant should always match)")

    def portable(self, p: Params, inplace: bool = False) -> Variant:
        """The portable kernel for these params (what a target without optimized kernels calls)."""
        from tiny.target import Target
        return self.select(p, Target(kernels="ref"), inplace)

    def call(self, p: Params, e: "EmitCtx", v: Variant) -> str:
        """The C statement(s) running the op with variant `v`."""
        return (v.emit or self.emit)(p, e, v.fn)

    def spatial_inputs(self, g: Graph, op: Op) -> list[int]:
        if self.data_inputs is not None:
            return self.data_inputs(g, op)
        return [i for i, t in enumerate(op.inputs) if t >= 0 and not g.tensors[t].is_const]


# ---------------------------------------------------------------- flatbuffer options
ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}
PADDINGS = {0: "SAME", 1: "VALID"}


def fused_activation(opt: Any) -> dict[str, Any]:
    """{"activation": name} of an options object with a fused activation; NONE when absent."""
    if opt is None or not hasattr(opt, "fusedActivationFunction"):
        return {"activation": "NONE"}
    code = opt.fusedActivationFunction
    return {"activation": ACTIVATIONS.get(code, str(code))}


# ---------------------------------------------------------------- the 256-entry lookup-table kernel
LUT = "tiny_lut_s8"     # firmware/src/kernels/arm/lut_s8.c


def lut_table(table: Callable[[Any], np.ndarray], p: Any) -> np.ndarray:
    """The op's 256 results indexed by the input's raw byte: lut[v & 0xff] = op(v) (tiny_lut_s8);
    `table(p)` is indexed by v + 128."""
    lut = np.empty(256, dtype=np.int8)
    lut[np.arange(-128, 128) & 0xFF] = table(p)
    return lut


def lut_inputs(input_scale: float, input_zero_point: int) -> np.ndarray:
    """The real value of each int8 input, indexed by value + 128: s_in * (q - zp_in) in float32."""
    return np.float32(input_scale) * (np.arange(-128, 128) - input_zero_point).astype(np.float32)


def lut_populate(input_scale: float, input_zero_point: int, output_scale: float, output_zero_point: int,
                 transform: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """TFLite's LUTPopulate / TFLM's PopulateLookupTable for int8, float32 step by step: transform
    (float32 values in and out) of each input's real value, times the float32 1 / s_out, rounded
    half away from zero (TfLiteRound), + zp_out, clamped to int8; indexed by value + 128."""
    y = np.asarray(transform(lut_inputs(input_scale, input_zero_point)), np.float32)
    r = (y * (np.float32(1.0) / np.float32(output_scale))).astype(np.float64)
    r = np.sign(r) * np.floor(np.abs(r) + 0.5)
    return np.clip(r + output_zero_point, -128, 127).astype(np.int8)


def lut_variant(name: str, table: Callable[[Any], np.ndarray], fn: str = LUT, dsp: bool = True) -> Variant:
    """An element-wise function of one int8 input as tiny_lut_s8 over its 256 results (computed by
    the reference `table`, so bit-exact with TFLM by construction): a 256-byte const table. fn / dsp:
    a portable kernel with tiny_lut_s8's signature (an op whose reference is itself a table)."""
    def emit(p: Any, e: "EmitCtx", fn: str) -> str:
        sym = e.const("lut", lut_table(table, p), "int8_t", comment=f"{name} of each int8 input, by its raw byte")
        return f"{fn}({sym}, {e.size(p.out_shape)}, {e.inp(0)}, {e.out()});"
    return Variant(fn, dsp=dsp, emit=emit, const_bytes=256)
