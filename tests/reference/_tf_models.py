"""Build tiny Keras models, quantize them to int8 and compare tiny's reference with TFLM.

Shared by the per-op reference tests; TensorFlow is imported on first use only."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tiny.ir import Graph


def tf() -> Any:
    import tensorflow
    return tensorflow


def randomize(model: Any, seed: int, bias_scale: float = 0.5) -> None:
    """Replace every weight with seeded noise; biases (1-D weights) get magnitude ~bias_scale so a
    wrong bias or zero point cannot hide behind all-zero initial biases."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        ws = layer.get_weights()
        if not ws:
            continue
        new = []
        for w in ws:
            if w.ndim == 1:
                new.append(rng.uniform(-bias_scale, bias_scale, w.shape).astype(np.float32))
            else:
                fan_in = int(np.prod(w.shape[:-1])) if w.ndim > 1 else 1
                lim = np.sqrt(3.0 / max(fan_in, 1)) * 1.5
                new.append(rng.uniform(-lim, lim, w.shape).astype(np.float32))
        layer.set_weights(new)


def quantized_graph(build: Callable[[Any], Any] | Sequence[Any], input_shape: tuple[int, ...],
                    seed: int = 0, n_rep: int = 16, randomize_weights: bool = True,
                    float_io: bool = False, converter_attrs: dict[str, Any] | None = None) -> Graph:
    """Keras model from `build` -> int8 .tflite -> Graph.

    `build` is a list of layers applied in order, or a function mapping the Input tensor to the
    output tensor(s). The representative data set is seeded uniform noise in [-1, 1].
    float_io keeps float32 model inputs/outputs (QUANTIZE / DEQUANTIZE ops at the edges);
    converter_attrs are set on the TFLiteConverter (e.g. experimental switches)."""
    from tiny.frontend.keras import quantize
    from tiny.frontend.tflite import load_bytes
    k = tf().keras
    inp = k.Input(input_shape, batch_size=1)
    if callable(build):
        out = build(inp)
    else:
        out = inp
        for layer in build:
            out = layer(out)
    model = k.Model(inp, out)
    if randomize_weights:
        randomize(model, seed)
    rng = np.random.default_rng(seed + 1)
    reps = [rng.uniform(-1, 1, (1, *input_shape)).astype(np.float32) for _ in range(n_rep)]

    def rep() -> Any:
        for r in reps:
            yield [r]
    if float_io or converter_attrs:
        buf = _convert(model, rep, float_io, converter_attrs or {})
    else:
        buf = quantize(model, rep)
    return load_bytes(buf, name=f"seed{seed}")


def _convert(model: Any, rep: Callable[[], Any], float_io: bool, attrs: dict[str, Any]) -> bytes:
    """Full-int8 conversion like tiny.frontend.keras.quantize, with float or int8 model edges."""
    from tiny.frontend import keras as tk
    conv = tf().lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf().lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf().lite.OpsSet.TFLITE_BUILTINS_INT8]
    if not float_io:
        conv.inference_input_type = conv.inference_output_type = tf().int8
    for k, v in attrs.items():
        setattr(conv, k, v)
    quiet = getattr(tk, "quiet_fds", None)
    if quiet is None:
        return conv.convert()
    with quiet():
        return conv.convert()


def random_inputs(g: Graph, seed: int) -> list[np.ndarray]:
    """Full-range random int8 values (or [-2, 2] floats for float inputs) for every graph input."""
    rng = np.random.default_rng(seed)
    xs = []
    for tid in g.inputs:
        t = g.tensors[tid]
        if t.dtype == "float32":
            xs.append(rng.uniform(-2, 2, t.shape).astype(np.float32))
        else:
            xs.append(rng.integers(-128, 128, t.shape, dtype=np.int64).astype(t.dtype))
    return xs


def assert_matches_tflm(g: Graph, xs: list[np.ndarray] | None = None, seed: int = 0) -> dict[int, np.ndarray]:
    """Run tiny's reference and TFLM on the same input; every activation tensor must be equal."""
    from tiny.oracle import run_all
    from tiny.interpreter import run_graph
    xs = xs if xs is not None else random_inputs(g, seed)
    ours, theirs = run_graph(g, xs), run_all(g, xs)
    for tid, want in theirs.items():
        got = ours[tid]
        t = g.tensors[tid]
        assert got.dtype == want.dtype and got.shape == want.shape, (t.name, got.dtype, want.dtype)
        if not np.array_equal(got, want):
            bad = np.argwhere(got != want)
            op = g.producer(tid)
            raise AssertionError(
                f"{g.layer_label(op) if op else t.name}: {len(bad)}/{got.size} elements differ; first at "
                f"{tuple(bad[0])}: tiny {got[tuple(bad[0])]} vs TFLM {want[tuple(bad[0])]}")
    return ours


def op_types(g: Graph) -> list[str]:
    return [op.type for op in g.ops]
