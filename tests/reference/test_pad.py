"""PAD: tiny's numpy reference against TFLM (pad value = output zero point)."""
from __future__ import annotations

import numpy as np
import pytest

from tests.reference._tf_models import assert_matches_tflm, op_types, quantized_graph, tf


@pytest.mark.parametrize("seed", range(3))
def test_zero_padding_2d(seed: int) -> None:
    rng = np.random.default_rng(seed)
    L = tf().keras.layers
    pads = [((int(a), int(b)), (int(c), int(d))) for a, b, c, d in rng.integers(0, 4, (3, 4))]
    # A conv first so the padded tensor has a non-zero zero point.
    g = quantized_graph(lambda x: [L.ZeroPadding2D(p)(L.Conv2D(3, 1)(x)) for p in pads],
                        (int(rng.integers(1, 9)), int(rng.integers(1, 9)), 2), seed=seed)
    assert op_types(g).count("PAD") >= 2
    assert any(g.tensors[op.outputs[0]].quant.zp() != 0 for op in g.ops if op.type == "PAD")
    for s in range(2):
        assert_matches_tflm(g, seed=s)


def test_pad_all_four_axes_then_conv() -> None:
    t = tf()
    L = t.keras.layers
    g = quantized_graph(lambda x: L.Conv2D(4, 3)(L.Lambda(
        lambda v: t.pad(v, [[0, 0], [2, 1], [0, 3], [1, 2]]))(x)), (5, 6, 3), seed=4)
    pad_ops = [op for op in g.ops if op.type == "PAD"]
    assert pad_ops and g.tensors[pad_ops[0].outputs[0]].shape == (1, 8, 9, 6)
    for s in range(2):
        assert_matches_tflm(g, seed=s)
