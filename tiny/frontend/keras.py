"""Keras model -> full-int8 .tflite: post-training quantization, and QAT through tfmot.

TensorFlow is imported lazily: reading .tflite files never needs it."""
from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tiny.ir import TinyError

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _tf() -> Any:
    try:
        import tensorflow as tf
    except ImportError as e:  # pragma: no cover
        raise TinyError("Keras models need TensorFlow (make setup installs tensorflow-cpu)") from e
    return tf


@contextlib.contextmanager
def quiet_fds() -> Iterator[None]:
    """Silence the C++ and Python chatter TF's converter prints on fds 1 and 2."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved + [null]:
            os.close(fd)


def representative_from(data: np.ndarray | None, input_shape: tuple[int, ...], n: int = 32,
                        seed: int = 0, input_range: tuple[float, float] = (-1.0, 1.0),
                        ) -> Callable[[], Iterable[list[np.ndarray]]]:
    """A representative-dataset generator: samples of `data`, or uniform noise over `input_range`."""
    rng = np.random.default_rng(seed)
    lo, hi = input_range

    def gen() -> Iterable[list[np.ndarray]]:
        for i in range(n):
            if data is not None:
                x = np.asarray(data[i % len(data)], dtype=np.float32)[None]
            else:
                x = rng.uniform(lo, hi, (1, *input_shape)).astype(np.float32)
            yield [x]
    return gen


_UNIT_RANGES = ((0.0, 1.0), (-1.0, 1.0))


def expected_input_range(model: Any) -> tuple[float, float]:
    """The float range the model's input takes, read off a leading `Rescaling` layer.

    Keras models that take raw pixels start with Rescaling(1/255) or Rescaling(1/127.5, offset=-1):
    0..255 in, [0, 1] or [-1, 1] out. Calibrating such a model on [-1, 1] noise would give it an
    input quantization for near-black images, so its calibration range is the Rescaling's
    preimage of the unit range it produces (0..255 for the two above). Without one: [-1, 1]."""
    layers = [la for la in getattr(model, "layers", []) if type(la).__name__ != "InputLayer"]
    first = layers[0] if layers else None
    if first is None or type(first).__name__ != "Rescaling":
        return (-1.0, 1.0)
    scale = float(np.asarray(first.scale).reshape(-1)[0])
    offset = float(np.asarray(first.offset).reshape(-1)[0])
    if scale == 0:
        return (-1.0, 1.0)
    out255 = (offset, 255.0 * scale + offset)
    for a, b in _UNIT_RANGES:
        if abs(out255[0] - a) < 0.02 and abs(out255[1] - b) < 0.02:
            return (0.0, 255.0)
    lo, hi = sorted(((-1.0 - offset) / scale, (1.0 - offset) / scale))
    return (lo, hi)


def int8_converter(tf: Any, model: Any, representative: Callable[[], Iterable[list[np.ndarray]]]) -> Any:
    """A TFLiteConverter set up for full-int8 (int8 in and out, per-channel weights)."""
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv


def quantize(model: Any, representative: Callable[[], Iterable[list[np.ndarray]]] | np.ndarray | None = None,
             ) -> bytes:
    """Post-training full-int8 quantization (int8 input and output, per-channel weights)."""
    tf = _tf()
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    if representative is None or isinstance(representative, np.ndarray):
        representative = representative_from(representative, shape, input_range=expected_input_range(model))
    conv = int8_converter(tf, model, representative)
    try:
        with quiet_fds():
            return conv.convert()
    except Exception as e:
        raise TinyError(f"TFLite conversion failed: {str(e).splitlines()[0][:300]}") from None


def quantize_aware(build: Callable[[], Any], x: np.ndarray, y: np.ndarray, epochs: int = 1,
                   representative: np.ndarray | None = None) -> bytes:
    """Quantization-aware training with tensorflow-model-optimization, then int8 conversion.

    tfmot works on legacy Keras (tf_keras); TF_USE_LEGACY_KERAS must be set before TensorFlow
    is first imported, so this runs in a fresh process when the current one already loaded Keras 3."""
    import subprocess
    import sys
    import tempfile
    import pickle

    with tempfile.TemporaryDirectory() as d:
        job = Path(d) / "job.pkl"
        out = Path(d) / "out.tflite"
        with open(job, "wb") as f:
            pickle.dump({"build": build, "x": x, "y": y, "epochs": epochs, "rep": representative,
                         "out": str(out)}, f)
        # The worker unpickles `build` by reference: give it this process's import path.
        env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3",
                   PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        r = subprocess.run([sys.executable, "-m", "tiny.frontend._qat", str(job)], env=env,
                           capture_output=True, text=True)
        if r.returncode != 0 or not out.exists():
            raise TinyError("quantization-aware training failed:\n" + r.stderr[-1500:])
        return out.read_bytes()


def load_keras(path: str | Path) -> Any:
    tf = _tf()
    p = Path(path)
    try:
        return tf.keras.models.load_model(p, compile=False)
    except Exception as e:
        raise TinyError(f"{p}: cannot load as a Keras model ({str(e).splitlines()[0][:200]})") from None


def keras_to_tflite_file(path: str | Path, out: str | Path | None = None) -> Path:
    """Quantize a saved Keras model (.keras/.h5/SavedModel dir) to an int8 .tflite beside it."""
    p = Path(path)
    model = load_keras(p)
    buf = quantize(model)
    out = Path(out) if out else p.with_suffix(".int8.tflite")
    out.write_bytes(buf)
    return out
