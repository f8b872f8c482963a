"""`tiny validate MODEL --data FILE [--float-model KERAS]` against figures computed here, with
TFLite Micro's own interpreter, Keras and numpy (not with tiny's code)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests import models
from tests.unit.test_cli import _no_traceback, tiny


@pytest.fixture(scope="module")
def digits_keras(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, np.ndarray]:
    """A small Keras CNN trained on sklearn's 8x8 digits, inputs in [-1, 1]."""
    import tensorflow as tf
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images.astype(np.float32) / 8.0 - 1.0)[..., None]
    y = d.target.astype(np.int64)
    tf.keras.utils.set_random_seed(0)
    m = tf.keras.Sequential([tf.keras.Input((8, 8, 1)),
                             tf.keras.layers.Conv2D(8, 3, activation="relu"),
                             tf.keras.layers.Flatten(),
                             tf.keras.layers.Dense(10, activation="softmax")])
    m.compile("adam", "sparse_categorical_crossentropy")
    m.fit(x[:1200], y[:1200], epochs=3, batch_size=32, verbose=0)
    path = tmp_path_factory.mktemp("vdata") / "digits.keras"
    m.save(path)
    return path, x[1200:1240], y[1200:1240]


def _tflm_outputs(tflite: bytes, xq: np.ndarray) -> np.ndarray:
    from tflite_micro.python.tflite_micro import runtime
    interp = runtime.Interpreter.from_bytes(tflite, arena_size=256 * 1024)
    outs = []
    for x in xq:
        interp.set_input(x[None], 0)
        interp.invoke()
        outs.append(np.array(interp.get_output(0)).reshape(-1))
    return np.stack(outs)


def test_validate_data_keras_and_int8_twin(digits_keras, tmp_path: Path, capsys) -> None:
    import tensorflow as tf
    from tiny.cli import main
    from tiny.validate_data import table
    path, x, y = digits_keras
    data = tmp_path / "d.npz"
    np.savez(data, x=x, y=y)
    capsys.readouterr()
    assert main(["validate", str(path), "--board", "host", "--data", str(data), "--json"]) == 0
    stdout = capsys.readouterr().out
    got = json.loads(stdout[stdout.index("{\n"):])   # after what the host build printed

    # Independent figures: the int8 twin tiny made (its input/output quantization read with
    # TF's interpreter), run by TFLM; the float model by Keras; metrics by numpy.
    tflite = path.with_suffix(".int8.tflite").read_bytes()
    it = tf.lite.Interpreter(model_content=tflite)
    (si, zi), (so, zo) = it.get_input_details()[0]["quantization"], it.get_output_details()[0]["quantization"]
    xq = np.clip(np.sign(x / si) * np.floor(np.abs(x / si) + 0.5) + zi, -128, 127).astype(np.int8)
    q = _tflm_outputs(tflite, xq)
    pred = (q.astype(np.float64) - zo) * so
    ref = tf.keras.models.load_model(path).predict(x, verbose=0).astype(np.float64)
    diff = pred - ref
    want = {"rmse": np.sqrt(np.mean(diff ** 2)), "mae": np.mean(np.abs(diff)),
            "l2r": np.linalg.norm(diff) / np.linalg.norm(ref),
            "cosine": np.sum(pred * ref) / (np.linalg.norm(pred) * np.linalg.norm(ref))}
    out = got["outputs"][0]
    for k, v in want.items():
        assert out[k] == pytest.approx(v, rel=1e-5), k
        assert got[k] == out[k]
    assert got["accuracy"] == pytest.approx(np.mean(q.argmax(1) == y))
    assert got["float_accuracy"] == pytest.approx(np.mean(ref.argmax(1) == y))
    assert got["accuracy"] > 0.8          # a trained model, not chance
    assert got["tflm_agreement"] == 1.0 and got["bit_exact"] is True
    assert got["bit_exact_samples"] == got["samples"] == len(x)
    # int8 near the float model, not equal. Not closer: tiny's Keras PTQ calibrates on [-1, 1]
    # noise, not on digit images (mostly background -1), so activation ranges are off.
    assert 0 < out["rmse"] < 0.2 and out["cosine"] > 0.9
    text = table(got)
    assert "tflm_agreement" in text and "cosine" in text and f"{got['accuracy']:.2%}" in text
    assert f"{out['rmse']:.6f}" in text


def test_load_data_domain_and_errors(tmp_path: Path) -> None:
    from tiny.input_domain import model_input_domain
    from tiny.ir import TinyError
    from tiny.pipeline import load_model
    from tiny.validate_data import error_metrics, load_data
    g = load_model(models.tiny_cnn())                        # input (1, 16, 16, 3), [-1, 1]
    dom = model_input_domain(g)
    img = np.random.default_rng(0).integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
    np.save(tmp_path / "x.npy", img)
    s = load_data(tmp_path / "x.npy", g)
    assert s.y is None and s.x_q.dtype == np.int8 and s.x_q.shape == img.shape
    # uint8 images: 0..255 onto the domain, then the input quantization (numpy here)
    f = dom.lo + img.astype(np.float64) * (dom.hi - dom.lo) / 255.0
    q = np.clip(np.sign(f / dom.scale) * np.floor(np.abs(f / dom.scale) + 0.5) + dom.zero_point, -128, 127)
    assert np.abs(s.x_q.astype(int) - q.astype(int)).max() <= 1     # float32 vs float64 rounding ties
    np.savez(tmp_path / "onehot.npz", x=img, y=np.eye(5)[[0, 3, 1, 4]])
    assert list(load_data(tmp_path / "onehot.npz", g).y) == [0, 3, 1, 4]
    # a `tiny train` data file: its test split, and the log says so
    logs: list[str] = []
    np.savez(tmp_path / "train.npz", x_train=img[:2], y_train=[1, 2], x_test=img[2:], y_test=[3, 4])
    s = load_data(tmp_path / "train.npz", g, warn=logs.append)
    assert np.array_equal(s.x, img[2:]) and list(s.y) == [3, 4] and "test split (x_test, y_test)" in logs[0]
    np.savez(tmp_path / "nox.npz", images=img)
    with pytest.raises(TinyError, match="no array 'x'.*images"):
        load_data(tmp_path / "nox.npz", g)
    np.savez(tmp_path / "bad.npz", x=img, y=np.arange(3))
    with pytest.raises(TinyError, match="4 samples in x but 3 labels"):
        load_data(tmp_path / "bad.npz", g)
    np.save(tmp_path / "shape.npy", img[:, :8])
    with pytest.raises(TinyError, match=r"samples of shape \(8, 16, 3\)"):
        load_data(tmp_path / "shape.npy", g)
    np.save(tmp_path / "big.npy", np.full((2, 16, 16, 3), 5.0, np.float32))   # far outside [-1, 1]
    with pytest.raises(TinyError, match="outside the model's input range"):
        load_data(tmp_path / "big.npy", g)
    s = load_data(tmp_path / "x.npy", g, input_range=(-0.5, 0.5), warn=None)   # uint8 onto LO..HI
    assert s.domain.source == "--input-range"
    assert np.allclose(s.x_float, -0.5 + img / 255.0, atol=1e-6)
    m = error_metrics(np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    assert m == {"rmse": 1.0, "mae": 1.0, "l2r": pytest.approx(np.sqrt(2)), "cosine": 0.0}


def test_validate_data_cli_errors(tmp_path: Path) -> None:
    r = tiny("validate", str(models.tiny_cnn()), "--board", "host", "--data", str(tmp_path / "none.npz"))
    assert r.returncode == 2 and "no such file" in r.stderr
    _no_traceback(r)
    r = tiny("validate", str(models.tiny_cnn()), "--board", "host", "--data", str(tmp_path / "x.npz"),
             "--input-range", "3")
    assert r.returncode == 2 and "--input-range" in r.stderr
    _no_traceback(r)
