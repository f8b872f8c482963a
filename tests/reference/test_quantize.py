"""QUANTIZE / DEQUANTIZE: float32 model edges and int8 -> int8 requantization, against TFLM."""
from __future__ import annotations

import numpy as np

from tests.reference._tf_models import assert_matches_tflm, op_types, quantized_graph, tf


def test_float_edges_with_half_way_inputs() -> None:
    L = tf().keras.layers
    g = quantized_graph([L.Conv2D(4, 3, activation="relu"), L.Conv2D(3, 1)], (6, 7, 3), seed=1, float_io=True)
    assert op_types(g)[0] == "QUANTIZE" and op_types(g)[-1] == "DEQUANTIZE"
    q = g.tensors[g.ops[0].outputs[0]].quant
    rng = np.random.default_rng(0)
    shape = g.tensors[g.inputs[0]].shape
    # Exact half-way points k + 0.5 (in units of the scale), their float neighbours, and values
    # beyond the int8 range: rounding and saturation must both match.
    k = rng.integers(-140, 140, shape).astype(np.float32)
    x = (k + np.float32(0.5)) * np.float32(q.s())
    x = np.where(rng.random(shape) < 0.3, np.nextafter(x, np.float32(-np.inf)), x).astype(np.float32)
    assert_matches_tflm(g, [x])
    assert_matches_tflm(g, seed=1)


def test_int8_requantize_and_dequantize() -> None:
    L = tf().keras.layers
    g = quantized_graph(lambda x: L.Concatenate()([x, L.Activation("sigmoid")(x)]), (5, 4, 6), seed=2,
                        float_io=True)
    kinds = [(g.tensors[op.inputs[0]].dtype, g.tensors[op.outputs[0]].dtype) for op in g.ops if op.type == "QUANTIZE"]
    assert ("int8", "int8") in kinds and ("float32", "int8") in kinds
    for s in range(3):
        assert_matches_tflm(g, seed=s)
