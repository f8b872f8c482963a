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


def test_user_data_with_fewer_classes_gets_a_new_head_and_learns(tmp_path) -> None:
    """The flow of the README: own .npz (uint8 HW images, 4 classes) on a 10-class model."""
    from tiny import data
    from tiny.frontend.tflite import load
    from tiny.train import data as tdata
    from tiny.train.run import run_training
    xtr, ytr, xte, yte = data.digits(size=16)
    a, b = ytr < 4, yte < 4
    npz = tmp_path / "four.npz"
    np.savez(npz, x_train=((xtr[a] + 1) * 127.5).astype(np.uint8)[..., 0], y_train=ytr[a],
             x_test=((xte[b] + 1) * 127.5).astype(np.uint8)[..., 0], y_test=yte[b])
    res = run_training(str(tdata.base_model()), "host", "sparse", str(npz), steps=300, out=tmp_path / "out",
                       eval_samples=120, log=lambda m: None)
    d = res.data
    assert d["accuracy_after"] > d["accuracy_before"] + 0.2
    tuned = load(d["output"])
    assert tuned.tensors[tuned.outputs[0]].shape[-1] == 4
