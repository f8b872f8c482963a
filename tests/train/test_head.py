"""A new classifier head for the user's classes: the resized model is consistent and bit-exact."""
from __future__ import annotations

import numpy as np
import pytest

from tests import models
from tiny.compare import validate
from tiny.frontend.tflite import load_bytes
from tiny.ir import TinyError
from tiny.train.head import n_classes, replace_head


@pytest.mark.parametrize("name", ["custom", "tiny", "mbv3"])
@pytest.mark.parametrize("n", [3, 17])
def test_replaced_head_is_bit_exact_with_tflm(name: str, n: int) -> None:
    path = {"custom": models.custom_cnn, "tiny": models.tiny_cnn, "mbv3": models.mobilenet_v3_small}[name]()
    g = load_bytes(replace_head(path.read_bytes(), n), "h")
    assert n_classes(g) == n and g.tensors[g.outputs[0]].shape[-1] == n
    head = [op for op in g.ops if op.type in ("FULLY_CONNECTED", "CONV_2D")][-1]
    w = g.tensors[head.inputs[1]]
    assert w.shape[0] == n and w.quant.scale.size == n
    assert np.abs(w.data.reshape(n, -1)).max(axis=1).min() == 127   # each channel uses the full range
    res = validate(g, None, "none", samples=2)
    assert res.reference.mismatched == 0


def test_head_needs_two_classes() -> None:
    with pytest.raises(TinyError, match="at least 2 classes"):
        replace_head(models.tiny_cnn().read_bytes(), 1)
