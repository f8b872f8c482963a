"""Float islands of an int8 model folded into int8 tables at load.

TF's converter leaves some element-wise ops in float32 even in a full-int8 model: Keras'
activation="elu" becomes DEQUANTIZE -> ELU (float32) -> QUANTIZE. The island reads one int8 tensor
and writes one, element by element, so it is a function of the input byte alone: tiny evaluates it
at load on all 256 int8 inputs, each step as TFLite Micro computes it (DEQUANTIZE's float(double(s)
(q - zp)), the float kernel's own float32 arithmetic, QUANTIZE's round(x / s) half away from zero),
and runs it as one TABLE_LOOKUP op (tiny_lookup_s8 / tiny_lut_s8). Only the in-memory graph changes:
the file stays as it is, so the TFLM oracle runs the island in float32, as TFLM would on the board,
and tiny is compared with that. Its training backward multiplies by the float derivative of the
chain at each int8 input (backward "dtable").

Only float ops whose TFLM kernel is plain float32 arithmetic tiny can repeat exactly are folded
(FLOAT_FNS); any other float op is refused later as before (tiny.frontend.verify.check_int8)."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from tiny.ir import Op, Tensor
from tiny.ops import kinds as K

F32 = np.float32


def _expm1f(x: np.ndarray) -> np.ndarray:
    # glibc's expm1f: taken in float64 and rounded to float32 (tests/unit/test_islands.py: all 256
    # inputs of random quantizations against TFLM)
    return np.array([math.expm1(float(v)) for v in x.reshape(-1)], np.float64).astype(F32).reshape(x.shape)


# float op -> (TFLM's float32 kernel, its derivative in float64); reference_ops::Elu uses expm1
FLOAT_FNS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]] = {
    K.ELU: (lambda x: np.where(x < F32(0.0), _expm1f(np.minimum(x, F32(0.0))), x).astype(F32),
            lambda x: np.where(x > 0.0, 1.0, np.exp(np.minimum(x, 0.0)))),
}


def _one_consumer(ops: list[Op], t: int, outputs: set[int]) -> Op | None:
    users = [o for o in ops if t in o.inputs]
    return users[0] if len(users) == 1 and t not in outputs else None


def fold(tensors: dict[int, Tensor], ops: list[Op], outputs: list[int]) -> tuple[list[Op], list[str]]:
    """(ops with every DEQUANTIZE -> FLOAT_FNS chain -> QUANTIZE island as one TABLE_LOOKUP, notes)."""
    outs = set(outputs)
    drop: set[int] = set()
    repl: dict[int, Op] = {}
    notes: list[str] = []
    for d in ops:
        if d.type != K.DEQUANTIZE or tensors[d.inputs[0]].dtype != "int8" or tensors[d.inputs[0]].quant is None:
            continue
        chain, t = [], d.outputs[0]
        nxt = _one_consumer(ops, t, outs)
        while nxt is not None and nxt.type in FLOAT_FNS and len(nxt.inputs) == 1:
            chain.append(nxt)
            t = nxt.outputs[0]
            nxt = _one_consumer(ops, t, outs)
        q = nxt
        if not chain or q is None or q.type != K.QUANTIZE or tensors[q.outputs[0]].dtype != "int8" \
                or tensors[q.outputs[0]].quant is None or tensors[q.outputs[0]].quant.per_channel \
                or tensors[d.inputs[0]].quant.per_channel:
            continue
        x_t, y_t = tensors[d.inputs[0]], tensors[q.outputs[0]]
        codes = np.arange(-128, 128)
        x = (np.float64(F32(x_t.quant.s())) * (codes - x_t.quant.zp())).astype(F32)     # DEQUANTIZE
        y, dydx = x, np.ones(256)
        for op in chain:
            f, df = FLOAT_FNS[op.type]
            dydx = dydx * df(y.astype(np.float64))
            y = f(y)
        r = (y / F32(y_t.quant.s())).astype(np.float64)                                  # QUANTIZE
        r = np.sign(r) * np.floor(np.abs(r) + 0.5)
        table = np.clip(r + y_t.quant.zp(), -128, 127).astype(np.int8)
        names = "/".join(o.type for o in chain)
        repl[d.index] = Op(index=d.index, type=K.TABLE_LOOKUP, inputs=[d.inputs[0]], outputs=[q.outputs[0]],
                           attrs={"table": table, "derivative": dydx.astype(F32), "island": names})
        drop.update({*(o.index for o in chain), q.index})
        notes.append(f"ops #{d.index}..#{q.index} of the file (DEQUANTIZE/{names}/QUANTIZE, {names} in float32) -> "
                     f"TABLE_LOOKUP (the island's 256 int8 results)")
    if not repl:
        return ops, []
    kept = [repl.get(o.index, o) for o in ops if o.index not in drop]
    return [Op(index=i, type=o.type, inputs=o.inputs, outputs=o.outputs, attrs=o.attrs) for i, o in enumerate(kept)], notes
