"""`tiny train` and `tiny report --train` from the command line (host board: no emulator)."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np

from tiny.pipeline import load_model
from tiny.train import data as tdata

MBV2_SPARSE = '[train]\nrecipe = "sparse"\nbias_last = 8\n[train.weights]\n"#63" = 1.0\n'


def _tiny(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tiny.cli", *args], capture_output=True, text=True, timeout=600)


def test_train_cli_host(tmp_path) -> None:
    r = _tiny("train", "--board", "host", "--recipe", "sparse", "--steps", "600", "--eval-samples", "200",
              "--json", "-o", str(tmp_path), "--plot", str(tmp_path / "curve.png"), "--no-float-reference")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["steps"] == 600 and d["train_peak_sram_bytes"] > 0
    assert d["accuracy_after"] > d["accuracy_before"] + 0.15
    # the default rate was probed on the host oracle, learned, and stays (one probe)
    c = d["lr_check"]
    assert c["default_lr"] == d["lr"] == 0.05 and [t["lr"] for t in c["tried"]] == [0.05]
    assert c["tried"][0]["heldout_accuracy"] > c["start_heldout_accuracy"] + 0.1
    assert "lr 0.05 (the sparse recipe's default) learns in a 600-step probe on the host oracle" in r.stderr
    assert d["weight_shadow"] is True and d["memory"]["shadow_bytes"] > 0    # it fits the host
    assert (tmp_path / "curve.png").stat().st_size > 0
    # the fine-tuned .tflite loads, differs from the base model only in the trained tensors
    g0, g1 = load_model(tdata.base_model()), load_model(d["output"])
    changed = [t for t in g0.tensors if g0.tensors[t].is_const
               and not np.array_equal(g0.tensors[t].data, g1.tensors[t].data)]
    assert changed and all(g0.tensors[t].dtype in ("int8", "int32") for t in changed)


def test_train_cli_bad_label(tmp_path) -> None:
    p = tmp_path / "d.npz"
    x = np.zeros((4, 16, 16), np.uint8)
    # (labels 0..11 would mean 12 classes and a new head; a negative label is never a class)
    np.savez(p, x_train=x, y_train=np.array([0, 1, 2, -1]), x_test=x, y_test=np.zeros(4, int))
    r = _tiny("train", str(tdata.base_model()), "--board", "host", "--data", str(p))
    assert r.returncode == 2 and "y_train: labels must be in [0, 10)" in r.stderr and "got [-1, 2]" in r.stderr


def test_report_train_keys() -> None:
    r = _tiny("report", str(tdata.base_model()), "--board", "host", "--train", "sparse", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["train_peak_sram_bytes"] == d["train_memory"]["train_peak_sram_bytes"] > d["peak_sram_bytes"]


def test_report_train_says_when_it_does_not_fit() -> None:
    """`tiny report --train` states the training budget and whether the plan fits it (the JSON's
    train_fits), with the excess, as `tiny train` would refuse it."""
    r = _tiny("report", str(tdata.base_model()), "--board", "host", "--train", "full", "--sram-budget", "6000")
    assert r.returncode == 0, r.stderr
    peak = int(re.search(r"training \(full\): peak SRAM ([\d,]+) B", r.stdout).group(1).replace(",", ""))
    assert f"training budget on host: 6,000 B: DOES NOT FIT ({peak - 6000:,} B over" in r.stdout
    d = json.loads(_tiny("report", str(tdata.base_model()), "--board", "host", "--train", "full", "--sram-budget",
                         "6000", "--json").stdout)
    assert d["train_fits"] is False and d["train_peak_sram_bytes"] == peak and d["train_budget_bytes"] == 6000


def test_a_run_that_does_not_learn_says_why(tmp_path) -> None:
    """A rate far too high for the model: the board ends near chance, and so does the float twin of
    the same scheme (TensorFlow, the same data order and rates); `tiny train` says so, blames the
    rate rather than the int8 training, and points to --lr auto."""
    r = _tiny("train", "--board", "host", "--recipe", "full", "--lr", "3", "--steps", "200", "--eval-samples",
              "100", "--json", "-o", str(tmp_path))
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["accuracy_after"] < 0.12 and d["float_reference_accuracy"] < 0.12      # 10 classes: chance 10 %
    assert "neither did its float twin" in d["learning_note"] and "--lr auto" in d["learning_note"]
    assert d["learning_note"] in r.stderr


def test_a_default_rate_that_diverges_is_backed_off(tmp_path) -> None:
    """gate-cnn (tests/models.py::se_cnn: x + x*x, two SE gates) diverges under the full recipe's
    default rate (0.005 with momentum 0.9: 7.6 % on digits-transfer, its float twin 8.2 %). The
    probe of the run's first 600 steps on the host oracle sees it and trains at a quarter of it:
    the board learns, and so does the float twin (TensorFlow) at the rates the board used."""
    from tests import models
    from tiny.train.schedule import DEFAULTS
    r = _tiny("train", str(models.se_cnn()), "--board", "host", "--recipe", "full", "--data", "digits-transfer",
              "--eval-samples", "200", "--json", "-o", str(tmp_path))
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    c = d["lr_check"]
    default = DEFAULTS["full"].lr
    assert c["default_lr"] == default and c["probe_steps"] == 600 and c["tried"][0]["lr"] == default
    assert c["tried"][0]["heldout_accuracy"] < c["start_heldout_accuracy"] + 0.02       # did not learn
    assert d["lr"] == c["lr"] == c["tried"][1]["lr"] == np.float32(default / 4)
    assert d["accuracy_after"] > d["accuracy_before"] + 0.1
    assert d["float_reference_accuracy"] > d["float_accuracy_before"] + 0.1
    assert "learning_note" not in d
    assert f"lr {default:g} (the full recipe's default) did not learn in a 600-step probe" in r.stderr


def test_mbv2_035_128_sparse_fits_128k(tmp_path) -> None:
    from tests import models
    from tiny.train.api import compile_train
    from tiny.train.config import load_config
    g = load_model(models.mobilenet_v2(0.35, 128, 128))
    cfg = tmp_path / "mbv2.toml"
    cfg.write_text(MBV2_SPARSE)
    sparse = compile_train(g, "qemu-m4-256k", load_config(str(cfg)), "auto", 128 * 1024).train_memory   # (training budget)
    full = compile_train(g, "qemu-m4-256k", load_config("full")).train_memory
    assert sparse["train_peak_sram_bytes"] <= 128 * 1024 < 1024 * 1024 < full["train_peak_sram_bytes"]


def test_train_cli_sram_budget(tmp_path) -> None:
    """--sram-budget bounds the whole training: the scheme is searched under it (the fixed scheme of
    the digits model needs 7,100 B on the host), a budget nothing fits is refused before any board
    time, and a schedule not planned to the budget is checked against it."""
    r = _tiny("train", "--board", "host", "--sram-budget", "6000", "--steps", "300", "--eval-samples", "100",
              "--json", "-o", str(tmp_path), "--no-float-reference", "--lr", "0.05")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["lr_check"] is None and "probe" not in r.stderr      # a rate the user gave is not probed
    assert d["train_peak_sram_bytes"] <= 6000 and d["sparse_scheme"]["budget_bytes"] == 6000
    assert d["sparse_scheme"]["train_peak_sram_bytes"] <= 6000
    assert d["accuracy_after"] > d["accuracy_before"] + 0.1
    r = _tiny("train", "--board", "host", "--sram-budget", "1500", "--steps", "10", "--no-float-reference")
    assert r.returncode == 2 and "no sparse scheme fits the training budget of 1,500 B" in r.stderr, r.stderr
    # refused before the default rate's probe (which a 300-step run has) spends host time on it
    r = _tiny("train", "--board", "host", "--sram-budget", "6000", "--fixed-scheme", "--schedule", "layer",
              "--steps", "300", "--no-float-reference")
    assert r.returncode == 2 and "the training needs 7,100 B of SRAM, over --sram-budget 6,000 B" in r.stderr, r.stderr
    assert "probe" not in r.stderr, r.stderr


def test_train_cli_refuses_training_over_the_board() -> None:
    """Without --sram-budget the board's usable SRAM is the bound: full fine-tuning of
    MobileNetV2-0.35 96x96 (3.1 MB) is refused with the numbers before a firmware is built."""
    from tests import models
    r = _tiny("train", str(models.mobilenet_v2()), "--recipe", "full", "--board", "qemu-m4-256k", "--schedule",
              "layer", "--steps", "1", "--no-float-reference")
    assert r.returncode == 2, r.stderr
    m = re.search(r"the training needs ([\d,]+) B of SRAM, over the 249,856 B qemu-m4-256k leaves", r.stderr)
    assert m and int(m.group(1).replace(",", "")) > 2_000_000, r.stderr    # every weight of 0.4 M in SRAM


def test_train_cli_pytorch_export(tmp_path) -> None:
    """A PyTorch-style export (float32 I/O, a TRANSPOSE to NCHW, MEAN one axis at a time, a second
    output) with a 6-class head on a built-in 10-class task: a new head, and the scheme searched over
    its layers (it stopped at "not quantized", then at the TRANSPOSE and the MEANs, before)."""
    from tests import models
    r = _tiny("train", str(models.pytorch_style()), "--board", "host", "--data", "digits-transfer", "--steps", "30",
              "--eval-samples", "20", "--json", "-o", str(tmp_path), "--no-float-reference")
    assert r.returncode == 0, r.stderr
    assert "new head written" in r.stderr and "stay frozen" not in r.stderr
    d = json.loads(r.stdout)
    assert d["steps"] == 30 and "QUANTIZE op #0" in d["input_domain"]
    assert "skipped" not in d["sparse_scheme"] and d["sparse_scheme"]["verified"]
    g1 = load_model(d["output"])
    fc = next(op for op in g1.ops if op.type == "FULLY_CONNECTED")
    assert g1.tensors[fc.outputs[0]].shape[-1] == 10 and g1.tensors[g1.inputs[0]].dtype == "float32"


def test_train_cli_order_seed(tmp_path) -> None:
    """--order-seed N: another sample order for the board and its float twins (order N of the docs'
    three-order tables); the same seed gives the same weights, another seed others; -1 is refused."""
    import hashlib

    def run(seed: int, sub: str) -> dict:
        r = _tiny("train", "--board", "host", "--fixed-scheme", "--steps", "60", "--eval-samples", "30",
                  "--order-seed", str(seed), "--json", "-o", str(tmp_path / sub), "--no-float-reference")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)
    a, b, c = run(2, "a"), run(2, "b"), run(0, "c")
    assert a["order_seed"] == 2 and c["order_seed"] == 0
    digest = lambda d: hashlib.sha256(open(d["output"], "rb").read()).hexdigest()  # noqa: E731
    assert digest(a) == digest(b) != digest(c)
    r = _tiny("train", "--board", "host", "--steps", "10", "--order-seed", "-1")
    assert r.returncode != 0 and "--order-seed -1" in r.stderr


def test_train_and_validate_an_image_folder(tmp_path) -> None:
    """A user's images as they have them: PNG files of another size in train/ and val/ class folders,
    for a PyTorch-style export with a 6-class head. `tiny train` reads the folders (3 classes: a new
    head), and `tiny validate --data` of the written model on the same folder (its val/ images, through
    TFLite Micro and the board) finds the accuracy the training run reported."""
    from PIL import Image

    from tests import models
    rng = np.random.default_rng(5)
    names = ["blue", "green", "red"]
    for split, n in (("train", 12), ("val", 5)):
        for k, name in enumerate(names):
            (tmp_path / "imgs" / split / name).mkdir(parents=True)
            for i in range(n):
                im = rng.integers(0, 120, (24, 24, 3), dtype=np.uint8)
                im[..., 2 - k] += 120        # a tinted square per class
                Image.fromarray(im).save(tmp_path / "imgs" / split / name / f"{i}.png")
    r = _tiny("train", str(models.pytorch_style()), "--board", "host", "--data", str(tmp_path / "imgs"),
              "--recipe", "head", "--steps", "40", "--json", "-o", str(tmp_path / "out"), "--no-float-reference")
    assert r.returncode == 0, r.stderr
    assert "51 images, 3 classes (blue=0, green=1, red=2); train/ and val/" in r.stderr
    assert "the model's head has 6 classes, the data 3" in r.stderr
    d = json.loads(r.stdout)
    v = _tiny("validate", d["output"], "--board", "host", "--data", str(tmp_path / "imgs"), "--json")
    assert v.returncode == 0, v.stderr
    dv = json.loads(v.stdout)
    assert dv["bit_exact"] and dv["samples"] == 15
    assert dv["accuracy"] == d["accuracy_after"]
