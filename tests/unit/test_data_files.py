"""The user's data files as people have them (tiny/data_files.py): image folders with and without
train/ and test/ folders, x/y files without a test split, one-hot labels, channels-first arrays. The
expected arrays are built here with numpy and written with PIL (PNG is lossless, so what is read
back must equal them exactly)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tiny.data_files import TEST_FRACTION, class_count, class_indices, read_samples, read_splits
from tiny.ir import TinyError

SHAPE = (1, 12, 10, 3)      # the model's input: 12 high, 10 wide, RGB


def _images(n: int, seed: int, hw=(12, 10), c: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, *hw, c), dtype=np.uint8)


def _write(folder: Path, x: np.ndarray, y: np.ndarray, names: list[str]) -> None:
    for i, (im, k) in enumerate(zip(x, y)):
        d = folder / names[k]
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(im[..., 0] if im.shape[-1] == 1 else im).save(d / f"{i:03d}.png")


def _as_set(x: np.ndarray, y: np.ndarray) -> set:
    return {(im.tobytes(), int(k)) for im, k in zip(x, y)}


def test_folder_with_train_and_test_folders(tmp_path: Path) -> None:
    names = ["cat", "dog", "owl"]
    xtr, ytr = _images(9, 0), np.array([0, 1, 2] * 3)
    xte, yte = _images(6, 1), np.array([2, 1, 0] * 2)
    _write(tmp_path / "train", xtr, ytr, names)
    _write(tmp_path / "val", xte, yte, names)
    (tmp_path / "train" / "owl" / "notes.txt").write_text("not an image")
    logs: list[str] = []
    s = read_splits(tmp_path, SHAPE, warn=logs.append)
    assert s.classes == names
    assert _as_set(s.x_train, s.y_train) == _as_set(xtr, ytr) and len(s.x_train) == 9
    assert _as_set(s.x_test, s.y_test) == _as_set(xte, yte) and len(s.x_test) == 6
    assert "15 images, 3 classes (cat=0, dog=1, owl=2); train/ and val/" in logs[0]
    assert class_count(tmp_path) == 3
    # validate reads the test folder
    x, y = read_samples(tmp_path, SHAPE, warn=None)
    assert _as_set(x, y) == _as_set(xte, yte)


def test_class_folders_are_split_resized_and_converted(tmp_path: Path) -> None:
    names = ["a", "b"]
    x = _images(8, 2, hw=(24, 20))              # twice the model's size
    y = np.array([0, 1] * 4)
    _write(tmp_path, x, y, names)
    s = read_splits(tmp_path, SHAPE, warn=None)
    assert s.x_train.shape == (6, 12, 10, 3) and s.x_test.shape == (2, 12, 10, 3)   # 25 % held back
    want = {int(k): np.asarray(Image.fromarray(im).resize((10, 12), Image.BILINEAR)) for im, k in
            zip(x, range(8))}
    got = np.concatenate([s.x_train, s.x_test])
    assert sorted(a.tobytes() for a in got) == sorted(w.tobytes() for w in want.values())
    # a grey model gets grey images (PIL's "L" conversion)
    g = read_splits(tmp_path, (1, 12, 10, 1), warn=None)
    grey = {np.asarray(Image.fromarray(im).convert("L").resize((10, 12), Image.BILINEAR)).tobytes() for im in x}
    assert g.x_train.shape[-1] == 1 and {a[..., 0].tobytes() for a in g.x_train} <= grey


def test_npz_without_a_test_split(tmp_path: Path) -> None:
    x, y = _images(20, 3), np.arange(20) % 4
    np.savez(tmp_path / "d.npz", x=x, y=y)
    logs: list[str] = []
    s = read_splits(tmp_path / "d.npz", SHAPE, warn=logs.append)
    assert len(s.x_test) == round(TEST_FRACTION * 20) and len(s.x_train) == 20 - len(s.x_test)
    assert _as_set(np.concatenate([s.x_train, s.x_test]), np.concatenate([s.y_train, s.y_test])) == _as_set(x, y)
    assert "no test split" in logs[0]
    assert class_count(tmp_path / "d.npz") == 4


def test_channels_first_and_one_hot(tmp_path: Path) -> None:
    x = _images(5, 4)
    y = np.array([3, 0, 2, 1, 3])
    onehot = np.eye(4, dtype=np.float32)[y]
    np.savez(tmp_path / "d.npz", x_train=x.transpose(0, 3, 1, 2), y_train=onehot,
             x_test=x.transpose(0, 3, 1, 2)[:2], y_test=y[:2])
    logs: list[str] = []
    s = read_splits(tmp_path / "d.npz", SHAPE, warn=logs.append)
    assert np.array_equal(s.x_train, x) and np.array_equal(s.x_test, x[:2])
    assert any("channels-first" in m and "(5, 12, 10, 3)" in m for m in logs)
    assert list(class_indices(s.y_train, 5, "y_train", 4, warn=logs.append)) == list(y)
    assert "y_train: one-hot labels (4 columns)" in logs[-1]
    assert class_count(tmp_path / "d.npz") == 4
    # a grey model's channels-first (N, 1, H, W) too; NHWC data stays as it is
    np.savez(tmp_path / "g.npz", x=x[..., :1].transpose(0, 3, 1, 2), y=y)
    xg, _ = read_samples(tmp_path / "g.npz", (1, 12, 10, 1), warn=None)
    assert np.array_equal(xg, x[..., :1])
    np.savez(tmp_path / "h.npz", x=x, y=y)
    assert np.array_equal(read_samples(tmp_path / "h.npz", SHAPE, warn=None)[0], x)


@pytest.mark.parametrize("case,match", [
    ("soft", r"y_train: labels of shape \(4, 3\) are not one-hot \(row 1: .*argmax"),
    ("train_only", r"has a train/ folder but no test/ \(or val/\) folder"),
    ("no_images", r"no images .* in its class folders a/, b/"),
    ("broken", r"x\.png: not an image PIL can read"),
    ("unknown_test_class", r"classes zebra are not among the training classes \(a, b\)"),
    ("no_classes", r"no class sub-folders"),
    ("keys", r"need an .npz with x_train, y_train, x_test, y_test \(or x and y\) \(arrays: images\)"),
    ("one", r"1 sample\(s\): training needs at least one to train on and one to test"),
])
def test_bad_data_named(tmp_path: Path, case: str, match: str) -> None:
    p = tmp_path / "data"
    p.mkdir()
    if case == "soft":
        np.savez(p / "d.npz", x_train=_images(4, 0), y_train=np.array([[1, 0, 0], [0.6, 0.4, 0], [0, 0, 1],
                 [0, 1, 0]]), x_test=_images(1, 0), y_test=[0])
        s = read_splits(p / "d.npz", SHAPE, warn=None)
        with pytest.raises(TinyError, match=match):
            class_indices(s.y_train, 4, "y_train")
        return
    if case == "train_only":
        _write(p / "train", _images(2, 0), np.array([0, 1]), ["a", "b"])
    elif case == "no_images":
        (p / "a").mkdir()
        (p / "b").mkdir()
    elif case == "broken":
        (p / "a").mkdir()
        (p / "a" / "x.png").write_bytes(b"not a png")
    elif case == "unknown_test_class":
        _write(p / "train", _images(2, 0), np.array([0, 1]), ["a", "b"])
        _write(p / "test", _images(1, 0), np.array([0]), ["zebra"])
    elif case == "keys":
        np.savez(p / "d.npz", images=_images(2, 0))
        p = p / "d.npz"
    elif case == "one":
        np.savez(p / "d.npz", x=_images(1, 0), y=[0])
        p = p / "d.npz"
    with pytest.raises(TinyError, match=match):
        read_splits(p, SHAPE, warn=None)


def test_images_scaled_to_0_1_for_a_minus_1_1_model_get_a_warning() -> None:
    """Float images in [0, 1] are taken as they are; for a model trained on [-1, 1] they use only the
    upper half of its codes. The warning says so with the numbers; uint8 images and [-1, 1] data do not
    get it."""
    from tiny.input_domain import InputDomain, quantize_input
    dom = InputDomain(-1.0, 1.0, 2 / 255, 0, "quantization")
    x = np.random.default_rng(0).random((4, 8, 8, 1)).astype(np.float32)
    logs: list[str] = []
    q = quantize_input(x, dom, "x_train", warn=logs.append)
    assert q.min() >= 0 and len(logs) == 1
    assert "x_train: data in [0" in logs[0] and "never reach the negative part" in logs[0] and "[-1, 1]" in logs[0]
    logs.clear()
    quantize_input(x * 2 - 1, dom, "x_train", warn=logs.append)
    quantize_input((x * 255).astype(np.uint8), dom, "x_train", warn=logs.append)
    quantize_input(x, InputDomain(0.0, 1.0, 1 / 255, -128, "quantization"), "x_train", warn=logs.append)
    assert logs == []
