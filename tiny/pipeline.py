"""Model file -> verified int8 Graph: the front door every command goes through."""
from __future__ import annotations

from pathlib import Path

from tiny.frontend import tflite
from tiny.frontend.verify import check_int8 as _check_int8
from tiny.ir import Graph, IRError, TinyError

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


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
