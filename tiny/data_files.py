"""The user's data files: the one place a `--data PATH` becomes arrays, for `tiny train` and
`tiny validate --data` alike.

Accepted, in the layouts people have them:

* `.npz` with x_train, y_train, x_test, y_test (`tiny train`'s format), or with x (and y): `tiny
  train` then holds back a seeded TEST_FRACTION of it as the test split, `tiny validate` takes
  all of it. `.npy` with x alone (validate).
* a folder with one sub-folder of images per class (labels: the sorted folder names), or with
  train/ and test/ (or val/) folders that each hold those class folders (Keras'
  `image_dataset_from_directory` layout). Images are decoded at the model's input size, in grey or
  RGB as the model takes them.
* labels as class indices (any integer dtype, or integral floats), or one-hot rows (Keras'
  categorical labels).
* images channels-first (N, C, H, W: PyTorch's layout) for a channels-last model: transposed, and
  the log says so.

Everything that cannot be read gets a TinyError naming the file or array and the numbers.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from tiny.ir import TinyError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
TRAIN_DIRS = ("train", "training")
TEST_DIRS = ("test", "testing", "val", "valid", "validation")
TEST_FRACTION = 0.25       # of a file or folder without its own test split
SPLIT_SEED = 0

Warn = Callable[[str], None] | None


@dataclass
class Splits:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: list[str] | None = None    # folder names, index = label


def class_indices(y: np.ndarray, n: int | None, name: str, n_classes: int | None = None,
                  warn: Warn = None) -> np.ndarray:
    """Labels as int64 class indices: a vector of integers (or integral floats), an (N, 1) column,
    or one-hot rows. `n`: the number of images they label (None: not checked here); `n_classes`: the
    head's size, if known."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 2 and y.shape[1] > 1 and len(y):
        ok = np.isfinite(y).all() and np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all()
        if not ok:
            bad = int(np.argmax(~(np.isin(y, (0, 1)).all(axis=1) & (y.sum(axis=1) == 1))))
            raise TinyError(f"{name}: labels of shape {y.shape} are not one-hot (row {bad}: "
                            f"{np.array2string(y[bad], precision=3, threshold=8)}); give class indices, "
                            f"e.g. {name}.argmax(axis=1)")
        if warn:
            warn(f"{name}: one-hot labels ({y.shape[1]} columns) read as class indices")
        y = y.argmax(axis=1)
    if y.ndim != 1:
        raise TinyError(f"{name}: labels must be a vector of class indices, got shape {y.shape}")
    if n is not None and len(y) != n:
        raise TinyError(f"{name}: {len(y)} labels for {n} images")
    if not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        else:
            raise TinyError(f"{name}: labels must be integer class indices, got dtype {y.dtype}")
    if n_classes is not None and y.size and (y.min() < 0 or y.max() >= n_classes):
        raise TinyError(f"{name}: labels must be in [0, {n_classes}) for this model's {n_classes}-class head, "
                        f"got [{y.min()}, {y.max()}]")
    if y.size and y.min() < 0:
        raise TinyError(f"{name}: labels must be class indices >= 0, got {y.min()}")
    return y.astype(np.int64)


def channels_last(x: np.ndarray, shape: tuple[int, ...], name: str, warn: Warn = None) -> np.ndarray:
    """Images (N, C, H, W) for a model taking (1, H, W, C): transposed to (N, H, W, C). Only when the
    layout is unambiguous: the last axis cannot be channels (not 1, 3, 4 nor the model's C) and the
    second one can."""
    x = np.asarray(x)
    if x.ndim != 4 or len(shape) != 4:
        return x
    c = int(shape[-1])
    if x.shape[-1] in (1, 3, 4, c) or x.shape[1] not in (1, 3, 4, c):
        return x
    if warn:
        warn(f"{name}: shape {x.shape} read as channels-first (N, C, H, W; PyTorch's layout) and "
             f"transposed to {(x.shape[0], x.shape[2], x.shape[3], x.shape[1])}; the model takes "
             f"{tuple(int(d) for d in shape[1:])} per image")
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def _class_dirs(p: Path) -> list[Path]:
    return sorted((d for d in p.iterdir() if d.is_dir() and not d.name.startswith(".")), key=lambda d: d.name)


def _split_dirs(p: Path) -> tuple[Path, Path] | None:
    """(train, test) sub-folders of `p`, if it is laid out that way."""
    subs = {d.name.lower(): d for d in _class_dirs(p)}
    tr = next((subs[n] for n in TRAIN_DIRS if n in subs), None)
    te = next((subs[n] for n in TEST_DIRS if n in subs), None)
    if tr is None and te is None:
        return None
    if tr is None or te is None:
        raise TinyError(f"{p}: has a {(tr or te).name}/ folder but no {'test/ (or val/)' if tr else 'train/'} "
                        "folder beside it; give both, or one sub-folder of images per class")
    return tr, te


def _read_images(p: Path, classes: list[str], shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image, UnidentifiedImageError
    if len(shape) != 4:
        raise TinyError(f"{p}: image folders feed image models (batch, height, width, channels); this one "
                        f"takes {tuple(int(d) for d in shape)}")
    h, w, c = (int(d) for d in shape[1:4])
    if c not in (1, 3):
        raise TinyError(f"{p}: image folders feed models with 1 or 3 channels; this one takes {c}")
    xs, ys = [], []
    for k, cls in enumerate(classes):
        d = p / cls
        if not d.is_dir():
            raise TinyError(f"{p}: no folder {cls}/ (the classes are the training folders: {', '.join(classes)})")
        files = sorted(f for f in d.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        for f in files:
            try:
                with Image.open(f) as im:
                    im = im.convert("L" if c == 1 else "RGB")
                    if im.size != (w, h):
                        im = im.resize((w, h), Image.BILINEAR)
                    a = np.asarray(im, np.uint8)
            except (OSError, UnidentifiedImageError) as e:
                raise TinyError(f"{f}: not an image PIL can read ({e})") from None
            xs.append(a[..., None] if a.ndim == 2 else a)
            ys.append(k)
    if not xs:
        raise TinyError(f"{p}: no images ({', '.join(IMAGE_SUFFIXES)}) in its class folders "
                        f"{', '.join(c + '/' for c in classes)}")
    return np.stack(xs), np.array(ys, np.int64)


def _folder_classes(p: Path) -> tuple[list[str], tuple[Path, Path] | None]:
    split = _split_dirs(p)
    classes = [d.name for d in _class_dirs(split[0] if split else p)]
    if not classes:
        raise TinyError(f"{p}: no class sub-folders (one folder of images per class, or train/ and test/ "
                        "folders holding them)")
    if split:
        extra = sorted({d.name for d in _class_dirs(split[1])} - set(classes))
        if extra:
            raise TinyError(f"{split[1]}: classes {', '.join(extra)} are not among the training classes "
                            f"({', '.join(classes)})")
    return classes, split


def _split(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    idx = np.random.default_rng(SPLIT_SEED).permutation(len(x))
    n_te = max(1, int(round(TEST_FRACTION * len(x))))
    if len(x) < 2:
        raise TinyError(f"{len(x)} sample(s): training needs at least one to train on and one to test")
    return x[idx[n_te:]], y[idx[n_te:]], x[idx[:n_te]], y[idx[:n_te]]


def _npz(p: Path) -> dict[str, np.ndarray]:
    try:
        loaded = np.load(p, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise TinyError(f"{p}: not a .npz/.npy file numpy can read ({e})") from None
    if isinstance(loaded, np.ndarray):
        return {"x": loaded}
    with loaded:
        return {k: loaded[k] for k in loaded.keys()}


def read_splits(path: str | Path, shape: tuple[int, ...], warn: Warn = print) -> Splits:
    """Train and test splits of a `tiny train --data PATH` (see the module docstring). `shape`: the
    model's input shape (images of a folder are decoded at its size)."""
    p = Path(path)
    if p.is_dir():
        classes, split = _folder_classes(p)
        if split:
            xtr, ytr = _read_images(split[0], classes, shape)
            xte, yte = _read_images(split[1], classes, shape)
            how = f"{split[0].name}/ and {split[1].name}/"
        else:
            xtr, ytr, xte, yte = _split(*_read_images(p, classes, shape))
            how = f"a seeded {TEST_FRACTION:.0%} of the images held back as the test split"
        if warn:
            warn(f"{p}: {len(xtr) + len(xte)} images, {len(classes)} classes "
                 f"({', '.join(f'{c}={k}' for k, c in enumerate(classes))}); {how}")
        return Splits(xtr, ytr, xte, yte, classes)
    d = _npz(p)
    if all(k in d for k in ("x_train", "y_train", "x_test", "y_test")):
        return Splits(channels_last(d["x_train"], shape, "x_train", warn), d["y_train"],
                      channels_last(d["x_test"], shape, "x_test", warn), d["y_test"])
    if "x" in d and "y" in d:
        x = channels_last(d["x"], shape, "x", warn)
        y = class_indices(d["y"], len(x), "y", warn=warn)
        if warn:
            warn(f"{p}: x and y, no test split: a seeded {TEST_FRACTION:.0%} of the {len(x)} samples held "
                 "back as the test split")
        return Splits(*_split(x, y))
    raise TinyError(f"{p}: need an .npz with x_train, y_train, x_test, y_test (or x and y) "
                    f"(arrays: {', '.join(d) or 'none'})")


def read_samples(path: str | Path, shape: tuple[int, ...], warn: Warn = print,
                 ) -> tuple[np.ndarray, np.ndarray | None]:
    """(x, y or None) of a `tiny validate --data PATH`: an .npz's x (and y), a training file's test
    split, an .npy's x, or every image of a class folder (or of its test/ folder)."""
    p = Path(path)
    if not p.exists():
        raise TinyError(f"--data {p}: no such file")
    if p.is_dir():
        classes, split = _folder_classes(p)
        x, y = _read_images(split[1] if split else p, classes, shape)
        if warn:
            warn(f"--data {p}: {len(x)} images{' of ' + split[1].name + '/' if split else ''}, classes "
                 f"{', '.join(f'{c}={k}' for k, c in enumerate(classes))}")
        return x, y
    d = _npz(p)
    xk, yk = "x", "y"
    if "x" not in d and "x_test" in d:     # `tiny train`'s format: its test split
        xk, yk = "x_test", "y_test"
        if warn:
            warn(f"--data {p}: the test split (x_test{', y_test' if yk in d else ''}) of a training data file")
    if xk not in d:
        raise TinyError(f"--data {p}: no array 'x' (arrays: {', '.join(d) or 'none'}); "
                        f"save the samples as x (and labels as y): np.savez(FILE, x=x, y=y)")
    x = channels_last(d[xk], shape, xk, warn)
    y = d.get(yk)
    if y is not None:
        y = class_indices(y, None, yk, warn=warn)   # the caller checks the count against its samples
    return x, y


def class_count(path: str | Path) -> int | None:
    """How many classes PATH's labels name (None when unknown or unreadable: the reader explains)."""
    p = Path(path)
    if not p.exists():
        return None
    try:
        if p.is_dir():
            return len(_folder_classes(p)[0])
        d = _npz(p)
        ys = [d[k] for k in ("y_train", "y_test", "y") if k in d]
        if not ys:
            return None
        cols = {np.asarray(y).shape[1] for y in ys if np.asarray(y).ndim == 2 and np.asarray(y).shape[1] > 1}
        if cols:
            return max(cols)   # one-hot: the width is the class count
        flat = np.concatenate([np.asarray(y).ravel() for y in ys])
    except TinyError:
        return None
    if flat.size == 0 or not (np.issubdtype(flat.dtype, np.integer) or np.issubdtype(flat.dtype, np.floating)) \
            or not np.isfinite(flat).all() or flat.min() < 0 or not np.all(flat == np.round(flat)):
        return None   # not class indices: the loader's label check explains it
    return int(flat.max()) + 1
