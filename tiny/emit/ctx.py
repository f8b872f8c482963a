"""What an op module sees while emitting its kernel call (see tiny/reference/__init__.py)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

_CTYPES = {np.dtype(np.int8): "int8_t", np.dtype(np.uint8): "uint8_t", np.dtype(np.int16): "int16_t",
           np.dtype(np.int32): "int32_t", np.dtype(np.float32): "float"}


def c_array(values: np.ndarray, per_line: int = 16) -> str:
    """Values as a C initializer body, `per_line` values per line."""
    flat = np.asarray(values).reshape(-1)
    if flat.dtype == np.float32:
        items = [repr(float(v)) + "f" for v in flat]
    else:
        items = [str(int(v)) for v in flat]
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return ",\n    ".join(lines) if lines else "0"


class SymDims(tuple):
    """An NHWC shape whose height and width are only known per patch, at run time.

    Holds the largest extents as ints (so code that sizes buffers still works) and the C
    expressions of the run-time dims for emission."""
    expr: str
    size_expr: str

    def __new__(cls, shape: tuple[int, ...], h: str, w: str) -> "SymDims":
        obj = super().__new__(cls, tuple(int(v) for v in shape))
        n, _, _, c = obj
        obj.expr = f"&(tiny_dims){{ {n}, {h}, {w}, {c} }}"
        obj.size_expr = f"({n} * {h} * {w} * {c})"
        return obj

    def flat(self, rank: int) -> "SymDims":
        """The same extent flattened into the last of `rank` axes (kernels that see a vector)."""
        obj = tuple.__new__(SymDims, (1,) * (rank - 1) + (int(np.prod(self)),))
        obj.expr = f"&(tiny_dims){{ 1, 1, 1, {self.size_expr} }}"
        obj.size_expr = self.size_expr
        return obj


@dataclass(frozen=True)
class SplitCall:
    """A layer run as two calls of the same kernel (training firmware: the first n output channels'
    filter is updated in SRAM, the others stay in flash): kernel of each part (chosen for its own
    shape) and the C pointer of the interleave scratch (rows * n bytes; "NULL" for one row)."""
    n: int
    fns: tuple[str, str]
    scratch_expr: str = "NULL"


@dataclass
class EmitCtx:
    """Names an op's buffers in generated C and collects its constant tables.

    inputs/outputs: C expressions of pointers into the arena (already cast to the tensor's type).
    scratch_expr: C expression of the op's scratch pointer (NULL when scratch_bytes() was 0)."""
    prefix: str
    inputs: list[str]
    outputs: list[str]
    scratch_expr: str = "NULL"
    scratch_size: int = 0
    decls: list[str] = field(default_factory=list)
    # Patch mode: parameter structs become locals of the patch loop (their fields may be run-time
    # expressions such as per-patch padding), and shapes may be SymDims with run-time extents.
    local_structs: bool = False
    locals: list[str] = field(default_factory=list)
    # Storage of constant tables by symbol (default "static const "): a training firmware makes the
    # tables it updates mutable ("") and those its backward reads linkable ("const ").
    storage: dict[str, str] = field(default_factory=dict)
    declared: list[str] = field(default_factory=list)
    split: SplitCall | None = None

    def inp(self, i: int) -> str:
        return self.inputs[i]

    def out(self, i: int = 0) -> str:
        return self.outputs[i]

    def const(self, name: str, values: np.ndarray, ctype: str | None = None, comment: str = "") -> str:
        """Declare `static const <ctype> <prefix>_<name>[]` with `values`; return its symbol."""
        arr = np.asarray(values)
        ctype = ctype or _CTYPES[arr.dtype]
        sym = f"{self.prefix}_{name}"
        note = f" /* {comment} */" if comment else ""
        qual = self.storage.get(sym, "static const ")
        self.decls.append(f"{qual}{ctype} {sym}[{max(arr.size, 1)}] TINY_ALIGNED = {{{note}\n    "
                          f"{c_array(arr)}\n}};")
        self.declared.append(sym)
        return sym

    def struct(self, ctype: str, name: str, fields: dict[str, object]) -> str:
        """Declare `static const <ctype> <prefix>_<name> = {.field = value, ...}`; return its address."""
        sym = f"{self.prefix}_{name}"
        body = ", ".join(f".{k} = {v}" for k, v in fields.items())
        if self.local_structs:
            self.locals.append(f"const {ctype} {sym} = {{{body}}};")
        else:
            self.decls.append(f"static const {ctype} {sym} = {{{body}}};")
        return f"&{sym}"

    def size(self, shape: tuple[int, ...]) -> str:
        """The element count of a shape as a C expression."""
        if isinstance(shape, SymDims):
            return shape.size_expr
        return str(int(np.prod(shape, dtype=np.int64)))

    def ctx(self) -> str:
        """A `tiny_ctx` initializer expression with the op's scratch buffer."""
        return f"&(tiny_ctx){{ .buf = {self.scratch_expr}, .size = {self.scratch_size} }}"

    def dims(self, shape: tuple[int, ...] | list[int]) -> str:
        """A `tiny_dims` compound literal for an NHWC (or N..C) shape."""
        if isinstance(shape, SymDims):
            return shape.expr
        s = [int(v) for v in shape]
        if len(s) == 4:
            n, h, w, c = s
        elif len(s) == 3:
            n, h, w, c = 1, s[0], s[1], s[2]
        elif len(s) == 2:
            n, h, w, c = s[0], 1, 1, s[1]
        elif len(s) == 1:
            n, h, w, c = 1, 1, 1, s[0]
        else:
            n, h, w, c = 1, 1, 1, 1
        return f"&(tiny_dims){{ {n}, {h}, {w}, {c} }}"
