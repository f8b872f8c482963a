"""int8 models from a tf.function, converted the way PyTorch-export pipelines do it (concrete
function -> TFLiteConverter): the op sequence is exactly the tf ops written, e.g. tf.transpose to
NCHW and tf.reduce_mean over one axis at a time. TensorFlow is imported on first use only."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tests.reference._tf_models import tf
from tiny.ir import Graph


def func_tflite(fn: Callable[..., Any], shapes: Sequence[tuple[int, ...]], seed: int = 0,
                float_io: bool = False, ranges: Sequence[float] | None = None, n_rep: int = 16) -> bytes:
    """`fn(*inputs)` (float32 tensors of `shapes`, batch included) -> full-int8 .tflite bytes.

    float_io keeps float32 model edges (QUANTIZE / DEQUANTIZE at the ends, as converted PyTorch
    models ship); otherwise inputs and outputs are int8. Representative data for input i is
    seeded uniform noise in [-ranges[i], ranges[i]]."""
    T = tf()
    f = T.function(fn, input_signature=[T.TensorSpec(s, T.float32) for s in shapes])
    conv = T.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    conv.optimizations = [T.lite.Optimize.DEFAULT]
    rng = np.random.default_rng(seed)
    ranges = ranges or [1.0] * len(shapes)
    reps = [[rng.uniform(-r, r, s).astype(np.float32) for s, r in zip(shapes, ranges)] for _ in range(n_rep)]

    def rep() -> Any:
        yield from reps
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [T.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if not float_io:
        conv.inference_input_type = conv.inference_output_type = T.int8
    from tiny.frontend import keras as tk
    quiet = getattr(tk, "quiet_fds", None)
    if quiet is None:
        return conv.convert()
    with quiet():
        return conv.convert()


def func_graph(fn: Callable[..., Any], shapes: Sequence[tuple[int, ...]], seed: int = 0,
               float_io: bool = False, ranges: Sequence[float] | None = None) -> Graph:
    from tiny.frontend.tflite import load_bytes
    return load_bytes(func_tflite(fn, shapes, seed, float_io, ranges), name=f"func{seed}")


def const(rng: np.random.Generator, shape: tuple[int, ...], lim: float = 0.5) -> Any:
    return tf().constant(rng.uniform(-lim, lim, shape).astype(np.float32))


def retype_ops(buf: bytes, old: str, new: str, drop_inputs_after: int | None = None) -> bytes:
    """Rewrite every `old` builtin op of a .tflite into `new` (options cleared, inputs beyond
    `drop_inputs_after` dropped): a way to give TFLM ops the converter never emits from TF code
    (int8 PRELU, SQUEEZE) on tensors the converter did quantize."""
    import flatbuffers
    s = object_schema()
    m = s.ModelT.InitFromObj(s.Model.GetRootAs(buf, 0))
    code_old, code_new = getattr(s.BuiltinOperator, old), getattr(s.BuiltinOperator, new)
    for oc in m.operatorCodes:
        if max(int(oc.builtinCode), int(oc.deprecatedBuiltinCode)) == code_old:
            oc.builtinCode, oc.deprecatedBuiltinCode = code_new, min(code_new, 127)
            for op in m.subgraphs[0].operators:
                if m.operatorCodes[op.opcodeIndex] is oc:
                    op.builtinOptionsType, op.builtinOptions = 0, None
                    if drop_inputs_after is not None:
                        op.inputs = list(op.inputs)[:drop_inputs_after]
    b = flatbuffers.Builder(len(buf) + 1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def object_schema() -> Any:
    """A TFLite schema module with the flatbuffers object API (ModelT), for rewriting models in tests."""
    import importlib
    for mod in ("tflite_micro.tensorflow.lite.micro.python.schema_py_generated", "ai_edge_litert.schema_py_generated"):
        try:
            return importlib.import_module(mod)
        except ImportError:
            continue
    raise RuntimeError("no TFLite schema module with the object API (tflite-micro or ai-edge-litert)")
