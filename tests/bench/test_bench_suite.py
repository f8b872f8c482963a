"""The benchmark suite (tiny/suite.py): one model per family, optimized vs portable kernels on
qemu-m4-256k, against CMSIS-NN's instruction counts on the same models (issue 17). Slow (every
model twice on QEMU): run with `pytest -m bench tests/bench/test_bench_suite.py -s`, or
`tiny bench --suite --board qemu-m4-256k --json`."""
from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.bench, pytest.mark.qemu, pytest.mark.slow]

# (model, max optimized/CMSIS-NN instruction ratio): the targets where CMSIS-NN was measured.
CMSIS_TARGETS = {"resnet8": 0.7, "dscnn": 0.7, "mbv2-0.5": 0.8}


@pytest.mark.parametrize("name", ["resnet8", "dscnn", "mbv1-0.25", "mbv2-0.5", "mbv3-small", "mcunet", "fc-ae", "unet"])
def test_suite_model(name: str) -> None:
    from tiny.suite import run_suite
    data, table = run_suite("qemu-m4-256k", [name])
    print(table)
    row = data["models"][0]
    assert "error" not in row, row
    print(json.dumps({k: row[k] for k in ("model", "instructions", "ref_instructions", "ratio_ref_over_opt",
                                          "vs_cmsis_nn", "fallbacks")}))
    assert row["ratio_ref_over_opt"] >= 2.0          # the optimized kernels are much faster than the portable
    # a portable kernel left on a DSP board is named with the reason (none without one)
    for f in row["fallbacks"]:
        reason = f.split(": ", 1)[1] if ": " in f else ""
        assert reason and reason != "no variant selected", row["fallbacks"]
    if name in CMSIS_TARGETS:
        assert row["vs_cmsis_nn"] <= CMSIS_TARGETS[name], row
    for kind, v in row["kinds"].items():            # no layer type slower with the optimized kernels
        ref = row["kinds_ref"][kind]
        assert v["instructions"] <= ref["instructions"], (kind, v, ref)


def test_unet_bit_exact_on_qemu() -> None:
    """The U-Net segmenter (CONCATENATION, RESIZE_BILINEAR, RESIZE_NEAREST_NEIGHBOR) with the optimized
    kernels is bit-exact with TFLM on qemu-m4-256k."""
    from tiny import api
    from tiny.suite import model_path
    r = api.validate(model_path("unet"), board="qemu-m4-256k", samples=2)
    assert r["bit_exact"], r


def test_depth_multiplier_model_on_qemu(tmp_path) -> None:
    """Depth multiplier 2 depthwise (3x3 s1, 5x5 s2) runs tiny_depthwise_conv2d_s8_mult, bit-exact with TFLM."""
    import numpy as np
    from tiny import api
    from tiny.bench import bench
    from tiny.frontend.keras import _tf, quantize
    tf = _tf()
    L = tf.keras.layers
    x = inp = tf.keras.Input((20, 20, 8))
    x = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(x)
    x = L.DepthwiseConv2D(5, strides=2, padding="same", depth_multiplier=2)(x)
    data = np.random.default_rng(0).uniform(-1, 1, (8, 20, 20, 8)).astype(np.float32)
    path = tmp_path / "dm.tflite"
    path.write_bytes(quantize(tf.keras.Model(inp, x), data))
    assert api.validate(path, board="qemu-m4-256k", samples=2)["bit_exact"]
    opt, _ = bench(str(path), "qemu-m4-256k", "layer", None, "opt")
    assert [L["kernel"] for L in opt["layers"]] == ["tiny_depthwise_conv2d_s8_mult"] * 2
    assert not any(L.get("fallback") for L in opt["layers"])
