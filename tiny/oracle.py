"""TensorFlow Lite Micro as the oracle: run a .tflite and dump every tensor, measure its arena."""
from __future__ import annotations

import os
import re
import sys
import tempfile

import numpy as np

from tiny.ir import Graph, TinyError


def _runtime():
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError as e:  # pragma: no cover - depends on the install
        raise TinyError("the TFLite Micro oracle needs the 'tflite-micro' package (make setup)") from e
    return runtime


def run_all(g: Graph, inputs: list[np.ndarray]) -> dict[int, np.ndarray]:
    """Invoke TFLM on `inputs`; return {tensor id: value} for every non-constant tensor."""
    rt = _runtime()
    interp = rt.Interpreter.from_bytes(g.meta["tflite"], arena_size=_arena_guess(g),
                                       intrepreter_config=rt.InterpreterConfig.kPreserveAllTensors)
    for i, x in enumerate(inputs):
        interp.set_input(np.ascontiguousarray(x), i)
    interp.invoke()
    out: dict[int, np.ndarray] = {}
    for tid in g.activations():
        out[tid] = _tensor_value(interp.GetTensor(tid, 0), g.tensors[tid].shape)
    return out


def _tensor_value(v: object, shape: tuple[int, ...]) -> np.ndarray:
    """GetTensor returns a dict {dtype, shape, tensor_data} in recent TFLM builds, an array in older ones."""
    if isinstance(v, dict):
        arr = np.asarray(v["tensor_data"])
        return arr.astype(v.get("dtype", arr.dtype), copy=False).reshape(shape)
    return np.asarray(v).reshape(shape)


def run(g: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Invoke TFLM; return the graph outputs."""
    rt = _runtime()
    interp = rt.Interpreter.from_bytes(g.meta["tflite"], arena_size=_arena_guess(g))
    for i, x in enumerate(inputs):
        interp.set_input(np.ascontiguousarray(x), i)
    interp.invoke()
    return [np.array(interp.get_output(i)) for i in range(len(g.outputs))]


def _arena_guess(g: Graph) -> int:
    act = sum(g.tensors[t].nbytes for t in g.activations())
    return max(64 * 1024, act + len(g.meta["tflite"]) + 256 * 1024)


def arena_bytes(g: Graph) -> int:
    """TFLM's own arena need for this model, as its recording allocator reports it.

    The recording allocator prints to the C stderr, so the file descriptor is captured."""
    rt = _runtime()
    interp = rt.Interpreter.from_bytes(g.meta["tflite"], arena_size=_arena_guess(g))
    for i, tid in enumerate(g.inputs):
        t = g.tensors[tid]
        interp.set_input(np.zeros(t.shape, dtype=np.dtype(t.dtype)), i)
    interp.invoke()
    sys.stderr.flush()
    with tempfile.TemporaryFile(mode="w+b") as f:
        saved = os.dup(2)
        try:
            os.dup2(f.fileno(), 2)
            interp.print_allocations()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        f.seek(0)
        text = f.read().decode(errors="replace")
    m = re.search(r"\[RecordingMicroAllocator\] Arena allocation total (\d+) bytes", text)
    if not m:
        raise TinyError("could not read TFLM's arena size from print_allocations():\n" + text[:500])
    return int(m.group(1))
