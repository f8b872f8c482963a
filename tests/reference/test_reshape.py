"""RESHAPE: tiny's numpy reference against TFLM (Flatten / Reshape, with the shape input)."""
from __future__ import annotations

from tests.reference._tf_models import assert_matches_tflm, op_types, quantized_graph, tf


def test_flatten_and_reshape_chain() -> None:
    L = tf().keras.layers
    g = quantized_graph([L.Conv2D(4, 3, padding="same"), L.Reshape((14, 5, 2)), L.Conv2D(3, 1), L.Flatten(),
                         L.Reshape((15, 14)), L.Dense(3)], (7, 5, 3), seed=1)
    reshapes = [op for op in g.ops if op.type == "RESHAPE"]
    assert len(reshapes) >= 2 and any(len(op.inputs) == 2 for op in reshapes)
    for s in range(3):
        assert_matches_tflm(g, seed=s)


def test_reshape_of_graph_input() -> None:
    L = tf().keras.layers
    g = quantized_graph([L.Reshape((6, 4)), L.Dense(5)], (2, 3, 4), seed=2)
    assert op_types(g)[0] in ("RESHAPE", "FULLY_CONNECTED")
    assert_matches_tflm(g, seed=0)
