"""Models the tests use, built and quantized locally, cached on disk by name.

The cache (TINY_CACHE or ~/.cache/tiny/test-models) only holds what these functions produce;
deleting it is always safe."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

CACHE = Path(os.environ.get("TINY_CACHE", Path.home() / ".cache" / "tiny")) / "test-models"
VERSION = "v2"


def _cached(name: str, build) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    p = CACHE / f"{name}-{VERSION}.tflite"
    if not p.exists():
        import tensorflow as tf
        # Keras numbers layer names per process: without this, tensor names (and the snapshots
        # that print them) depend on which models this process built before.
        tf.keras.backend.clear_session()
        tmp = p.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(build())
        tmp.replace(p)
    return p


def _randomize(model, seed: int) -> None:
    """Random batch-norm statistics and biases, so folded biases and per-channel scales are non-trivial."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        kind = type(layer).__name__
        ws = layer.get_weights()
        if kind == "BatchNormalization" and len(ws) == 4:
            c = ws[0].shape
            layer.set_weights([rng.uniform(0.5, 1.5, c), rng.uniform(-0.5, 0.5, c),
                               rng.uniform(-0.2, 0.2, c), rng.uniform(0.5, 1.5, c)])
        elif kind in ("Conv2D", "DepthwiseConv2D", "Dense") and len(ws) == 2:
            layer.set_weights([ws[0], rng.uniform(-0.3, 0.3, ws[1].shape)])


def _quantize(model, shape, seed: int = 0, n: int = 16, lo: float = -1.0, hi: float = 1.0) -> bytes:
    from tiny.frontend.keras import quantize
    _randomize(model, seed + 7)
    rng = np.random.default_rng(seed)
    data = rng.uniform(lo, hi, (n, *shape)).astype(np.float32)
    return quantize(model, data)


def mobilenet_v2(alpha: float = 0.35, h: int = 96, w: int = 96, classes: int = 10) -> Path:
    def build() -> bytes:
        import tensorflow as tf
        tf.keras.utils.set_random_seed(1)
        m = tf.keras.applications.MobileNetV2(input_shape=(h, w, 3), alpha=alpha, weights=None,
                                              classes=classes, classifier_activation=None)
        return _quantize(m, (h, w, 3))
    return _cached(f"mbv2-{alpha}-{h}x{w}-{classes}", build)


def digits_base_images(h: int, w: int, c: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """digits-transfer's `base` split (upright digits, [-1, 1]) mapped into an (h, w, c) input the way
    `tiny.train.data.load` maps data into a model's input (bilinear resize, grey repeated to c channels),
    so a model pretrained on it sees the target split as `tiny train --data digits-transfer` feeds it."""
    from tiny.input_domain import InputDomain
    from tiny.train import data as tdata
    xtr, ytr, xte, yte = tdata.digits_transfer("base")
    dom = InputDomain(-1.0, 1.0, 2.0 / 255.0, 0, "quantization")
    shape = (1, h, w, c)
    return tdata._fit_images(xtr, shape, dom, "x_train"), ytr, tdata._fit_images(xte, shape, dom, "x_test"), yte


# Float accuracy of mobilenet_v2_digits on the base split's test images (held out from its training);
# the builder refuses a model below it (random weights score ~10 %).
DIGITS_BASE_MIN_ACCURACY = 0.8


def mobilenet_v2_digits(alpha: float = 0.35, h: int = 128, w: int = 128, epochs: int = 6) -> Path:
    """MobileNetV2 (weights=None) pretrained offline on digits-transfer's `base` split (upright digits,
    resized to h x w, grey repeated to RGB): Adam, batch 32, `epochs` epochs, then the batch-norm moving
    statistics re-estimated on the training images (Keras's MobileNetV2 BN momentum, 0.999, leaves them
    far from the data after a few hundred steps). Quantized on real base-split images. A real base
    model for the transfer benches: the target split (rotated + inverted digits) starts well below
    the base accuracy, so sparse schemes can be told apart by what they learn."""
    def build() -> bytes:
        import tensorflow as tf
        from tiny.frontend.keras import quantize
        tf.keras.utils.set_random_seed(5)
        xtr, ytr, xte, yte = digits_base_images(h, w, 3)
        m = tf.keras.applications.MobileNetV2(input_shape=(h, w, 3), alpha=alpha, weights=None,
                                              classes=10, classifier_activation=None)
        m.compile(optimizer=tf.keras.optimizers.Adam(1e-3),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        m.fit(xtr, ytr, epochs=epochs, batch_size=32, shuffle=True, verbose=0)
        bns = [layer for layer in m.layers if isinstance(layer, tf.keras.layers.BatchNormalization)]
        for layer in bns:
            layer.momentum = 0.8
        for _ in range(2):
            for i in range(0, len(xtr) - 63, 64):
                m(xtr[i:i + 64], training=True)       # moving statistics only: no optimiser step
        for layer in bns:
            layer.momentum = 0.999
        acc = float(np.mean(np.argmax(m.predict(xte, batch_size=64, verbose=0), -1) == yte))
        if acc < DIGITS_BASE_MIN_ACCURACY:
            raise RuntimeError(f"mobilenet_v2_digits: base-split test accuracy {acc:.3f} < "
                               f"{DIGITS_BASE_MIN_ACCURACY} after {epochs} epochs")
        print(f"mobilenet_v2_digits({alpha}, {h}x{w}): float base-split test accuracy {acc:.3f}")
        return quantize(m, xtr[np.random.default_rng(0).permutation(len(xtr))[:64]])
    return _cached(f"mbv2-digits-{alpha}-{h}x{w}-e{epochs}", build)


def mobilenet_v3_small(h: int = 96, w: int = 96, classes: int = 10) -> Path:
    def build() -> bytes:
        import tensorflow as tf
        tf.keras.utils.set_random_seed(2)
        m = tf.keras.applications.MobileNetV3Small(input_shape=(h, w, 3), weights=None, classes=classes,
                                                   classifier_activation=None, include_preprocessing=False)
        return _quantize(m, (h, w, 3))
    return _cached(f"mbv3s-{h}x{w}-{classes}", build)


def custom_cnn() -> Path:
    """A small CNN touching many ops: conv (5x5 s2 SAME, 3x3 VALID), depthwise (multiplier 2),
    max/avg pool, padding, concat, add, mul, mean, dense, softmax, logistic."""
    def build() -> bytes:
        import tensorflow as tf
        L = tf.keras.layers
        tf.keras.utils.set_random_seed(3)
        x = inp = tf.keras.Input((29, 27, 3))
        x = L.Conv2D(8, 5, strides=2, padding="same", activation="relu")(x)
        a = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", activation="relu6")(x)
        b = L.Conv2D(16, 1)(x)
        x = L.Add()([a, b])
        x = L.ZeroPadding2D(((1, 0), (0, 1)))(x)
        p = L.MaxPooling2D(2)(x)
        q = L.AveragePooling2D(2)(x)
        x = L.Concatenate()([p, q])
        x = L.Conv2D(12, 3, padding="valid")(x)
        s = L.Activation("sigmoid")(L.Conv2D(12, 1)(L.GlobalAveragePooling2D(keepdims=True)(x)))
        x = L.Multiply()([x, s])
        x = L.GlobalAveragePooling2D()(x)
        x = L.Dense(10)(x)
        x = L.Softmax()(x)
        m = tf.keras.Model(inp, x)
        return _quantize(m, (29, 27, 3))
    return _cached("custom-cnn", build)


def _pooled_cnn(name: str, h: int, w: int, pw: int, classes: int, seed: int) -> Path:
    """conv 3x3 s2 (8) -> depthwise 3x3 -> 1x1 conv (pw) -> global average pool -> dense (classes)."""
    def build() -> bytes:
        import tensorflow as tf
        L = tf.keras.layers
        tf.keras.utils.set_random_seed(seed)
        m = tf.keras.Sequential([
            tf.keras.Input((h, w, 3)),
            L.Conv2D(8, 3, strides=2, padding="same", activation="relu6"),
            L.DepthwiseConv2D(3, padding="same", activation="relu6"),
            L.Conv2D(pw, 1, activation="relu6"),
            L.GlobalAveragePooling2D(),
            L.Dense(classes),
        ])
        return _quantize(m, (h, w, 3))
    return _cached(name, build)


def tiny_cnn() -> Path:
    """A very small CNN for fast end-to-end tests (emulated boards included)."""
    return _pooled_cnn("tiny-cnn", 16, 16, 16, 5, seed=4)


def pooled_pointwise_cnn() -> Path:
    """A 1x1 conv (100 channels: a 64-channel slab + 36 = 2 x 16 + 4) on a 7x5 plane straight before
    the global average pool: the backward holds that conv's output gradient as one value per channel
    (tests/train/test_broadcast_grad.py). A non-square plane, so rows and columns differ."""
    return _pooled_cnn("pooled-pointwise-cnn100", 14, 10, 100, 10, seed=6)


def pooling_cnn() -> Path:
    """A classic Keras CNN as users train them: conv + batch norm + ReLU, max pools (2x2 s2 VALID on
    an odd plane, and an overlapping 3x3 s2 SAME), an overlapping 2x2 s1 SAME average pool (edge
    windows count fewer pixels) with a ReLU6 the converter fuses into it, Flatten, Dense. The
    training backward goes through every pool (tests/train/test_pool_backward.py)."""
    def build() -> bytes:
        import tensorflow as tf
        L = tf.keras.layers
        tf.keras.utils.set_random_seed(8)
        m = tf.keras.Sequential([
            tf.keras.Input((19, 18, 3)),
            L.Conv2D(8, 3, padding="same"), L.BatchNormalization(), L.ReLU(),
            L.MaxPooling2D(2),                                          # 19x18 -> 9x9
            L.Conv2D(12, 3, padding="same", activation="relu"),
            L.MaxPooling2D(3, strides=2, padding="same"),               # 9x9 -> 5x5, windows overlap
            L.Conv2D(16, 3, padding="same"),
            L.AveragePooling2D(2, strides=1, padding="same"), L.ReLU(6.0),
            L.Flatten(),
            L.Dense(10),
        ])
        return _quantize(m, (19, 18, 3))
    return _cached("pooling-cnn", build)


def user_digits(size: int = 24) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """sklearn digits as a user has images: uint8 RGB, size x size, 0..255 (labels 0-9)."""
    from tiny import data
    xtr, ytr, xte, yte = data.digits(size=size, channels=3, seed=5)
    u8 = lambda x: np.clip(np.round((x + 1.0) * 127.5), 0, 255).astype(np.uint8)  # noqa: E731
    return u8(xtr), ytr, u8(xte), yte


def user_pooling_cnn(float_io: bool = False, softmax: bool = False) -> Path:
    """A user's classic Keras CNN: Rescaling(1/255) for raw uint8 pixels, conv + batch norm + ReLU +
    max pool twice, Flatten, Dropout, a 10-class Dense; trained on digits 0-5 only (classes 6-9 never
    seen: their logits start far below) and quantized with TF's converter on 100 training images.
    float_io: TF's converter defaults (inference input/output types left float32: a QUANTIZE op
    first, a DEQUANTIZE last, the int8 core between), as many users ship their models. softmax: the
    Dense ends in a softmax, as Keras tutorials write it (an int8 SOFTMAX after the logits)."""
    def build() -> bytes:
        import tensorflow as tf
        L = tf.keras.layers
        tf.keras.utils.set_random_seed(0)
        xtr, ytr, _, _ = user_digits()
        base = ytr < 6
        x = xtr[base].astype(np.float32)
        m = tf.keras.Sequential([
            tf.keras.Input((24, 24, 3)), L.Rescaling(1 / 255.0),
            L.Conv2D(8, 3, padding="same"), L.BatchNormalization(), L.ReLU(), L.MaxPooling2D(),
            L.Conv2D(16, 3, padding="same"), L.BatchNormalization(), L.ReLU(), L.MaxPooling2D(),
            L.Conv2D(16, 3, padding="same", activation="relu"), L.Flatten(), L.Dropout(0.2),
            L.Dense(10, activation="softmax" if softmax else None)])
        m.compile(optimizer="adam", loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=not softmax))
        m.fit(x, ytr[base], epochs=8, batch_size=32, verbose=0)
        from tiny.frontend.keras import int8_converter, quantize
        if not float_io:
            return quantize(m, x[:100])
        conv = int8_converter(tf, m, lambda: ([x[i:i + 1]] for i in range(100)))
        conv.inference_input_type = conv.inference_output_type = tf.float32
        return conv.convert()
    return _cached("user-pooling-cnn" + ("-float-io" if float_io else "") + ("-softmax" if softmax else ""), build)


def uint8_io_cnn() -> Path:
    """A Keras CNN converted as tutorials and Coral-style pipelines do it: inference input and output
    types uint8, so the file has a uint8 input, a QUANTIZE uint8 -> int8 first, the int8 core, and a
    QUANTIZE int8 -> uint8 last (after the softmax). Rescaling(1/255) for raw pixels, conv + batch norm
    + ReLU, max pool, two strided convs, global average pool, a 4-class softmax Dense; trained briefly
    on 32x32 RGB digits 0-3 (tests/unit/test_uint8_io.py fine-tunes it on digits 4-7)."""
    def build() -> bytes:
        import tensorflow as tf
        L = tf.keras.layers
        tf.keras.utils.set_random_seed(3)
        xtr, ytr, _, _ = user_digits(32)
        base = ytr < 4
        x = xtr[base].astype(np.float32)
        m = tf.keras.Sequential([
            tf.keras.Input((32, 32, 3)), L.Rescaling(1 / 255.0),
            L.Conv2D(8, 3, padding="same"), L.BatchNormalization(), L.ReLU(), L.MaxPooling2D(),
            L.Conv2D(16, 3, strides=2, padding="same", activation="relu"),
            L.Conv2D(32, 3, strides=2, padding="same", activation="relu"), L.GlobalAveragePooling2D(),
            L.Dense(4, activation="softmax")])
        m.compile(optimizer=tf.keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
        m.fit(x, ytr[base], epochs=30, batch_size=32, verbose=0)     # float test accuracy ~98 %
        from tiny.frontend.keras import int8_converter
        conv = int8_converter(tf, m, lambda: ([x[i:i + 1]] for i in range(100)))
        conv.inference_input_type = conv.inference_output_type = tf.uint8
        return conv.convert()
    return _cached("uint8-io-cnn", build)


def quantize_op_model(in_dtype: str, out_dtype: str, s_in: float, z_in: int, s_out: float, z_out: int,
                      n: int = 256) -> bytes:
    """One QUANTIZE op [1, n] -> [1, n] with the given types and quantizations (not cached: it takes
    microseconds), written with the schema's object API (tests/unit/test_uint8_io.py)."""
    import flatbuffers

    from tests.reference._tf_func import object_schema
    s = object_schema()
    types = {"int8": s.TensorType.INT8, "uint8": s.TensorType.UINT8}
    m = s.ModelT()
    m.version, m.description = 3, "tiny quantize test model"
    m.buffers = [s.BufferT(), s.BufferT(), s.BufferT()]
    sg = s.SubGraphT()
    sg.tensors = []
    for i, (name, dt, sc, zp) in enumerate((("x", in_dtype, s_in, z_in), ("y", out_dtype, s_out, z_out))):
        t = s.TensorT()
        t.name, t.shape, t.type, t.buffer = name.encode(), [1, n], types[dt], i + 1
        t.quantization = s.QuantizationParametersT()
        t.quantization.scale, t.quantization.zeroPoint = [float(sc)], [int(zp)]
        sg.tensors.append(t)
    oc = s.OperatorCodeT()
    oc.builtinCode = oc.deprecatedBuiltinCode = s.BuiltinOperator.QUANTIZE
    oc.version = 1
    m.operatorCodes = [oc]
    op = s.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0], [1]
    sg.operators, sg.inputs, sg.outputs = [op], [0], [1]
    m.subgraphs = [sg]
    fb = flatbuffers.Builder(1024)
    fb.Finish(m.Pack(fb), file_identifier=b"TFL3")
    return bytes(fb.Output())


def pytorch_style() -> Path:
    """The op sequence models converted from PyTorch ship (MCUNet family): float32 input through
    QUANTIZE, NHWC -> NCHW TRANSPOSE before the pooling, MEAN over one axis at a time, two float32
    outputs through DEQUANTIZE (logits, and a per-channel REDUCE_MAX feature)."""
    def build() -> bytes:
        import tensorflow as tf
        from tests.reference._tf_func import func_tflite
        rng = np.random.default_rng(21)

        def w(*s: int, lim: float = 0.4):
            return tf.constant(rng.uniform(-lim, lim, s).astype(np.float32))
        w1, b1, w2, b2, w3 = w(3, 3, 3, 8), w(8, lim=0.2), w(3, 3, 8, 1), w(8, lim=0.2), w(8, 6)

        def fn(x):
            y = tf.nn.relu6(tf.nn.conv2d(x, w1, 2, "SAME") + b1)
            y = tf.nn.relu(tf.nn.depthwise_conv2d(y, w2, [1, 1, 1, 1], "SAME") + b2)
            t = tf.transpose(y, [0, 3, 1, 2])                            # NCHW, as torch
            m = tf.reduce_mean(tf.reduce_mean(t, axis=3), axis=2)        # one axis at a time
            return tf.matmul(m, w3), tf.reduce_max(t, axis=[2, 3])
        return func_tflite(fn, [(1, 16, 16, 3)], seed=21, float_io=True)
    return _cached("pytorch-style", build)


def pytorch_flatten() -> Path:
    """A PyTorch CNN as exports write it: float32 I/O (QUANTIZE / DEQUANTIZE), conv + ReLU, an explicit
    PAD (PyTorch's symmetric padding 1 of a stride-2 layer is not TF's SAME) before a stride-2 VALID
    depthwise + ReLU6, then torch.flatten on NCHW = a TRANSPOSE to NCHW and a RESHAPE, then the Linear
    layer (every layer trains through the PAD and the TRANSPOSE: tests/train/test_layout_backward.py)."""
    def build() -> bytes:
        import tensorflow as tf
        from tests.reference._tf_func import func_tflite
        rng = np.random.default_rng(31)

        def w(*s: int, lim: float = 0.4):
            return tf.constant(rng.uniform(-lim, lim, s).astype(np.float32))
        w1, b1, w2, b2, w3, b3 = w(3, 3, 1, 6), w(6, lim=0.2), w(3, 3, 6, 1), w(6, lim=0.2), w(6 * 5 * 4, 10, lim=0.2), \
            w(10, lim=0.1)

        def fn(x):
            y = tf.nn.relu(tf.nn.conv2d(x, w1, 1, "SAME") + b1)                       # 10 x 8 x 6
            y = tf.pad(y, [[0, 0], [1, 1], [1, 1], [0, 0]])                            # 12 x 10 x 6
            y = tf.nn.relu6(tf.nn.depthwise_conv2d(y, w2, [1, 2, 2, 1], "VALID") + b2)  # 5 x 4 x 6
            t = tf.reshape(tf.transpose(y, [0, 3, 1, 2]), (1, -1))                     # torch.flatten, NCHW
            return tf.matmul(t, w3) + b3
        return func_tflite(fn, [(1, 10, 8, 1)], seed=31, float_io=True)
    return _cached("pytorch-flatten-pad", build)


def concat_cnn() -> Path:
    """Branches joined by CONCATENATION (the training backward splits the gradient): a 1x1 conv, a
    depthwise branch and their input concatenated along channels (three inputs), then that tensor
    concatenated with itself along rows (one tensor, both slots), a conv, global pooling, a dense
    head (tests/train/test_layout_backward.py)."""
    def build() -> bytes:
        import tensorflow as tf
        L = tf.keras.layers
        tf.keras.utils.set_random_seed(12)
        x = inp = tf.keras.Input((12, 12, 3))
        x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)          # 6 x 6 x 8
        a = L.Conv2D(6, 1, activation="relu")(x)
        b = L.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
        c = L.Concatenate(axis=-1)([a, b, x])                                         # 6 x 6 x 22
        d = L.Concatenate(axis=1)([c, c])                                             # 12 x 6 x 22
        e = L.Conv2D(10, 3, strides=2, padding="same", activation="relu")(d)         # 6 x 3 x 10
        out = L.Dense(10)(L.GlobalAveragePooling2D()(e))
        return _quantize(tf.keras.Model(inp, out), (12, 12, 3))
    return _cached("concat3-cnn", build)


def _digits_pretrained(m) -> bytes:
    """A 12x12x3 Keras model trained on upright digits (12 epochs of Adam), quantized to int8."""
    import tensorflow as tf
    xtr, ytr, _, _ = digits_base_images(12, 12, 3)
    m.compile(optimizer=tf.keras.optimizers.Adam(3e-3),
              loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    m.fit(xtr, ytr, epochs=12, batch_size=32, verbose=0)
    from tiny.frontend.keras import quantize
    return quantize(m, xtr[:64])


def se_cnn() -> Path:
    """Gates and element-wise products the training backward goes through: a squeeze-excite block
    with a sigmoid gate (LOGISTIC, MUL of [1,H,W,C] by [1,1,1,C]) and one with MobileNetV3's
    hard-sigmoid gate (conv + ReLU6, MUL by the constant 1/6), a TANH, a broadcast ADD of two
    activations, a product of one tensor with itself, a LEAKY_RELU and a standalone RELU after a MEAN.
    Pretrained on upright digits (tests/train/test_gate_backward.py)."""
    def build() -> bytes:
        import tensorflow as tf
        L = tf.keras.layers
        tf.keras.utils.set_random_seed(14)
        x = inp = tf.keras.Input((12, 12, 3))
        x = L.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)         # 6 x 6 x 16
        s = L.GlobalAveragePooling2D(keepdims=True)(x)
        s = L.Conv2D(16, 1, activation="sigmoid")(L.Conv2D(8, 1, activation="relu")(s))
        x = L.Multiply()([x, s])                                                       # sigmoid SE
        x = L.LeakyReLU(negative_slope=0.1)(L.DepthwiseConv2D(3, padding="same")(x))   # LEAKY_RELU
        h = L.GlobalAveragePooling2D(keepdims=True)(x)
        h = L.Conv2D(16, 1, activation="relu6")(L.Conv2D(8, 1, activation="relu")(h))
        x = L.Multiply()([x, L.Rescaling(1.0 / 6.0)(h)])                              # hard-sigmoid SE
        t = L.Conv2D(16, 1, activation="tanh")(x)
        x = L.Add()([t, L.GlobalAveragePooling2D(keepdims=True)(x)])                   # broadcast ADD
        x = L.Add()([x, L.Multiply()([x, x])])                                         # x + x * x
        x = L.ReLU()(L.GlobalAveragePooling2D()(L.Conv2D(24, 1)(x)))                   # MEAN, then RELU
        m = tf.keras.Model(inp, L.Dense(10)(x))
        return _digits_pretrained(m)
    return _cached("gate-cnn", build)


def pt_ops_cnn() -> Path:
    """Element-wise ops PyTorch exports and Keras models use between layers, which the training
    backward goes through: PRELU (a learned slope per channel, a constant in the .tflite), a SUB of
    two activations broadcast over the spatial axes (x - mean(x), as a decomposed norm), MAXIMUM of
    two activations, MINIMUM with a constant (a clip) and a plain SUB of two branches. Pretrained on
    upright digits (tests/train/test_pt_ops_backward.py)."""
    def build() -> bytes:
        import tensorflow as tf
        L = tf.keras.layers
        tf.keras.utils.set_random_seed(15)
        x = inp = tf.keras.Input((12, 12, 3))
        x = L.PReLU(shared_axes=[1, 2])(L.Conv2D(16, 3, strides=2, padding="same")(x))   # 6 x 6 x 16, PRELU
        x = L.Subtract()([x, L.GlobalAveragePooling2D(keepdims=True)(x)])               # broadcast SUB
        a = L.Conv2D(16, 1)(x)
        b = L.DepthwiseConv2D(3, padding="same")(x)
        x = L.Maximum()([a, b])                                                          # MAXIMUM
        x = tf.keras.ops.minimum(x, 1.5)                                                 # MINIMUM, constant
        x = L.Subtract()([L.Conv2D(24, 1, activation="relu")(x), L.Conv2D(24, 1)(x)])  # SUB
        x = L.GlobalAveragePooling2D()(x)
        m = tf.keras.Model(inp, L.Dense(10)(x))
        return _digits_pretrained(m)
    return _cached("pt-ops-cnn", build)


def fpn_cnn(interpolation: str = "nearest") -> Path:
    """A classifier with FPN-style top-down paths: the coarse level upsampled 2x by nearest neighbour
    (RESIZE_NEAREST_NEIGHBOR; Keras 3's UpSampling2D converts to TILE instead) and added to a
    lateral 1x1 conv, and resized 3x3 -> 5x4 (uneven source tables). Pretrained on upright digits
    (tests/train/test_pt_ops_backward.py). interpolation "bilinear": RESIZE_BILINEAR instead."""
    def build() -> bytes:
        import tensorflow as tf
        L = tf.keras.layers
        tf.keras.utils.set_random_seed(16)
        inp = tf.keras.Input((12, 12, 3))
        c1 = L.Conv2D(16, 3, strides=2, padding="same", activation="relu")(inp)       # 6x6
        c2 = L.Conv2D(16, 3, strides=2, padding="same", activation="relu")(c1)        # 3x3
        top = L.Conv2D(16, 1)(c2)
        p1 = L.Add()([L.Resizing(6, 6, interpolation=interpolation)(top), L.Conv2D(16, 1)(c1)])   # 6x6
        q = L.Resizing(5, 4, interpolation=interpolation)(top)                             # 5x4
        x = L.Concatenate()([L.GlobalAveragePooling2D()(p1), L.GlobalAveragePooling2D()(q)])
        m = tf.keras.Model(inp, L.Dense(10)(x))
        return _digits_pretrained(m)
    return _cached("fpn-cnn" if interpolation == "nearest" else f"fpn-cnn-{interpolation}", build)


def keras_upsampling(kind: str = "unet") -> Path:
    """Keras 3's UpSampling2D, which converts to EXPAND_DIMS -> TILE -> RESHAPE per axis with the
    target shape computed at run time (tiny/frontend/upsample.py loads it as one resize):
    - "unet": a 2x2 upsampling concatenated with the encoder's skip and convolved;
    - "strided": (3, 2) on a 4x6 map straight into a conv (the converter records wrong static shapes
      for both outputs: [1, 1, 12, 4] and [1, 1, 12, 5] for [1, 12, 12, *]);
    - "classifier": a classifier pretrained on upright digits whose coarse level is upsampled 2x and
      added to a lateral 1x1 conv (the training backward runs through it);
    - "seq": UpSampling1D(2) between two Conv1D of a [10, 3] sequence (the same chain on rank 3)."""
    def build() -> bytes:
        import tensorflow as tf
        L = tf.keras.layers
        tf.keras.utils.set_random_seed(31)
        if kind == "unet":
            inp = tf.keras.Input((8, 8, 3))
            e1 = L.Conv2D(8, 3, padding="same", activation="relu")(inp)
            e2 = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(e1)
            out = L.Conv2D(4, 3, padding="same")(L.Concatenate()([L.UpSampling2D(2)(e2), e1]))
            return _quantize(tf.keras.Model(inp, out), (8, 8, 3))
        if kind == "seq":
            inp = tf.keras.Input((10, 3))
            up = L.UpSampling1D(2)(L.Conv1D(4, 3, padding="same")(inp))
            return _quantize(tf.keras.Model(inp, L.Conv1D(5, 3, padding="same")(up)), (10, 3))
        if kind == "strided":
            inp = tf.keras.Input((4, 6, 3))
            up = L.UpSampling2D((3, 2))(L.Conv2D(4, 1)(inp))
            return _quantize(tf.keras.Model(inp, L.Conv2D(5, 3, padding="same")(up)), (4, 6, 3))
        inp = tf.keras.Input((12, 12, 3))
        c1 = L.Conv2D(12, 3, strides=2, padding="same", activation="relu")(inp)       # 6x6
        c2 = L.Conv2D(12, 3, strides=2, padding="same", activation="relu")(c1)        # 3x3
        p1 = L.Add()([L.UpSampling2D(2)(L.Conv2D(12, 1)(c2)), L.Conv2D(12, 1)(c1)])
        return _digits_pretrained(tf.keras.Model(inp, L.Dense(10)(L.GlobalAveragePooling2D()(p1))))
    return _cached(f"keras-upsampling-{kind}", build)


def crop_cnn() -> Path:
    """A crop (Keras' Cropping2D: STRIDED_SLICE, no training backward) between two convs and the
    layers above it: the convs below it stay frozen (tests/train/test_plan.py)."""
    def build() -> bytes:
        import tensorflow as tf
        L = tf.keras.layers
        tf.keras.utils.set_random_seed(18)
        x = inp = tf.keras.Input((12, 12, 3))
        x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)          # 6 x 6 x 8
        x = L.Cropping2D(1)(L.Conv2D(8, 1, activation="relu")(x))                     # 4 x 4 x 8
        x = L.GlobalAveragePooling2D()(L.Conv2D(8, 1, activation="relu")(x))
        return _quantize(tf.keras.Model(inp, L.Dense(10)(x)), (12, 12, 3))
    return _cached("crop-cnn", build)


def max_cnn() -> Path:
    """Reductions by maximum (REDUCE_MAX) the training backward goes through: GlobalMaxPooling2D
    (axes 1, 2) of a ReLU conv, whose int8 maxima tie often, a max over the channels (axis 3
    without keep_dims) and one over the columns (axis 2, keep_dims). Pretrained on upright digits
    (tests/train/test_pt_ops_backward.py)."""
    def build() -> bytes:
        import tensorflow as tf
        L = tf.keras.layers
        tf.keras.utils.set_random_seed(17)
        inp = tf.keras.Input((12, 12, 3))
        x = L.Conv2D(16, 3, strides=2, padding="same", activation="relu")(inp)        # 6x6x16
        a = L.GlobalMaxPooling2D()(L.Conv2D(16, 1, activation="relu")(x))             # 16
        b = L.Flatten()(tf.keras.ops.max(L.Conv2D(8, 1)(x), axis=-1))                  # 6x6 -> 36
        c = L.Flatten()(tf.keras.ops.max(L.Conv2D(4, 1)(x), axis=2, keepdims=True))    # 6x1x4 -> 24
        m = tf.keras.Model(inp, L.Dense(10)(L.Concatenate()([a, b, c])))
        return _digits_pretrained(m)
    return _cached("max-cnn", build)


def lut_act_cnn(act: str = "gelu") -> Path:
    """Activations whose TFLite int8 kernel is a 256-entry table, as users write them: "gelu" (Keras'
    activation="gelu"; TFLite Micro has no int8 GELU), "gelu_tanh" (tf.nn.gelu(approximate=True), as
    PyTorch's nn.GELU(approximate="tanh")), after a conv and in a hidden Dense layer; "elu": the same
    model with int8 ELU ops in the GELUs' places (TF's converter leaves an ELU in float32; other
    exporters write it in int8). Pretrained on upright digits (tests/unit/test_lut_acts.py)."""
    if act == "elu":
        return _cached("lut-act-cnn-elu", lambda: _swap_ops(lut_act_cnn("gelu").read_bytes(), "GELU", "ELU"))

    def build() -> bytes:
        import tensorflow as tf
        L = tf.keras.layers
        tf.keras.utils.set_random_seed(23)
        f = {"gelu": "gelu", "gelu_tanh": lambda t: tf.nn.gelu(t, approximate=True)}[act]
        inp = tf.keras.Input((12, 12, 3))
        x = L.Activation(f)(L.Conv2D(12, 3, strides=2, padding="same")(inp))          # 6x6x12
        x = L.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)          # 3x3x16
        x = L.Dense(24, activation=f)(L.GlobalAveragePooling2D()(x))
        return _digits_pretrained(tf.keras.Model(inp, L.Dense(10)(x)))
    return _cached(f"lut-act-cnn-{act}", build)


def elu_cnn() -> Path:
    """Keras' activation="elu" as a user writes it (after two convs and in a hidden Dense layer): TF's
    converter leaves each ELU in float32 between DEQUANTIZE and QUANTIZE, which tiny folds into an
    int8 table (tiny/frontend/islands.py). Pretrained on upright digits (tests/unit/test_islands.py)."""
    def build() -> bytes:
        import tensorflow as tf
        L = tf.keras.layers
        tf.keras.utils.set_random_seed(29)
        inp = tf.keras.Input((12, 12, 3))
        x = L.Conv2D(12, 3, strides=2, padding="same", activation="elu")(inp)          # 6x6x12
        x = L.Conv2D(16, 3, strides=2, padding="same", activation="elu")(x)            # 3x3x16
        x = L.Dense(24, activation="elu")(L.GlobalAveragePooling2D()(x))
        return _digits_pretrained(tf.keras.Model(inp, L.Dense(10)(x)))
    return _cached("elu-cnn", build)


def _swap_ops(buf: bytes, old: str, new: str) -> bytes:
    """The model with every `old` op replaced by a `new` one on the same tensors (no options)."""
    import flatbuffers
    from tiny.frontend import flatbuf
    s = flatbuf.object_schema()
    m = s.ModelT.InitFromObj(s.Model.GetRootAs(buf, 0))
    code = getattr(s.BuiltinOperator, new)
    swapped = set()
    for k, c in enumerate(m.operatorCodes):
        if max(c.builtinCode, c.deprecatedBuiltinCode) == getattr(s.BuiltinOperator, old):
            c.builtinCode, c.deprecatedBuiltinCode, c.version = code, min(code, 127), 1
            swapped.add(k)
    for op in m.subgraphs[0].operators:
        if op.opcodeIndex in swapped:
            op.builtinOptionsType, op.builtinOptions = 0, None
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def fpn_detector() -> Path:
    """A small FPN-style detector: a two-level backbone, the coarse level upsampled with
    RESIZE_NEAREST_NEIGHBOR and added to the fine lateral, and four int8 outputs (boxes and
    classes on the fine level, objectness on the coarse one, a mask upsampled by TRANSPOSE_CONV)."""
    def build() -> bytes:
        import tensorflow as tf
        L = tf.keras.layers
        tf.keras.utils.set_random_seed(22)
        inp = tf.keras.Input((24, 24, 3))
        c1 = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inp)       # 12x12
        c2 = L.Conv2D(16, 3, strides=2, padding="same", activation="relu")(c1)       # 6x6
        up = L.Resizing(12, 12, interpolation="nearest")(L.Conv2D(8, 1)(c2))         # 12x12
        p1 = L.Add()([up, L.Conv2D(8, 1)(c1)])
        boxes = L.Conv2D(4, 3, padding="same", name="boxes")(p1)
        classes = L.Conv2D(3, 3, padding="same", name="classes")(p1)
        obj = L.Conv2D(1, 1, name="objectness")(c2)
        mask = L.Conv2DTranspose(2, 3, strides=2, padding="same", name="mask")(c2)      # 12x12 (TRANSPOSE_CONV)
        m = tf.keras.Model(inp, [boxes, classes, obj, mask])
        return _quantize(m, (24, 24, 3))
    return _cached("fpn-detector", build)


def shape_ops_zoo() -> Path:
    """Two float32 inputs (each through its own QUANTIZE), and the data-movement and
    reduction ops in several variants as eight outputs: TRANSPOSE (4-D and 3-D), SUM, REDUCE_MAX,
    MEAN over one axis, RESIZE_BILINEAR (half-pixel), RESIZE_NEAREST_NEIGHBOR (align_corners),
    BATCH_MATMUL of two activations, SLICE and STRIDED_SLICE (negative step)."""
    def build() -> bytes:
        import tensorflow as tf
        from tests.reference._tf_func import func_tflite
        rng = np.random.default_rng(23)

        def w(*s: int, lim: float = 0.4):
            return tf.constant(rng.uniform(-lim, lim, s).astype(np.float32))
        w1, w2 = w(3, 3, 3, 6), w(1, 1, 2, 6)

        def fn(a, b):
            y = tf.nn.relu(tf.nn.conv2d(a, w1, 1, "SAME")) + tf.nn.conv2d(b, w2, 1, "SAME")   # 8x10x6
            t = tf.transpose(y, [0, 3, 1, 2])
            s = tf.reduce_sum(t, axis=1, keepdims=True)
            up = tf.compat.v1.image.resize_bilinear(y, (13, 7), half_pixel_centers=True)
            nn = tf.compat.v1.image.resize_nearest_neighbor(y, (5, 15), align_corners=True)
            r3 = tf.transpose(tf.reshape(y, (8, 10, 6)), [1, 2, 0])
            f = tf.reshape(y, (1, 80, 6))
            att = tf.matmul(f, f, transpose_a=True)                      # (1, 6, 6) BATCH_MATMUL
            return (tf.reduce_mean(tf.reduce_max(t, axis=3), axis=2), s, up, nn, r3, att,
                    tf.slice(y, [0, 2, 1, 0], [1, 4, 7, 4]), y[:, ::-2, 1::3, :])
        return func_tflite(fn, [(1, 8, 10, 3), (1, 8, 10, 2)], seed=23, float_io=True, ranges=[1.0, 2.0])
    return _cached("shape-ops-zoo", build)


def elementwise_zoo() -> Path:
    """Two int8 inputs and the element-wise ops beyond ADD / MUL as eight outputs: SUB (broadcast), TANH,
    MAXIMUM, MINIMUM, RELU, RELU6, LEAKY_RELU and PRELU (a converted MAXIMUM against a per-channel
    constant with its opcode rewritten to PRELU, which the converter never emits for int8)."""
    def build() -> bytes:
        import tensorflow as tf
        from tests.reference._tf_func import func_tflite
        rng = np.random.default_rng(24)
        w1 = tf.constant(rng.uniform(-0.5, 0.5, (3, 3, 3, 4)).astype(np.float32))
        alpha = tf.constant(rng.uniform(-0.6, 0.9, (1, 1, 1, 4)).astype(np.float32))

        def fn(a, b):
            y = tf.nn.conv2d(a, w1, 1, "SAME")
            return (y - b, tf.maximum(y, b), tf.minimum(b, y), tf.nn.relu(y), tf.nn.relu6(b),
                    tf.nn.leaky_relu(y, 0.3), tf.maximum(y + 0.1, alpha), tf.tanh(y))
        buf = func_tflite(fn, [(1, 6, 7, 3), (1, 1, 7, 4)], seed=24, ranges=[2.0, 1.0])
        return _prelu_last(buf)
    return _cached("elementwise-zoo", build)


def split_zoo() -> Path:
    """One int8 input and the multi-output ops: SPLIT (negative axis), SPLIT_V (a -1 size), UNPACK
    (3-D and negative axis) and PACK of activations; every piece is consumed by a later op (ADD,
    RELU, CONCATENATION, PACK) or is a model output (six outputs). No dead output: the converter at
    times leaves an op with unused outputs in float."""
    def build() -> bytes:
        import tensorflow as tf
        from tests.reference._tf_func import func_tflite
        rng = np.random.default_rng(25)
        w1 = tf.constant(rng.uniform(-0.5, 0.5, (3, 3, 3, 6)).astype(np.float32))

        def fn(a):
            y = tf.nn.conv2d(a, w1, 1, "SAME")                             # 1x6x7x6
            s0, s1, s2 = tf.split(y, 3, axis=-1)
            v0, v1 = tf.split(y, [2, -1], axis=1)
            u = tf.unstack(tf.reshape(y, (6, 7, 6))[:, :3, :], axis=1)
            p = tf.unstack(tf.reshape(y, (6, 21, 2)), axis=-1)
            return (s0 + s2, tf.nn.relu(s1), tf.concat([v1, v0], axis=1), tf.stack([u[0], u[2]], axis=-1), u[1],
                    tf.stack([p[1], p[0]], axis=0))
        return func_tflite(fn, [(1, 6, 7, 3)], seed=25, ranges=[2.0])
    return _cached("split-zoo", build)


def svdf_kws() -> Path:
    """A streaming keyword-spotting head, one 12-feature frame per invocation: SVDF (8 filters, rank 2,
    memory 5) -> SVDF (6 filters, rank 1, memory 3) -> FULLY_CONNECTED, int8 with int16 time weights
    and states (variable tensors kept between invocations); outputs the second SVDF and the logits.

    The TFLite converter emits SVDF from no Keras / TF pattern (it was a TOCO-era fused op), so the
    flatbuffer is written with the schema's object API, quantization picked so no stage saturates."""
    return _cached("svdf-kws", lambda: build_svdf_model(seed=26))


def build_svdf_model(seed: int = 26, input_zp: int = -3) -> bytes:
    import flatbuffers

    from tests.reference._tf_func import object_schema
    s = object_schema()
    rng = np.random.default_rng(seed)
    m = s.ModelT()
    m.version, m.description = 3, "tiny svdf test model"
    m.buffers = [s.BufferT()]
    sg = s.SubGraphT()
    sg.tensors, sg.operators = [], []

    def tensor(name: str, shape: tuple, ttype: int, scale: float, zp: int = 0, data: np.ndarray | None = None,
               variable: bool = False) -> int:
        t = s.TensorT()
        t.name, t.shape, t.type, t.isVariable = name.encode(), list(shape), ttype, variable
        t.quantization = s.QuantizationParametersT()
        t.quantization.scale, t.quantization.zeroPoint = [float(scale)], [int(zp)]
        b = s.BufferT()
        if data is not None:
            b.data = list(np.ascontiguousarray(data).view(np.uint8).reshape(-1))
        m.buffers.append(b)
        t.buffer = len(m.buffers) - 1
        sg.tensors.append(t)
        return len(sg.tensors) - 1

    T = s.TensorType
    codes = {}

    def code(op: int) -> int:
        if op not in codes:
            oc = s.OperatorCodeT()
            oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = op, min(op, 127), 1
            m.operatorCodes = (m.operatorCodes or []) + [oc]
            codes[op] = len(m.operatorCodes) - 1
        return codes[op]

    def svdf(x: int, x_scale: float, n_in: int, filters: int, rank: int, memory: int, st_scale: float,
             out_scale: float, out_zp: int, tag: str) -> int:
        wt_scale = 1.0 / (1 << 15)
        wf = tensor(f"{tag}/weights_feature", (filters, n_in), T.INT8, 0.01,
                    data=rng.integers(-127, 128, (filters, n_in)).astype(np.int8))
        wt = tensor(f"{tag}/weights_time", (filters, memory), T.INT16, wt_scale,
                    data=rng.integers(-4096, 4097, (filters, memory)).astype(np.int16))
        units = filters // rank
        bias = tensor(f"{tag}/bias", (units,), T.INT32, st_scale * wt_scale,
                      data=rng.integers(-20000, 20001, units).astype(np.int32))
        st = tensor(f"{tag}/state", (1, filters * memory), T.INT16, st_scale, variable=True)
        y = tensor(f"{tag}/out", (1, units), T.INT8, out_scale, out_zp)
        op = s.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = code(s.BuiltinOperator.SVDF), [x, wf, wt, bias, st], [y]
        op.builtinOptionsType = s.BuiltinOptions.SVDFOptions
        op.builtinOptions = s.SVDFOptionsT()
        op.builtinOptions.rank = rank
        sg.operators.append(op)
        return y

    x = tensor("frame", (1, 12), T.INT8, 0.05, input_zp)
    h1 = svdf(x, 0.05, 12, 8, 2, 5, 0.01, 0.08, 2, "svdf1")
    h2 = svdf(h1, 0.08, 4, 6, 1, 3, 0.005, 0.015, -1, "svdf2")
    w = tensor("fc/weights", (3, 6), T.INT8, 0.01, data=rng.integers(-127, 128, (3, 6)).astype(np.int8))
    b = tensor("fc/bias", (3,), T.INT32, 0.015 * 0.01, data=rng.integers(-500, 501, 3).astype(np.int32))
    logits = tensor("logits", (1, 3), T.INT8, 0.026, 5)
    fc = s.OperatorT()
    fc.opcodeIndex, fc.inputs, fc.outputs = code(s.BuiltinOperator.FULLY_CONNECTED), [h2, w, b], [logits]
    fc.builtinOptionsType, fc.builtinOptions = s.BuiltinOptions.FullyConnectedOptions, s.FullyConnectedOptionsT()
    sg.operators.append(fc)
    sg.inputs, sg.outputs = [x], [h2, logits]
    m.subgraphs = [sg]
    fb = flatbuffers.Builder(4096)
    fb.Finish(m.Pack(fb), file_identifier=b"TFL3")
    return bytes(fb.Output())


def _prelu_last(buf: bytes) -> bytes:
    """Rewrite only the MAXIMUM whose second operand is a constant into PRELU."""
    import flatbuffers

    from tests.reference._tf_func import object_schema
    s = object_schema()
    m = s.ModelT.InitFromObj(s.Model.GetRootAs(buf, 0))
    sg = m.subgraphs[0]
    prelu = s.OperatorCodeT()
    prelu.builtinCode = prelu.deprecatedBuiltinCode = s.BuiltinOperator.PRELU
    prelu.version = 1
    m.operatorCodes.append(prelu)
    for op in sg.operators:
        oc = m.operatorCodes[op.opcodeIndex]
        const = len(op.inputs) == 2 and m.buffers[sg.tensors[op.inputs[1]].buffer].data is not None
        if max(int(oc.builtinCode), int(oc.deprecatedBuiltinCode)) == s.BuiltinOperator.MAXIMUM and const:
            op.opcodeIndex, op.builtinOptionsType, op.builtinOptions = len(m.operatorCodes) - 1, 0, None
    b = flatbuffers.Builder(len(buf) + 1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def activation_stack() -> Path:
    """Stand-alone element-wise activations between convolutions (as converters emit them when an
    activation does not fuse): LEAKY_RELU, TANH, MAXIMUM against a constant, so a patch stage
    can run through them."""
    def build() -> bytes:
        import tensorflow as tf
        from tests.reference._tf_func import func_tflite
        rng = np.random.default_rng(25)
        w1 = tf.constant(rng.uniform(-0.5, 0.5, (3, 3, 3, 8)).astype(np.float32))
        w2 = tf.constant(rng.uniform(-0.3, 0.3, (3, 3, 8, 8)).astype(np.float32))
        w3 = tf.constant(rng.uniform(-0.3, 0.3, (8, 4)).astype(np.float32))

        def fn(x):
            y = tf.nn.leaky_relu(tf.nn.conv2d(x, w1, 2, "SAME"), 0.2)
            y = tf.tanh(tf.nn.conv2d(y, w2, 1, "SAME"))
            y = tf.maximum(tf.nn.conv2d(y, w2, 1, "SAME"), -0.25)
            return tf.matmul(tf.reduce_mean(y, axis=[1, 2]), w3)
        return func_tflite(fn, [(1, 24, 24, 3)], seed=25)
    return _cached("activation-stack", build)


def conv_shapes_cnn() -> Path:
    """Convs of many shapes for the general im2col GEMM kernel: 3x3 s1/s2 SAME, 5x5 s2 VALID, 1x7 / 7x1,
    a 3x3 over 40 channels (planned scratch), odd channel counts."""
    def build() -> bytes:
        import tensorflow as tf
        L = tf.keras.layers
        tf.keras.utils.set_random_seed(17)
        m = tf.keras.Sequential([
            tf.keras.Input((24, 20, 3)),
            L.Conv2D(16, 3, strides=2, padding="same", activation="relu"),
            L.Conv2D(40, 3, padding="same", activation="relu6"),
            L.Conv2D(33, 3, padding="same"),
            L.Conv2D(20, 5, strides=2, padding="valid", activation="relu"),
            L.Conv2D(16, (1, 7), padding="same"),
            L.Conv2D(12, (7, 1), padding="same", activation="relu"),
            L.GlobalAveragePooling2D(),
            L.Dense(4),
        ])
        return _quantize(m, (24, 20, 3))
    return _cached("conv-shapes-cnn", build)


def user_shapes(n: int, domain: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n 32x32 RGB uint8 images of four shapes (disc, square, triangle, cross; label 0-3) as a user's
    camera gives them. domain "a": bright shapes on a dark background (what the model is trained on);
    "b": dark reddish shapes on a light, noisier background (the contrast inverted: the shift the
    board adapts to, where the trained model is confidently wrong)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:32, 0:32]
    xs, ys = np.empty((n, 32, 32, 3), np.uint8), rng.integers(0, 4, n)
    for i, k in enumerate(ys):
        cx, cy = rng.uniform(10, 22, 2)
        r = rng.uniform(5, 9)
        dx, dy = xx - cx, yy - cy
        m = [dx * dx + dy * dy < r * r, (abs(dx) < 0.8 * r) & (abs(dy) < 0.8 * r),
             (dy > -r) & (dy < r) & (abs(dx) < (dy + r) / 2),
             ((abs(dx) < r / 3) | (abs(dy) < r / 3)) & (abs(dx) < r) & (abs(dy) < r)][k]
        if domain == "a":
            fg, bg, noise = rng.uniform(180, 255, 3), rng.uniform(0, 60, 3), 8.0
        else:
            fg, bg, noise = rng.uniform(0, 255, 3) * np.array([1.0, 0.3, 0.3]), rng.uniform(150, 230, 3), 25.0
        img = np.empty((32, 32, 3))
        img[:] = bg
        img[m] = fg
        xs[i] = np.clip(img + rng.normal(0, noise, img.shape), 0, 255).astype(np.uint8)
    return xs, ys


def user_shapes_cnn() -> Path:
    """A user's Keras classifier as tutorials write it: Rescaling(1/255) on raw 0..255 pixels (folded
    by the converter into the first conv, which then sees 0..255), conv + batch norm + ReLU + max
    pool twice, a conv, global average pooling, Dropout, Dense(4, softmax); trained to ~100 % on
    user_shapes domain "a", converted with TF's defaults (float32 input and output around the int8
    core: QUANTIZE first, SOFTMAX -> DEQUANTIZE last)."""
    def build() -> bytes:
        import tensorflow as tf
        L = tf.keras.layers
        tf.keras.utils.set_random_seed(0)
        x, y = user_shapes(3000, "a", 0)
        m = tf.keras.Sequential([
            tf.keras.Input((32, 32, 3)), L.Rescaling(1 / 255.0),
            L.Conv2D(16, 3, padding="same", use_bias=False), L.BatchNormalization(), L.ReLU(), L.MaxPooling2D(),
            L.Conv2D(32, 3, padding="same", use_bias=False), L.BatchNormalization(), L.ReLU(), L.MaxPooling2D(),
            L.Conv2D(64, 3, padding="same"), L.ReLU(), L.GlobalAveragePooling2D(), L.Dropout(0.3),
            L.Dense(4, activation="softmax")])
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        m.fit(x.astype(np.float32), y, epochs=15, batch_size=64, verbose=0)
        from tiny.frontend.keras import int8_converter
        conv = int8_converter(tf, m, lambda: ([x[i:i + 1].astype(np.float32)] for i in range(200)))
        conv.inference_input_type = conv.inference_output_type = tf.float32
        return conv.convert()
    return _cached("user-shapes-cnn", build)


def user_shapes_task(path: Path, n_train: int = 1200, n_test: int = 500) -> Path:
    """The adaptation data of user_shapes_cnn as a user's .npz: domain "b", uint8 images."""
    xtr, ytr = user_shapes(n_train, "b", 1)
    xte, yte = user_shapes(n_test, "b", 2)
    np.savez(path, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    return path


IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def user_normalized_cnn() -> Path:
    """A PyTorch user's model as it arrives: preprocessing outside the model, torchvision's
    Normalize(ImageNet mean, std) on [0, 1] images, so the converted input range is about [-2.1, 2.6]
    and no uint8 mapping onto it is right per channel. Conv + batch norm + ReLU + max pool twice,
    global average pooling, Dense(4); trained on user_shapes domain "a", float32 I/O."""
    def build() -> bytes:
        import tensorflow as tf
        L = tf.keras.layers
        tf.keras.utils.set_random_seed(0)
        x, y = user_shapes(3000, "a", 0)
        xn = ((x / 255.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)).astype(np.float32)
        m = tf.keras.Sequential([
            tf.keras.Input((32, 32, 3)),
            L.Conv2D(16, 3, padding="same", use_bias=False), L.BatchNormalization(), L.ReLU(), L.MaxPooling2D(),
            L.Conv2D(32, 3, padding="same", use_bias=False), L.BatchNormalization(), L.ReLU(), L.MaxPooling2D(),
            L.GlobalAveragePooling2D(), L.Dense(4)])
        m.compile(optimizer="adam", loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        m.fit(xn, y, epochs=8, batch_size=64, verbose=0)
        from tiny.frontend.keras import int8_converter
        # calibrated on every corner of the normalized range, as a full calibration set would reach it
        lo = ((0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)).astype(np.float32)
        hi = ((1 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)).astype(np.float32)
        rep = [xn[i:i + 1] for i in range(200)] + [np.broadcast_to(v, (1, 32, 32, 3)).copy() for v in (lo, hi)]
        conv = int8_converter(tf, m, lambda: ([r] for r in rep))
        conv.inference_input_type = conv.inference_output_type = tf.float32
        return conv.convert()
    return _cached("user-normalized-cnn", build)


def user_binary_cnn() -> Path:
    """A user's binary classifier as Keras tutorials write it: Rescaling(1/255) on raw pixels, three
    conv + ReLU (two max pools), global average pooling, Dense(1, activation="sigmoid"), binary
    cross-entropy; trained on user_shapes domain "a" to answer "is it a disc?" (int8 I/O)."""
    def build() -> bytes:
        import tensorflow as tf
        L = tf.keras.layers
        tf.keras.utils.set_random_seed(0)
        x, y = user_shapes(2400, "a", 0)
        m = tf.keras.Sequential([
            tf.keras.Input((32, 32, 3)), L.Rescaling(1 / 255.0),
            L.Conv2D(16, 3, padding="same", activation="relu"), L.MaxPooling2D(),
            L.Conv2D(32, 3, padding="same", activation="relu"), L.MaxPooling2D(),
            L.Conv2D(32, 3, padding="same", activation="relu"), L.GlobalAveragePooling2D(),
            L.Dense(1, activation="sigmoid")])
        m.compile(optimizer="adam", loss="binary_crossentropy")
        m.fit(x.astype(np.float32), (y == 0).astype(np.float32), epochs=10, batch_size=64, verbose=0)
        from tiny.frontend.keras import int8_converter
        return int8_converter(tf, m, lambda: ([x[i:i + 1].astype(np.float32)] for i in range(200))).convert()
    return _cached("user-binary-cnn", build)


def user_binary_task(path: Path, n: int = 900) -> Path:
    """user_binary_cnn's adaptation data as a user's .npz (x, y: no test split): "is it a disc?" on
    half the images from the old camera (domain "a"), half from a new one (domain "b")."""
    xa, ya = user_shapes(n // 2, "a", 5)
    xb, yb = user_shapes(n - n // 2, "b", 5)
    x, y = np.concatenate([xa, xb]), np.concatenate([ya, yb])
    np.savez(path, x=x, y=(y == 0).astype(np.int64))
    return path
