"""--mean/--std: a model trained with per-channel normalization (torchvision's Normalize, the usual
PyTorch preprocessing) takes uint8 images as (x / 255 - mean) / std per channel, the same in `tiny
train` and `tiny validate --data`. The expected codes are computed here with numpy from the model's
input quantization; TFLite Micro checks the board."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests import models
from tiny.input_domain import Normalization, parse_normalization, to_model_float
from tiny.ir import TinyError

MEAN, STD = "0.485,0.456,0.406", "0.229,0.224,0.225"


def _tiny(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tiny.cli", *args], capture_output=True, text=True, timeout=600)


def test_parse_normalization() -> None:
    assert parse_normalization(None, None) is None
    n = parse_normalization(MEAN, STD)
    assert n == Normalization((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    # mmcv's pixel units
    p = parse_normalization("123.675,116.28,103.53", "58.395,57.12,57.375")
    assert np.allclose(p.mean, n.mean, atol=1e-6) and np.allclose(p.std, n.std, atol=1e-3)
    for mean, std, match in ((MEAN, None, "go together"), ("a,b", STD, "expected numbers"),
                             (MEAN, "0.2,0,0.2", "must be > 0"), ("0.5,0.5", STD, "--mean has 2 values and --std 3"),
                             ("nan", "1", "finite")):
        with pytest.raises(TinyError, match=match):
            parse_normalization(mean, std)


def test_uint8_images_enter_through_the_normalization(tmp_path: Path) -> None:
    from tiny.input_domain import model_input_domain
    from tiny.pipeline import load_model
    from tiny.validate_data import load_data
    g = load_model(models.user_normalized_cnn())
    x, y = models.user_shapes(40, "a", 3)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    logs: list[str] = []
    s = load_data(tmp_path / "d.npz", g, warn=logs.append, normalize=parse_normalization(MEAN, STD))
    dom = model_input_domain(g)
    real = (x / 255.0 - np.array(models.IMAGENET_MEAN)) / np.array(models.IMAGENET_STD)
    v = real / dom.scale
    q = np.clip(np.sign(v) * np.floor(np.abs(v) + 0.5) + dom.zero_point, -128, 127)
    codes = np.round(s.x_q / np.float32(dom.scale)) + dom.zero_point    # the float32 input's int8 codes
    assert np.abs(codes - q).max() <= 1 and np.mean(codes == q) > 0.999   # float32 vs float64 at ties
    assert np.abs(s.x_float - real).max() < 1e-5
    assert not any("map linearly" in m for m in logs)
    # without --mean/--std: linear onto the calibrated range, and the log says how to normalize
    logs.clear()
    s2 = load_data(tmp_path / "d.npz", g, warn=logs.append)
    assert any("map linearly 0..255 onto the model's input range" in m and "--mean" in m for m in logs)
    assert np.abs(s2.x_float - real).max() > 0.2
    with pytest.raises(TinyError, match=r"x: --mean has 3 values, the images have 1 channel"):
        to_model_float(x[..., :1], model_input_domain(g, normalize=parse_normalization(MEAN, STD)), "x")


def test_validate_and_train_take_mean_and_std(tmp_path: Path) -> None:
    m = str(models.user_normalized_cnn())
    x, y = models.user_shapes(60, "a", 4)
    np.savez(tmp_path / "v.npz", x=x, y=y)
    r = _tiny("validate", m, "--board", "host", "--data", str(tmp_path / "v.npz"), "--mean", MEAN, "--std", STD,
              "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["bit_exact"] and d["samples"] == 60 and "per channel" in d["input_domain"]["description"]
    t = _tiny("train", m, "--board", "host", "--data", str(tmp_path / "v.npz"), "--mean", MEAN, "--std", STD,
              "--recipe", "head", "--steps", "20", "--json", "--no-float-reference")
    assert t.returncode == 0, t.stderr
    assert "(x / 255 - (0.485, 0.456, 0.406)) / (0.229, 0.224, 0.225) per channel" in json.loads(t.stdout)["input_domain"]
    bad = _tiny("validate", m, "--board", "host", "--data", str(tmp_path / "v.npz"), "--mean", MEAN)
    assert bad.returncode == 2 and "--mean and --std go together" in bad.stderr
