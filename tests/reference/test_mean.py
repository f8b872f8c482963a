"""MEAN: tiny's numpy reference against TFLM on Keras-built int8 models: GlobalAveragePooling2D
(axes [1, 2], keepdims true and false) and keras.ops.mean over other axis sets."""
from __future__ import annotations

import numpy as np
import pytest

from tests.reference._tf_models import tf
from tests.reference.test_add import L, check_ops, keras_graph


@pytest.mark.parametrize("keep", [True, False])
@pytest.mark.parametrize("shape,rng_", [((7, 7, 16), 1.0), ((5, 3, 8), 20.0), ((2, 1, 4), 0.01), ((12, 12, 3), 3.0)])
def test_global_average_pooling(shape: tuple, rng_: float, keep: bool) -> None:
    g = keras_graph(lambda x: L().GlobalAveragePooling2D(keepdims=keep)(x), [shape], [rng_], seed=shape[0])
    m = [op for op in g.ops if op.type == "MEAN"]
    assert len(m) == 1 and m[0].attrs["keep_dims"] == keep
    for seed in range(3):
        check_ops(g, ["MEAN"], seed=seed, whole_graph=[op.type for op in g.ops] == ["MEAN"])


@pytest.mark.parametrize("axes,keep", [((1,), True), ((3,), False), ((1, 2, 3), False), ((2,), False), ((-1, 1), True)])
def test_other_axes(axes: tuple, keep: bool) -> None:
    ops = tf().keras.ops
    g = keras_graph(lambda x: ops.mean(x, axis=axes, keepdims=keep), [(4, 5, 6)], [2.0], seed=len(axes))
    assert "MEAN" in [op.type for op in g.ops]
    for seed in range(2):
        check_ops(g, ["MEAN"], seed=seed)


@pytest.mark.slow
def test_seeded_sweep() -> None:
    for seed in range(16):
        rng = np.random.default_rng(seed)
        shape = tuple(int(v) for v in rng.integers(1, 10, 3))
        g = keras_graph(lambda x: L().GlobalAveragePooling2D(keepdims=bool(seed % 2))(x), [shape],
                        [float(np.exp(rng.uniform(-5, 5)))], seed=seed)
        if "MEAN" in [op.type for op in g.ops]:
            for k in range(3):
                check_ops(g, ["MEAN"], seed=k)
