"""CONCATENATION: tiny's numpy reference against TFLM, on several axes and with inputs the
converter had to requantize first (int8 -> int8 QUANTIZE in front of the concatenation)."""
from __future__ import annotations

import numpy as np
import pytest

from tests.reference._tf_models import assert_matches_tflm, op_types, quantized_graph, tf


@pytest.mark.parametrize("axis", [-1, 1, 2, 3])
def test_concatenate_axes(axis: int) -> None:
    rng = np.random.default_rng(axis + 10)
    L = tf().keras.layers
    n = int(rng.integers(2, 5))
    g = quantized_graph(lambda x: L.Concatenate(axis=axis)(
        [L.Conv2D(int(rng.integers(1, 5)) if axis in (-1, 3) else 3, 1, activation="relu")(x)
         for _ in range(n)] + [x if axis not in (-1, 3) else L.Conv2D(2, 1)(x)]), (5, 7, 3), seed=axis + 10)
    assert "CONCATENATION" in op_types(g)
    for s in range(2):
        assert_matches_tflm(g, seed=s)


def test_concatenate_requantized_inputs() -> None:
    # The sigmoid output has the fixed scale 1/256; the converter requantizes it to the concat's.
    L = tf().keras.layers
    g = quantized_graph(lambda x: L.Concatenate()([x, L.Activation("sigmoid")(L.Conv2D(4, 1)(x)),
                                                   L.Conv2D(3, 3, padding="same")(x)]), (6, 9, 4), seed=3)
    assert "QUANTIZE" in op_types(g) and "CONCATENATION" in op_types(g)
    for s in range(3):
        assert_matches_tflm(g, seed=s)
