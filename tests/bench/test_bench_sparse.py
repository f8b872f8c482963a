"""The searched sparse scheme (contribution analysis under the budget) vs the fixed recipe.
Run with `pytest -m bench tests/bench/test_bench_sparse.py -s` (the analysis is cached under
~/.cache/tiny/contrib, so a second run skips it).

- digits-transfer IRB base model: accuracy after 2 epochs on the host board (same C as on the
  boards, bit-exact with the oracle), searched vs fixed sparse scheme, same lr;
- MobileNetV2-0.35@128 pretrained on digits-transfer's base split (tests/models.py::
  mobilenet_v2_digits, built offline) on qemu-m4-256k: the scheme searched under a 128 KB
  training budget (TTE: 141 KB) and under the whole board vs the fixed recipe (--schedule auto):
  the training peak of each, accuracy before and after 2 epochs of digits-transfer (resized as
  `tiny train` resizes it) on the host board, trained as `tiny train` trains (the recipe's lr,
  warm-up + cosine, weight headroom; no early stop), and the instructions of one training step
  of the 128 KB scheme on qemu-f746 (QEMU counting plugin, whole step).

Equivalent commands:
    tiny report MODEL --board qemu-m4-256k --train sparse --schedule auto --sram-budget 131072 --json
    tiny train MODEL --board qemu-f746 --recipe sparse --schedule auto --steps 2 --json  (instructions_per_step)
"""
from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = [pytest.mark.bench, pytest.mark.qemu]


def _train_host(g, cfg, xtr, ytr, xte, yte, steps: int, schedule: str = "layer") -> float:
    from tiny.train.api import compile_train
    from tiny.train.device import TrainDevice
    from tiny.train.run import evaluate, sample_index
    from tiny.workflow import open_session
    tc = compile_train(g, "host", cfg, schedule)
    with open_session(tc, "host") as s:
        dev = TrainDevice(s, len(tc.param_names))
        dev.set_hparams(cfg.lr, cfg.momentum, cfg.qas)
        for step in range(steps):
            i = sample_index(step, len(xtr))
            dev.step(xtr[i:i + 1], int(ytr[i]), step)
        return evaluate(dev, xte, yte)


def test_digits_searched_vs_fixed() -> None:
    from tiny.pipeline import load_model
    from tiny.train import data as tdata
    from tiny.train.config import load_config
    from tiny.train.contrib import resolve_scheme
    g = load_model(str(tdata.base_model("irb")))
    t = g.tensors[g.inputs[0]]
    xtr, ytr, xte, yte = tdata.load("digits-transfer", t.shape, t.quant.s(), t.quant.zp(), 10)
    lr = 0.003
    searched = resolve_scheme(g, load_config("sparse", lr=lr, search=True), "qemu-m4-256k", xtr, ytr)
    fixed = load_config("sparse", lr=lr, search=False)
    a_s = _train_host(g, searched, xtr, ytr, xte, yte, 2 * len(xtr))
    a_f = _train_host(g, fixed, xtr, ytr, xte, yte, 2 * len(xtr))
    r = searched.scheme_report
    print(json.dumps({"searched": {"accuracy_after": a_s, "bias_last": r["bias_last"], "weights": r["weights"],
                                   "train_peak_sram_bytes": r["train_peak_sram_bytes"]},
                      "fixed": {"accuracy_after": a_f}}, indent=1))
    assert a_s >= a_f - 0.02


def _train_recipe_host(g, cfg, xtr, ytr, xte, yte, steps: int, schedule: str = "auto",
                       budget: int | None = None) -> dict:
    """As `tiny train` trains (tiny/train/run.py::prepare, train_on_board; no early stop): the weight
    headroom of the trained layers, the recipe's warm-up + cosine rates sent per step, on the host board.
    Returns accuracy before / after (and after each epoch), and the headroomed graph."""
    from tiny.train import schedule as sch
    from tiny.train.api import compile_train, training_plan
    from tiny.train.device import TrainDevice
    from tiny.train.headroom import trained_weight_channels, with_headroom
    from tiny.train.run import evaluate, sample_index
    from tiny.workflow import open_session
    gh = with_headroom(g, trained_weight_channels(training_plan(g, cfg)), cfg.headroom, cfg.body_headroom)
    tc = compile_train(gh, "host", cfg, schedule, budget)
    rates = sch.lrs(steps, cfg.lr)
    out: dict = {"epochs": []}
    with open_session(tc, "host") as s:
        dev = TrainDevice(s, len(tc.param_names))
        dev.set_hparams(cfg.lr, cfg.momentum, cfg.qas)
        out["accuracy_before"] = evaluate(dev, xte, yte)
        for step in range(steps):
            i = sample_index(step, len(xtr))
            dev.step(xtr[i:i + 1], int(ytr[i]), step, lr=rates[step])
            if (step + 1) % len(xtr) == 0 and step + 1 < steps:
                out["epochs"].append(evaluate(dev, xte, yte))
        out["accuracy_after"] = evaluate(dev, xte, yte)
    out["graph"] = gh
    return out


def _int8_accuracy(path, x: np.ndarray, y: np.ndarray) -> float:
    """The .tflite's accuracy under TFLite's interpreter (float inputs quantized with its input scale)."""
    import tensorflow as tf
    it = tf.lite.Interpreter(model_path=str(path))
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    s, z = i["quantization"]
    hits = 0
    for k in range(len(x)):
        q = np.clip(np.round(x[k:k + 1] / s + z), -128, 127).astype(np.int8)
        it.set_tensor(i["index"], q)
        it.invoke()
        hits += int(np.argmax(it.get_tensor(o["index"])[0]) == y[k])
    return hits / len(x)


def test_mbv2_035_128_searched_under_budget() -> None:
    from tests import models
    from tiny.boards import get_board
    from tiny.ir import TinyError
    from tiny.passes.patch import usable_sram
    from tiny.pipeline import load_model
    from tiny.train import data as tdata
    from tiny.train.api import compile_train
    from tiny.train.config import fixed_sparse_scheme, load_config
    from tiny.train.contrib import resolve_scheme
    from tiny.train.insn import count_step_breakdown
    path = models.mobilenet_v2_digits(0.35, 128, 128)
    # the base model learned its base split (upright digits): int8, held-out images
    _, _, xbe, ybe = models.digits_base_images(128, 128, 3)
    base_acc = _int8_accuracy(path, xbe, ybe)
    print(json.dumps({"base split int8 test accuracy": base_acc}))
    assert base_acc >= models.DIGITS_BASE_MIN_ACCURACY - 0.05
    g = load_model(str(path))
    t = g.tensors[g.inputs[0]]
    xtr, ytr, xte, yte = tdata.load("digits-transfer", t.shape, t.quant.s(), t.quant.zp(), 10)
    epochs = 2
    steps = epochs * len(xtr)
    rows = {}
    for label, budget in (("128 KB budget", 131072), ("whole board", None)):
        cfg = resolve_scheme(g, load_config("sparse", search=True), "qemu-m4-256k", xtr, ytr, "auto", budget,
                             run_steps=steps)
        rows[label] = {"cfg": cfg, "budget": budget,
                       "scheme": {k: v for k, v in cfg.scheme_report.items() if k not in ("layers", "weight_trials")}}
    rows["fixed recipe"] = {"cfg": load_config("sparse", search=False), "budget": None}
    for label, r in rows.items():
        cfg = r["cfg"]
        r.update(_train_recipe_host(g, cfg, xtr, ytr, xte, yte, steps, "auto", r["budget"]))
        gh = r.pop("graph")
        tc = compile_train(gh, "qemu-m4-256k", cfg, "auto", r["budget"])
        r["peak"] = tc.train_memory["train_peak_sram_bytes"]
        if label == "fixed recipe":   # does the fixed recipe fit the 128 KB budget at all?
            try:
                r["peak_under_128k"] = compile_train(gh, "qemu-m4-256k", cfg, "auto", 131072
                                                     ).train_memory["train_peak_sram_bytes"]
            except TinyError as e:
                r["peak_under_128k"] = f"does not fit: {str(e).splitlines()[0]}"
        assert r["peak"] <= (r["budget"] or usable_sram(get_board("qemu-m4-256k"))), label
        if r.get("scheme") is None:
            fb, fw = fixed_sparse_scheme(g)
            r["scheme"] = {"source": "fixed", "bias_last": fb, "weights": {f"#{k}": v for k, v in fw.items()}}
    cfg = rows["128 KB budget"]["cfg"]
    tc = compile_train(g, "qemu-f746", cfg, "auto", 131072)
    b = count_step_breakdown(tc, "qemu-f746", xtr, ytr, 2)[1]
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "cfg"} for k, v in rows.items()}, indent=1,
                     default=str))
    print(json.dumps({"steps": steps, "lr": rows["fixed recipe"]["cfg"].lr,
                      "qemu-f746 instructions per step": b}, indent=1))
    fixed, s128 = rows["fixed recipe"], rows["128 KB budget"]
    # the transfer split is a domain shift: the base model starts low on it, and every scheme learns
    assert fixed["accuracy_before"] < 0.5
    for label, r in rows.items():
        assert r["accuracy_after"] >= r["accuracy_before"] + 0.2, label
    assert s128["peak"] <= 131072
    # the target: the scheme searched under 128 KB learns at least as well as the fixed recipe
    # (2 epochs: 91.3 vs 89.5 %, docs/training.md); the fixed one itself now fits 128 KB too
    assert s128["accuracy_after"] >= fixed["accuracy_after"]
    assert isinstance(fixed["peak_under_128k"], int) and fixed["peak_under_128k"] <= 131072
