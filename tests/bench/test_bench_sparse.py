"""The searched sparse scheme (contribution analysis under the budget) vs the fixed recipe.
Run with `pytest -m bench tests/bench/test_bench_sparse.py -s` (the analysis is cached under
~/.cache/tiny/contrib, so a second run skips it).

- digits-transfer IRB base model: accuracy after 2 epochs on the host board (same C as on the
  boards, bit-exact with the oracle), searched vs fixed sparse scheme, same lr;
- MobileNetV2-0.35@128 (tests/models.py) on qemu-m4-256k: the scheme searched under a 128 KB
  training budget (TTE: 141 KB) and under the whole board, the training peak of each, accuracy
  after 1 epoch of digits-transfer (resized) on the host board vs the fixed recipe, and the
  instructions of one training step on qemu-f746 (QEMU counting plugin, whole step).

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


def test_mbv2_035_128_searched_under_budget() -> None:
    from tests import models
    from tiny.passes.patch import usable_sram
    from tiny.boards import get_board
    from tiny.pipeline import load_model
    from tiny.train import data as tdata
    from tiny.train.api import compile_train
    from tiny.train.config import load_config
    from tiny.train.contrib import resolve_scheme
    from tiny.train.insn import count_step_breakdown
    g = load_model(models.mobilenet_v2(0.35, 128, 128))
    t = g.tensors[g.inputs[0]]
    xtr, ytr, xte, yte = tdata.load("digits-transfer", t.shape, t.quant.s(), t.quant.zp(), 10)
    lr = 0.003
    rows = {}
    for label, budget in (("128 KB budget", 131072), ("whole board", None)):
        cfg = resolve_scheme(g, load_config("sparse", lr=lr, search=True), "qemu-m4-256k", xtr, ytr, "auto", budget)
        tc = compile_train(g, "qemu-m4-256k", cfg, "auto", budget)
        peak = tc.train_memory["train_peak_sram_bytes"]
        assert peak <= (budget or usable_sram(get_board("qemu-m4-256k")))
        rows[label] = {"cfg": cfg, "peak": peak, "scheme": cfg.scheme_report}
    fixed = load_config("sparse", lr=lr, search=False)
    rows["fixed recipe"] = {"cfg": fixed, "peak": compile_train(g, "qemu-m4-256k", fixed, "auto")
                            .train_memory["train_peak_sram_bytes"]}
    steps = len(xtr)
    for r in rows.values():
        r["accuracy_after"] = _train_host(g, r["cfg"], xtr, ytr, xte[:200], yte[:200], steps)
    cfg = rows["128 KB budget"]["cfg"]
    tc = compile_train(g, "qemu-f746", cfg, "auto", 131072)
    b = count_step_breakdown(tc, "qemu-f746", xtr, ytr, 2)[1]
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "cfg"} for k, v in rows.items()}, indent=1))
    print(json.dumps({"qemu-f746 instructions per step": b}, indent=1))
    assert rows["128 KB budget"]["peak"] <= 131072
    assert rows["128 KB budget"]["accuracy_after"] >= rows["fixed recipe"]["accuracy_after"] - 0.02
