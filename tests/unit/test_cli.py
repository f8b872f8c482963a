"""The command line: names and JSON keys of the contract, and clear errors on bad input."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests import models


def tiny(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tiny.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def _no_traceback(r: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith("tiny: error: "), r.stderr


def test_boards_json_lists_every_target() -> None:
    r = tiny("boards", "--json")
    assert r.returncode == 0, r.stderr
    rows = {b["name"]: b for b in json.loads(r.stdout)}
    for name in ["host", "qemu-m4-256k", "qemu-f746", "qemu-f405", "qemu-m33", "qemu-m3", "nucleo_f746zg",
                 "nucleo_h743zi", "disco_f746ng", "nucleo_f411re", "nano33ble"]:
        assert name in rows
    assert rows["qemu-m4-256k"]["sram_bytes"] == 256 * 1024 and rows["qemu-m4-256k"]["emulated"] is True
    assert rows["nucleo_f746zg"]["emulated"] is False


def test_report_json_keys_and_patch_figures() -> None:
    m = str(models.mobilenet_v2())
    r = tiny("report", m, "--board", "host", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    for k in ["flash_bytes", "peak_sram_bytes", "macs", "tflm_arena_bytes", "layers", "layer_based_peak_bytes"]:
        assert k in d
    assert d["tflm_arena_bytes"] > d["peak_sram_bytes"] > 96 * 96 * 3   # the input counts
    assert len(d["layers"]) == 64 and d["macs"] == sum(L["macs"] for L in d["layers"])
    r = tiny("report", m, "--board", "host", "--schedule", "patch", "--json")
    assert r.returncode == 0, r.stderr
    p = json.loads(r.stdout)
    assert p["patch_based_peak_bytes"] == p["peak_sram_bytes"] < p["layer_based_peak_bytes"]
    assert 0 <= p["patch_mac_overhead"] < 1 and len(p["grid"]) == 2


def test_validate_json_keys_host() -> None:
    r = tiny("validate", str(models.tiny_cnn()), "--board", "host", "--samples", "2", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["bit_exact"] is True and d["samples"] == 2
    assert d["max_abs_diff"] == 0 and d["mismatched_elements"] == 0 and d["first_mismatch"] is None


def test_compile_writes_readable_c(tmp_path: Path) -> None:
    out = tmp_path / "proj"
    r = tiny("compile", str(models.tiny_cnn()), "--board", "qemu-m4-256k", "-o", str(out))
    assert r.returncode == 0, r.stderr
    text = (out / "src" / "model.c").read_text()
    assert "#0 CONV_2D" in text and "static uint8_t tiny_arena[" in text
    assert (out / "platformio.ini").exists()
    # generated C compiles cleanly with warnings as errors
    fw = Path(__file__).resolve().parents[2] / "firmware" / "include"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", f"-I{fw}", f"-I{out / 'src'}",
                    "-c", str(out / "src" / "model.c"), "-o", str(tmp_path / "m.o")], check=True)


def test_unsupported_op_is_named(tmp_path: Path) -> None:
    import tensorflow as tf
    from tests.models import _quantize
    m = tf.keras.Sequential([tf.keras.Input((8, 8, 3)), tf.keras.layers.Conv2D(4, 3, padding="same"),
                             tf.keras.layers.Lambda(lambda t: tf.math.sqrt(tf.nn.relu(t)))])   # an int8 SQRT
    p = tmp_path / "sqrt.tflite"
    p.write_bytes(_quantize(m, (8, 8, 3)))
    r = tiny("compile", str(p), "--board", "host", "-o", str(tmp_path / "o"))
    assert r.returncode == 2
    _no_traceback(r)
    assert re.search(r"op #\d+ SQRT \(output \['[^']+'\]\) is not supported", r.stderr), r.stderr
    assert not (tmp_path / "o").exists()   # nothing written


def test_float_model_is_refused_with_instructions(tmp_path: Path) -> None:
    import tensorflow as tf
    m = tf.keras.Sequential([tf.keras.Input((8, 8, 3)), tf.keras.layers.Conv2D(4, 3)])
    conv = tf.lite.TFLiteConverter.from_keras_model(m)
    from tiny.frontend.keras import quiet_fds
    with quiet_fds():
        buf = conv.convert()
    p = tmp_path / "float.tflite"
    p.write_bytes(buf)
    r = tiny("validate", str(p), "--board", "host")
    assert r.returncode == 2
    _no_traceback(r)
    assert "float32" in r.stderr and "TFLITE_BUILTINS_INT8" in r.stderr and "representative" in r.stderr


def test_truncated_model_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "cut.tflite"
    p.write_bytes(models.tiny_cnn().read_bytes()[:700])
    r = tiny("report", str(p), "--board", "host", "--json")
    assert r.returncode == 2
    _no_traceback(r)
    assert "cut.tflite" in r.stderr


def test_model_too_big_for_the_board_states_the_numbers() -> None:
    r = tiny("validate", str(models.mobilenet_v2(0.35, 144, 144)), "--board", "qemu-m3")
    assert r.returncode == 2
    _no_traceback(r)
    assert "does not fit board qemu-m3" in r.stderr and "has 131072" in r.stderr and "--schedule patch" in r.stderr


def test_unknown_board() -> None:
    r = tiny("report", str(models.tiny_cnn()), "--board", "nope")
    assert r.returncode == 2
    _no_traceback(r)
    assert "qemu-m4-256k" in r.stderr


def test_keras_model_file_is_quantized_and_compiled(tmp_path: Path) -> None:
    import tensorflow as tf
    m = tf.keras.Sequential([tf.keras.Input((12, 12, 1)), tf.keras.layers.Conv2D(4, 3, activation="relu"),
                             tf.keras.layers.GlobalAveragePooling2D(), tf.keras.layers.Dense(3)])
    p = tmp_path / "m.keras"
    m.save(p)
    r = tiny("validate", str(p), "--board", "host", "--samples", "2", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["bit_exact"] is True


def test_quantization_aware_training_gives_a_bit_exact_model(tmp_path: Path) -> None:
    from tiny.data import digits
    from tiny.frontend.keras import quantize_aware
    from tiny.frontend.tflite import load_bytes
    from tiny.compare import validate
    xtr, ytr, _, _ = digits(size=8)
    buf = quantize_aware(_qat_model, xtr[:256], ytr[:256], epochs=1)
    g = load_bytes(buf, "qat")
    assert {op.type for op in g.ops} >= {"CONV_2D", "FULLY_CONNECTED"}
    res = validate(g, None, "none", samples=3)
    assert res.reference.mismatched == 0


def _qat_model():
    import tensorflow as tf
    return tf.keras.Sequential([tf.keras.Input((8, 8, 1)), tf.keras.layers.Conv2D(4, 3, activation="relu"),
                                tf.keras.layers.Flatten(), tf.keras.layers.Dense(10)])
