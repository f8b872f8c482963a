"""Model file -> verified int8 Graph: the front door every command goes through."""
from __future__ import annotations

from pathlib import Path

from tiny import ops
from tiny.frontend import tflite
from tiny.ir import Graph, IRError, TinyError

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def _check_int8(g: Graph, name: str) -> None:
    float_ops = [op for op in g.ops if not ops.traits(op).io_convert
                 and any(t >= 0 and g.tensors[t].dtype == "float32" for t in op.inputs + op.outputs)]
    if float_ops:
        op = float_ops[0]
        t = next(g.tensors[t] for t in op.inputs + op.outputs if t >= 0 and g.tensors[t].dtype == "float32")
        raise IRError(
            f"{name}: op #{op.index} {op.type} computes in float32 (tensor '{t.name}'); tiny runs full-int8 "
            f"models. Quantize it: pass the Keras model itself (`tiny compile model.keras ...` quantizes it), "
            f"or convert with TFLiteConverter using optimizations=[tf.lite.Optimize.DEFAULT], a "
            f"representative_dataset and supported_ops=[tf.lite.OpsSet.TFLITE_BUILTINS_INT8].")


def load_model(path: str | Path) -> Graph:
    """Load a .tflite (or quantize a Keras model) and check tiny can run it."""
    p = Path(path)
    if not p.exists():
        raise TinyError(f"{p}: no such file or directory")
    if p.suffix in KERAS_SUFFIXES or (p.is_dir() and (p / "saved_model.pb").exists()):
        from tiny.frontend.keras import keras_to_tflite_file
        p = keras_to_tflite_file(p)
    elif p.is_dir():
        raise TinyError(f"{p}: a directory that is not a SavedModel")
    g = tflite.load(p)
    g.meta["source"] = p.name
    _check_int8(g, p.name)
    return g
