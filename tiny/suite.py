"""`tiny bench --suite`: one locally built int8 model per architecture family, benchmarked with the
optimized and the portable kernels on an emulated board (QEMU instruction counts).

The models are built with Keras (random weights, random batch-norm statistics so folded biases and
per-channel scales are non-trivial), quantized post-training and cached by name and VERSION in
TINY_CACHE/suite (default ~/.cache/tiny/suite); deleting the cache is always safe. Instruction
counts do not depend on weight values except through requantization branches, so untrained
weights measure the same kernels a trained model runs.
"""
from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

import numpy as np

VERSION = "v1"

# CMSIS-NN on the same models / method (issue 17: QEMU TCG instruction counts, Cortex-M4F, -O2).
CMSIS_TOTAL = {"resnet8": 29.8e6, "dscnn": 7.64e6, "mbv1-0.25": 24.1e6, "mbv2-0.5": 63.6e6}


def _cache() -> Path:
    return Path(os.environ.get("TINY_CACHE", Path.home() / ".cache" / "tiny")) / "suite"


def _quantize(model: Any, seed: int) -> bytes:
    from tiny.frontend.keras import quantize
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        kind, ws = type(layer).__name__, layer.get_weights()
        if kind == "BatchNormalization" and len(ws) == 4:
            c = ws[0].shape
            layer.set_weights([rng.uniform(0.5, 1.5, c), rng.uniform(-0.5, 0.5, c),
                               rng.uniform(-0.2, 0.2, c), rng.uniform(0.5, 1.5, c)])
        elif kind in ("Conv2D", "DepthwiseConv2D", "Dense") and len(ws) == 2:
            layer.set_weights([ws[0], rng.uniform(-0.3, 0.3, ws[1].shape)])
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    data = rng.uniform(-1, 1, (16, *shape)).astype(np.float32)
    return quantize(model, data)


def _conv_bn(L: Any, x: Any, c: int, k: Any, s: int = 1, act: str | None = "relu") -> Any:
    x = L.Conv2D(c, k, strides=s, padding="same", use_bias=False)(x)
    x = L.BatchNormalization()(x)
    return L.Activation(act)(x) if act else x


def resnet8(tf: Any) -> Any:
    """MLPerf Tiny image classification (ResNet-8): 32x32x3, 3x3 convs of 16/32/64 channels."""
    L = tf.keras.layers
    x = inp = tf.keras.Input((32, 32, 3))
    x = _conv_bn(L, x, 16, 3)
    for c, s in ((16, 1), (32, 2), (64, 2)):
        y = _conv_bn(L, x, c, 3, s)
        y = _conv_bn(L, y, c, 3, 1, None)
        if s != 1 or x.shape[-1] != c:
            x = L.Conv2D(c, 1, strides=s, padding="same")(x)
        x = L.Activation("relu")(L.Add()([x, y]))
    x = L.AveragePooling2D(8)(x)
    x = L.Dense(10)(L.Flatten()(x))
    return tf.keras.Model(inp, x)


def dscnn(tf: Any) -> Any:
    """MLPerf Tiny keyword spotting (DS-CNN): 49x10x1, first conv 10x4 stride 2, 4 dw-separable blocks."""
    L = tf.keras.layers
    x = inp = tf.keras.Input((49, 10, 1))
    x = _conv_bn(L, x, 64, (10, 4), 2)
    for _ in range(4):
        x = L.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
        x = L.Activation("relu")(L.BatchNormalization()(x))
        x = _conv_bn(L, x, 64, 1)
    x = L.AveragePooling2D((25, 5))(x)
    x = L.Dense(12)(L.Flatten()(x))
    return tf.keras.Model(inp, x)


def mbv1(tf: Any) -> Any:
    """MobileNetV1-0.25 96x96 (visual wake words)."""
    return tf.keras.applications.MobileNet(input_shape=(96, 96, 3), alpha=0.25, weights=None, classes=2,
                                           classifier_activation=None)


def mbv2(tf: Any) -> Any:
    """MobileNetV2-0.5 112x80."""
    return tf.keras.applications.MobileNetV2(input_shape=(112, 80, 3), alpha=0.5, weights=None, classes=10,
                                             classifier_activation=None)


def mbv3(tf: Any) -> Any:
    """MobileNetV3-Small-0.75 96x96 (squeeze-excite, hard-swish), average-pooled features + a 10-way
    dense head (the 1024-wide head of the Keras model alone needs more flash than the 1 MB board)."""
    base = tf.keras.applications.MobileNetV3Small(input_shape=(96, 96, 3), alpha=0.75, weights=None,
                                                  include_top=False, pooling="avg", include_preprocessing=False)
    return tf.keras.Model(base.inputs, tf.keras.layers.Dense(10)(base.outputs[0]))


def mcunet(tf: Any) -> Any:
    """MCUNet-style: inverted residual blocks with 3x3/5x5/7x7 depthwise and expansion ratios 3/4/6."""
    L = tf.keras.layers
    x = inp = tf.keras.Input((80, 80, 3))
    x = _conv_bn(L, x, 16, 3, 2, "relu6")
    x = L.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    x = _conv_bn(L, L.ReLU(6.0)(L.BatchNormalization()(x)), 8, 1, 1, None)
    for c, k, e, s in ((16, 7, 3, 2), (16, 3, 4, 1), (24, 5, 6, 2), (24, 7, 3, 1), (40, 5, 4, 2),
                       (40, 3, 6, 1), (48, 7, 3, 1), (96, 5, 4, 2), (96, 3, 6, 1)):
        y = _conv_bn(L, x, x.shape[-1] * e, 1, 1, "relu6")
        y = L.DepthwiseConv2D(k, strides=s, padding="same", use_bias=False)(y)
        y = L.ReLU(6.0)(L.BatchNormalization()(y))
        y = _conv_bn(L, y, c, 1, 1, None)
        x = L.Add()([x, y]) if s == 1 and x.shape[-1] == c else y
    x = L.GlobalAveragePooling2D()(x)
    return tf.keras.Model(inp, L.Dense(2)(x))


def fc_autoencoder(tf: Any) -> Any:
    """MLPerf Tiny anomaly detection: 640 -> 128 x4 -> 8 -> 128 x4 -> 640 dense layers."""
    L = tf.keras.layers
    x = inp = tf.keras.Input((640,))
    for c in (128, 128, 128, 128, 8, 128, 128, 128, 128):
        x = L.ReLU()(L.BatchNormalization()(L.Dense(c)(x)))
    return tf.keras.Model(inp, L.Dense(640)(x))


def unet(tf: Any) -> Any:
    """U-Net style segmenter, 48x48x3 -> 48x48x3 classes: two 2x max-pool levels, the decoder
    upsamples (bilinear at 12->24, nearest at 24->48: RESIZE_BILINEAR / RESIZE_NEAREST_NEIGHBOR; Keras
    `Resizing`, since `UpSampling2D` converts to TILE) and concatenates the encoder's skip tensors
    (CONCATENATION)."""
    L = tf.keras.layers
    x = inp = tf.keras.Input((48, 48, 3))
    s1 = _conv_bn(L, _conv_bn(L, x, 8, 3), 8, 3)
    s2 = _conv_bn(L, _conv_bn(L, L.MaxPooling2D(2)(s1), 16, 3), 16, 3)
    x = _conv_bn(L, L.MaxPooling2D(2)(s2), 32, 3)
    x = L.Concatenate()([L.Resizing(24, 24, interpolation="bilinear")(x), s2])
    x = _conv_bn(L, x, 16, 3)
    x = L.Concatenate()([L.Resizing(48, 48, interpolation="nearest")(x), s1])
    x = _conv_bn(L, x, 8, 3)
    return tf.keras.Model(inp, L.Conv2D(3, 1)(x))


MODELS: dict[str, Callable[[Any], Any]] = {
    "resnet8": resnet8, "dscnn": dscnn, "mbv1-0.25": mbv1, "mbv2-0.5": mbv2, "mbv3-small": mbv3,
    "mcunet": mcunet, "fc-ae": fc_autoencoder, "unet": unet,
}


def model_path(name: str) -> Path:
    """The cached .tflite of suite model `name`, built on first use."""
    from tiny.ir import TinyError
    if name not in MODELS:
        raise TinyError(f"unknown suite model '{name}': one of {', '.join(MODELS)}")
    p = _cache() / f"{name}-{VERSION}.tflite"
    if not p.exists():
        from tiny.frontend.keras import _tf
        tf = _tf()
        tf.keras.utils.set_random_seed(17)
        data = _quantize(MODELS[name](tf), seed=sorted(MODELS).index(name))
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(p)
    return p


def layer_kind(op_type: str, p: Any) -> str:
    """The layer type a suite row reports (conv kxk sN, pointwise, dw kxk sN, fc, add, other)."""
    from tiny.ops import kinds
    if op_type == kinds.CONV_2D:
        _, kh, kw, ic = p.filter_shape
        if (kh, kw) == (1, 1) and p.stride_h == 1:
            return "pointwise"
        return f"conv {kh}x{kw} s{p.stride_h}" + (" first" if ic <= 3 else "")
    if op_type == kinds.DEPTHWISE_CONV_2D:
        _, kh, kw, _ = p.filter_shape
        return f"dw {kh}x{kw} s{p.stride_h}"
    return {kinds.FULLY_CONNECTED: "fc", kinds.ADD: "add"}.get(op_type, "other")


def by_kind(path: Path, data: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Instructions, est_cycles and MACs per layer type of one bench result."""
    from tiny.pipeline import load_model
    from tiny.interpreter import prepare_all
    g = load_model(str(path))
    acc: dict[str, dict[str, float]] = defaultdict(lambda: {"instructions": 0, "est_cycles": 0, "macs": 0})
    for L, op, p in zip(data["layers"], g.ops, prepare_all(g)):
        a = acc[layer_kind(op.type, p)]
        a["instructions"] += L["instructions"]
        a["est_cycles"] += L["est_cycles"]
        a["macs"] += L["macs"]
    for a in acc.values():
        a["instructions_per_mac"] = round(a["instructions"] / a["macs"], 3) if a["macs"] else None
    return dict(acc)


def run_suite(board: str = "qemu-m4-256k", models: list[str] | None = None,
              portable: bool = True) -> tuple[dict[str, Any], str]:
    """Bench every suite model with the optimized (and the portable) kernels; JSON data + a table."""
    from tiny.bench import bench
    from tiny.ir import TinyError
    rows: list[dict[str, Any]] = []
    lines = [f"tiny bench --suite on {board} (instructions counted on QEMU; ref = portable kernels)",
             f"{'model':<11} {'MACs':>11} {'instructions':>12} {'est_cycles':>11} {'instr/MAC':>9} "
             f"{'ref/opt':>7} {'vs CMSIS-NN':>11}  portable fallbacks"]
    kinds_lines = []
    for name in models or list(MODELS):
        path = model_path(name)
        try:
            opt, _ = bench(str(path), board, "layer", None, "opt")
        except TinyError as e:          # e.g. a model over the board's flash: say so, bench the rest
            rows.append({"model": name, "error": str(e).splitlines()[0]})
            lines.append(f"{name:<11} not run: {rows[-1]['error']}")
            continue
        ref = bench(str(path), board, "layer", None, "ref")[0] if portable else None
        kinds = by_kind(path, opt)
        kinds_ref = by_kind(path, ref) if ref else {}
        fallbacks = [f"#{L['index']} {L['op']}: {L['fallback']}" for L in opt["layers"] if L.get("fallback")]
        row = {"model": name, "macs": opt["macs"], "instructions": opt["instructions"],
               "est_cycles": opt["est_cycles"], "instructions_per_mac": opt["instructions_per_mac"],
               "ref_instructions": ref["instructions"] if ref else None,
               "ratio_ref_over_opt": round(ref["instructions"] / opt["instructions"], 2) if ref else None,
               "cmsis_nn": CMSIS_TOTAL.get(name),
               "vs_cmsis_nn": round(opt["instructions"] / CMSIS_TOTAL[name], 3) if name in CMSIS_TOTAL else None,
               "kinds": kinds, "kinds_ref": kinds_ref, "fallbacks": fallbacks,
               "layers": [{k: L.get(k) for k in ("index", "op", "macs", "instructions", "kernel", "fallback")}
                          for L in opt["layers"]]}
        rows.append(row)
        lines.append(f"{name:<11} {row['macs']:>11,} {row['instructions']:>12,} {row['est_cycles']:>11,} "
                     f"{row['instructions_per_mac']:>9} {row['ratio_ref_over_opt'] or '-':>7} "
                     f"{row['vs_cmsis_nn'] or '-':>11}  {'; '.join(fallbacks) or 'none'}")
        for k, v in sorted(kinds.items()):
            r = kinds_ref.get(k)
            ratio = f"{r['instructions'] / v['instructions']:.2f}" if r and v["instructions"] else "-"
            kinds_lines.append(f"{name:<11} {k:<18} {int(v['macs']):>11,} {int(v['instructions']):>12,} "
                               f"{v['instructions_per_mac'] or '-':>9} {ratio:>7}")
    lines += ["", f"{'model':<11} {'layer type':<18} {'MACs':>11} {'instructions':>12} {'instr/MAC':>9} "
                  f"{'ref/opt':>7}", *kinds_lines]
    return {"board": board, "models": rows}, "\n".join(lines)


__all__ = ["CMSIS_TOTAL", "MODELS", "by_kind", "layer_kind", "model_path", "run_suite"]
