"""Data for on-device training: the built-in offline transfer task and the user's own data.

`digits-transfer` (no downloads): a small MobileNet-style net is pretrained on the host on upright
sklearn digits (16x16 grey, cached under ~/.cache/tiny/train); the board then adapts it to a
domain shift, the same digits rotated by 90 degrees and inverted. Held-out split: 25%.

`--data PATH`: an .npz with x_train, y_train, x_test, y_test (images HWC; integer labels) or a folder
with one sub-folder of images per class. The model defines the input domain (tiny/input_domain.py):
uint8 images map 0..255 onto the float range the model's int8 input covers (so a Keras model with a
`Rescaling` layer taking raw pixels gets raw pixels, a [-1, 1] model gets [-1, 1]); float data are
taken as already in that domain; `--input-range LO,HI` overrides it. Images are then resized
(bilinear), their channels adapted, and quantized with the model's input scale and zero point;
data that would saturate the int8 input are refused, data using a sliver of it warned about.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tiny import data as datasets
from tiny.input_domain import Normalization
from tiny.ir import TinyError

TASKS = {"digits-transfer": "sklearn digits: pretrain upright, adapt on the board to rotated+inverted digits",
         "digits-newclasses": "a Keras model with its own Rescaling layer (raw 0..255 pixels), pretrained on "
                              "digits 0-4, learns digits 5-9 (a new 5-class head) from uint8 images",
         "patches-transfer": "sklearn's china.jpg: a net pretrained on 16x16 RGB patches (class = image "
                             "quadrant) adapts to other patches through another camera pipeline (BGR, negative)"}
TASK_CLASSES = {"digits-transfer": 10, "digits-newclasses": 5, "patches-transfer": 4}
BASE_VERSION = "v1"
IRB_VERSION = "v1"
TASK_VERSION = "v2"
SIZE = 16


def _shift(x: np.ndarray) -> np.ndarray:
    return -np.rot90(x, 1, axes=(1, 2))


def digits_transfer(split: str = "target") -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """float32 NHWC in [-1, 1]: `base` (upright) or `target` (shifted domain) train/test splits."""
    xtr, ytr, xte, yte = datasets.digits(size=SIZE, channels=1, seed=1)
    if split == "target":
        xtr, xte = _shift(xtr), _shift(xte)
    return (np.ascontiguousarray(xtr, np.float32), ytr, np.ascontiguousarray(xte, np.float32), yte)


def digits_newclasses(split: str = "target") -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """uint8 NHWC 16x16 grey digits (0..255): `base` = classes 0-4, `target` = classes 5-9 relabelled 0-4."""
    xtr, ytr, xte, yte = datasets.digits(size=SIZE, channels=1, seed=2)
    u8 = lambda x: np.clip(np.round((x + 1.0) * 127.5), 0, 255).astype(np.uint8)  # noqa: E731
    lo = 0 if split == "base" else 5
    a, b = (ytr >= lo) & (ytr < lo + 5), (yte >= lo) & (yte < lo + 5)
    return u8(xtr[a]), ytr[a] - lo, u8(xte[b]), yte[b] - lo


def patches(split: str = "target", n_per_class: int = 500, size: int = SIZE,
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """uint8 NHWC RGB patches of sklearn's china.jpg, class = the image quadrant the patch comes
    from, each 48x48 crop scaled to size x size. `base`: as photographed; `target`: other crops
    seen through another camera pipeline (channels in BGR order, negative), a domain shift the
    pretrained features must adapt to. (flower.jpg's quadrants were tried as the target: they
    look alike, a float net trained from scratch on them reaches only ~45 %.)"""
    from PIL import Image
    from sklearn.datasets import load_sample_image
    im = load_sample_image("china.jpg")
    seed = 3 if split == "base" else 4
    H, W = im.shape[:2]
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for q in range(4):
        y0, x0 = (q // 2) * H // 2, (q % 2) * W // 2
        for _ in range(n_per_class):
            r, c = rng.integers(0, H // 2 - 48), rng.integers(0, W // 2 - 48)
            crop = im[y0 + r:y0 + r + 48, x0 + c:x0 + c + 48]
            xs.append(np.asarray(Image.fromarray(crop).resize((size, size), Image.BILINEAR)))
            ys.append(q)
    x, y = np.stack(xs), np.array(ys, np.int64)
    if split != "base":
        x = 255 - x[..., ::-1]
    p = rng.permutation(len(x))
    n_te = len(x) // 4
    return x[p[n_te:]], y[p[n_te:]], x[p[:n_te]], y[p[:n_te]]


def build_rescaling_net(size: int = SIZE, classes: int = 5):  # -> keras.Model
    """The usual Keras way: raw 0..255 pixels in, a Rescaling layer maps them to [-1, 1]."""
    import tensorflow as tf
    L = tf.keras.layers
    tf.keras.utils.set_random_seed(0)
    return tf.keras.Sequential([
        tf.keras.Input((size, size, 1)),
        L.Rescaling(1.0 / 127.5, offset=-1.0),
        L.Conv2D(8, 3, strides=2, padding="same", activation="relu6"),
        L.DepthwiseConv2D(3, padding="same", activation="relu6"),
        L.Conv2D(16, 1, activation="relu6"),
        L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6"),
        L.Conv2D(32, 1, activation="relu6"),
        L.GlobalAveragePooling2D(),
        L.Dense(classes),
    ])


def build_patch_net(size: int = SIZE, classes: int = 4):  # -> keras.Model
    """The base net's architecture on RGB input (patches-transfer)."""
    return build_base_net(size, classes, channels=3)


def task_data(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The target (board) split of a built-in task: float [-1, 1] (digits-transfer) or uint8 images."""
    if name == "digits-transfer":
        return digits_transfer("target")
    if name == "digits-newclasses":
        return digits_newclasses("target")
    if name == "patches-transfer":
        return patches("target")
    raise TinyError(f"no built-in task {name!r} ({', '.join(TASKS)})")


def task_model(name: str, recipe: str = "sparse") -> Path:
    """The cached int8 base model of a built-in task (pretrained on its `base` split once)."""
    if name == "digits-transfer":
        return base_model("irb" if recipe == "mobiletl" else "v1")
    from tiny.workflow import cache_dir
    d = cache_dir() / "train"
    d.mkdir(parents=True, exist_ok=True)
    p = d / f"{name}-base-{TASK_VERSION}.tflite"
    if p.exists():
        return p
    import tensorflow as tf
    from tiny.frontend.keras import quantize
    if name == "digits-newclasses":
        xtr, ytr, _, _ = digits_newclasses("base")
        m, xf = build_rescaling_net(), xtr.astype(np.float32)     # raw pixels: the model rescales
        epochs = 15
    elif name == "patches-transfer":
        xtr, ytr, _, _ = patches("base")
        m, xf = build_patch_net(), xtr.astype(np.float32) / 127.5 - 1.0
        epochs = 20
    else:
        raise TinyError(f"no built-in task {name!r} ({', '.join(TASKS)})")
    m.compile(optimizer=tf.keras.optimizers.Adam(3e-3),
              loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    m.fit(xf, ytr, epochs=epochs, batch_size=32, verbose=0)
    tmp = p.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(quantize(m, xf[:128]))
    tmp.replace(p)
    return p


def build_base_net(size: int = SIZE, classes: int = 10, channels: int = 1):  # -> keras.Model
    import tensorflow as tf
    L = tf.keras.layers
    tf.keras.utils.set_random_seed(0)
    return tf.keras.Sequential([
        tf.keras.Input((size, size, channels)),
        L.Conv2D(8, 3, strides=2, padding="same", activation="relu6"),
        L.DepthwiseConv2D(3, padding="same", activation="relu6"),
        L.Conv2D(16, 1, activation="relu6"),
        L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6"),
        L.Conv2D(32, 1, activation="relu6"),
        L.DepthwiseConv2D(3, padding="same", activation="relu6"),
        L.Conv2D(32, 1, activation="relu6"),
        L.GlobalAveragePooling2D(),
        L.Dense(classes),
    ])


def build_irb_net(size: int = SIZE, classes: int = 10):  # -> keras.Model
    """A small MobileNetV2/V3-style net for MobileTL: a stem conv, then four inverted residual
    blocks (expand 1x1, depthwise 3x3, project 1x1, residual ADD where shapes allow) — two with
    ReLU6 (MobileNetV2) and, on top, two with hard-swish (MobileNetV3, no squeeze-excite) — then
    global pooling and a dense head."""
    import tensorflow as tf
    L = tf.keras.layers
    tf.keras.utils.set_random_seed(0)

    def hswish(x):
        return x * tf.nn.relu6(x + 3.0) * (1.0 / 6.0)

    def act(x, kind):
        return L.ReLU(6.0)(x) if kind == "relu6" else L.Activation(hswish)(x)

    def irb(x, cin, cout, t, stride, kind):
        y = act(L.Conv2D(cin * t, 1)(x), kind)
        y = act(L.DepthwiseConv2D(3, strides=stride, padding="same")(y), kind)
        y = L.Conv2D(cout, 1)(y)
        return L.Add()([x, y]) if stride == 1 and cin == cout else y

    inp = tf.keras.Input((size, size, 1))
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu6")(inp)      # 8x8x8
    x = irb(x, 8, 8, 3, 1, "relu6")
    x = irb(x, 8, 16, 3, 2, "relu6")                                            # 4x4x16
    x = irb(x, 16, 16, 3, 1, "hard_swish")
    x = irb(x, 16, 16, 3, 1, "hard_swish")
    x = L.GlobalAveragePooling2D()(x)
    return tf.keras.Model(inp, L.Dense(classes)(x))


def base_model(kind: str = "v1") -> Path:
    """The cached int8 base model of digits-transfer (trained once, ~10 s). kind: "v1" (MobileNetV1-style,
    the default) or "irb" (inverted residual blocks, the default for recipe mobiletl)."""
    from tiny.workflow import cache_dir
    d = cache_dir() / "train"
    d.mkdir(parents=True, exist_ok=True)
    p = d / (f"digits-transfer-base-{BASE_VERSION}.tflite" if kind == "v1" else
             f"digits-transfer-irb-{IRB_VERSION}.tflite")
    if p.exists():
        return p
    import tensorflow as tf
    from tiny.frontend.keras import quantize
    xtr, ytr, _, _ = digits_transfer("base")
    m = build_base_net() if kind == "v1" else build_irb_net()
    m.compile(optimizer=tf.keras.optimizers.Adam(3e-3),
              loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    m.fit(xtr, ytr, epochs=15, batch_size=32, verbose=0)
    tmp = p.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(quantize(m, xtr[:128]))
    tmp.replace(p)
    return p


def _fit_images(x: np.ndarray, shape: tuple[int, ...], dom, name: str) -> np.ndarray:
    """Images (N,H,W[,C]) -> float32 (N, *shape[1:]) in the model's float input domain (uint8 0..255
    mapped onto it, floats taken as they are), resized (bilinear) and channel-adapted."""
    from tiny.input_domain import to_model_float
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise TinyError(f"{name}: images must be N x H x W [x C], got shape {x.shape} (rank {x.ndim})")
    if len(x) == 0:
        raise TinyError(f"{name}: no samples (shape {x.shape})")
    x = to_model_float(x, dom, name)
    h, w, c = shape[1:]
    if x.shape[1:3] != (h, w):
        from PIL import Image
        x = np.stack([np.stack([np.asarray(Image.fromarray(im[..., k]).resize((w, h), Image.BILINEAR))
                                for k in range(im.shape[-1])], -1) for im in x]).astype(np.float32)
    if x.shape[-1] != c:
        if x.shape[-1] == 1:
            x = np.repeat(x, c, axis=-1)
        elif c == 1:
            x = x.mean(axis=-1, keepdims=True)
        else:
            raise TinyError(f"{name}: images have {x.shape[-1]} channels, the model takes {c}")
    return x


def model_data(g, data: str, input_range: tuple[float, float] | None = None, warn=print,
               normalize: Normalization | None = None) -> tuple:
    """(domain, x_train, y_train, x_test, y_test) as the model's input takes them, for `tiny train`
    and `tiny report --train-data` alike: int8 codes, or for a float32 input (quantized by the model's
    first op) float32 values of exactly those codes."""
    from tiny.input_domain import model_input_domain
    from tiny.train.layers import label_count
    dom = model_input_domain(g, 0, input_range, normalize)
    t = g.tensors[g.inputs[0]]
    xtr, ytr, xte, yte = load(data, t.shape, dom.scale, dom.zero_point, label_count(g),
                              domain=dom, warn=warn)
    return dom, dom.model_values(xtr), ytr, dom.model_values(xte), yte


def load(name: str, input_shape: tuple[int, ...], scale: float, zero_point: int, n_classes: int,
         domain=None, warn=print) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """int8 train/test inputs (N, *input_shape[1:]) and int labels. `domain` (tiny.input_domain's
    InputDomain, default: from scale/zero point) defines how the data map onto the int8 input.
    Every check runs here, before any board time: a TinyError names the array and the numbers."""
    from tiny.data_files import class_indices
    from tiny.input_domain import InputDomain, _snap, mapping_note, quantize_input
    if domain is None:   # as model_input_domain derives it from the input quantization
        lo, hi = scale * (-128 - zero_point), scale * (127 - zero_point)
        lo, hi = _snap(lo, hi) or (lo, hi)
        domain = InputDomain(lo, hi, scale, zero_point, "quantization")
    if name in TASKS:
        xtr, ytr, xte, yte = task_data(name)
    else:
        from tiny.data_files import read_splits
        if not Path(name).exists():
            raise TinyError(f"--data {name!r}: not a built-in data set ({', '.join(TASKS)}) nor a path")
        s = read_splits(name, tuple(input_shape), warn=warn)
        xtr, ytr, xte, yte = s.x_train, s.y_train, s.x_test, s.y_test
    for arr, nm in ((xtr, "x_train"), (xte, "x_test")):
        if np.asarray(arr).size == 0:
            raise TinyError(f"{nm}: the split is empty (shape {np.asarray(arr).shape}); training needs samples "
                            "in both x_train and x_test")
    ytr = class_indices(ytr, len(xtr), "y_train", n_classes, warn=warn)
    yte = class_indices(yte, len(xte), "y_test", n_classes, warn=warn)
    note = mapping_note(xtr, domain)
    if note and warn:
        warn(note)
    dtr, dte = np.asarray(xtr).dtype, np.asarray(xte).dtype
    xtr = _fit_images(xtr, input_shape, domain, "x_train")
    xte = _fit_images(xte, input_shape, domain, "x_test")
    return (quantize_input(xtr, domain, "x_train", warn=warn, given_dtype=dtr), ytr,
            quantize_input(xte, domain, "x_test", warn=warn, given_dtype=dte), yte)
