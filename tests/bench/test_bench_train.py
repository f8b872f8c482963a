"""On-device training recipes on the offline transfer task (digits-transfer, MobileNetV2/V3-style
base model with four inverted residual blocks): accuracy after, training peak SRAM, instructions
per training step. Run with `pytest -m bench tests/bench/test_bench_train.py -s`.

- accuracy: 2 epochs (2696 steps, batch 1, plain SGD, QAS) on the `host` board — the same C as
  on qemu-m4-256k, and the training tests prove both end with weights identical to the oracle's,
  so QEMU would print the same accuracy (2696 steps x 8 recipes on QEMU take ~20 min instead);
- train_peak_sram_bytes: the plan for qemu-m4-256k;
- instructions per step: QEMU TCG plugin on qemu-m4-256k (mean of 3 steps, whole step: forward,
  captures, backward, updates);
- host float full fine-tuning: the float Keras base net (same architecture, same pretraining),
  every weight trained on the host in float32 (Adam, batch 8, 2 epochs), then accuracy in float.

Equivalent commands (one row):
    tiny train --board host --recipe mobiletl --blocks 4 --epochs 2 --lr 0.005 --json
    tiny train --board qemu-m4-256k --recipe mobiletl --steps 3 --json   (instructions_per_step)
"""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = [pytest.mark.bench, pytest.mark.qemu]

ROWS = [  # label, recipe, overrides, lr
    # best of a small lr sweep on this model (0.002..0.03, 2 epochs, host)
    ("head", "head", {}, 0.03),
    ("bias", "bias", {}, 0.003),
    ("sparse", "sparse", {}, 0.003),
    ("mobiletl K=2", "mobiletl", {"blocks": 2}, 0.005),
    ("mobiletl K=4", "mobiletl", {"blocks": 4}, 0.005),
    ("mobiletl K=4 frozen dw", "mobiletl", {"blocks": 4, "freeze_dw": True}, 0.005),
    ("full (int8, on device)", "full", {}, 0.001),
]


def float_full_finetune() -> float:
    import tensorflow as tf
    from tiny.train import data as tdata
    xb, yb, _, _ = tdata.digits_transfer("base")
    xtr, ytr, xte, yte = tdata.digits_transfer("target")
    m = tdata.build_irb_net()
    m.compile(optimizer=tf.keras.optimizers.Adam(3e-3),
              loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    m.fit(xb, yb, epochs=15, batch_size=32, verbose=0)
    m.compile(optimizer=tf.keras.optimizers.Adam(1e-3),
              loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    m.fit(xtr, ytr, epochs=2, batch_size=8, verbose=0)
    return float(np.mean(np.argmax(m.predict(xte, verbose=0), -1) == yte))


def test_training_recipes_table() -> None:
    from tiny.pipeline import load_model
    from tiny.train import data as tdata
    from tiny.train.api import compile_train
    from tiny.train.config import load_config
    from tiny.train.insn import count_step_instructions
    from tiny.train.run import run_training
    model = str(tdata.base_model("irb"))
    g = load_model(model)
    t = g.tensors[g.inputs[0]]
    xtr, ytr, _, _ = tdata.load("digits-transfer", t.shape, t.quant.s(), t.quant.zp(), 10)
    rows = []
    for label, recipe, ov, lr in ROWS:
        res = run_training(model, "host", recipe, epochs=2, lr=lr, log=lambda m: None, out=None,
                           blocks=ov.get("blocks"), freeze_dw=ov.get("freeze_dw")).data
        tc = compile_train(g, "qemu-m4-256k", load_config(recipe, lr=lr, blocks=ov.get("blocks"),
                                                          freeze_dw=ov.get("freeze_dw")))
        ins = count_step_instructions(tc, "qemu-m4-256k", xtr, ytr, 3)
        kept = sum(b["backward_bytes"] for b in res.get("train_blocks", []))
        van = sum(b["vanilla_backward_bytes"] for b in res.get("train_blocks", []))
        rows.append((label, lr, res["accuracy_before"], res["accuracy_after"],
                     tc.train_memory["train_peak_sram_bytes"], int(np.mean(ins)),
                     f"{kept:,} / {van:,}" if van else "-"))
    facc = float_full_finetune()
    print("\n| recipe | lr | accuracy before | accuracy after | train peak SRAM (qemu-m4-256k) | "
          "instructions / step (QEMU) | blocks: kept / vanilla bytes |")
    print("|---|---|---|---|---|---|---|")
    for label, lr, a0, a1, peak, ins, kv in rows:
        print(f"| {label} | {lr} | {a0:.1%} | {a1:.1%} | {peak:,} B | {ins:,} | {kv} |")
    print(f"| full (float32, host, Keras Adam) | 1e-3 | - | {facc:.1%} | - | - | - |")
    acc = {r[0]: r[3] for r in rows}
    assert acc["mobiletl K=2"] > acc["bias"] and acc["mobiletl K=2"] > acc["head"]


def _step_split(g, cfg, kernels: str, xs, ys, schedule: str = "layer", budget: int | None = None) -> dict:
    from tiny.train.api import compile_train
    from tiny.train.insn import count_step_breakdown
    tc = compile_train(g, "qemu-m4-256k", cfg, schedule, budget, kernels=kernels)
    b = count_step_breakdown(tc, "qemu-m4-256k", xs, ys, 2)[1]      # the second step: warm state
    return {"total": b["total"], "forward": b["forward"], "backward": b["backward"],
            "peak": tc.train_memory["train_peak_sram_bytes"]}


def test_training_step_opt_vs_portable(tmp_path) -> None:
    """Instructions of one sparse training step (forward with captures, backward, updates) on
    qemu-m4-256k: optimized kernels (DSP forward, FPU backward) vs the portable runtime (--kernels ref).
    Equivalent command: tiny train [MODEL] --board qemu-m4-256k --steps 3 --kernels opt|ref --json."""
    import json
    from tests import models
    from tests.train.test_cli_train import MBV2_SPARSE
    from tiny.pipeline import load_model
    from tiny.train import data as tdata
    from tiny.train.config import load_config
    cases = []
    for kind in ("v1", "irb"):
        g = load_model(str(tdata.base_model(kind)))
        t = g.tensors[g.inputs[0]]
        xtr, ytr, _, _ = tdata.load("digits-transfer", t.shape, t.quant.s(), t.quant.zp(), 10)
        cases.append((f"digits-transfer {kind} base, sparse", g, load_config("sparse", lr=0.003), xtr, ytr, "layer", None))
    g = load_model(models.mobilenet_v2(0.35, 128, 128))
    cfg = tmp_path / "mbv2.toml"
    cfg.write_text(MBV2_SPARSE)
    t = g.tensors[g.inputs[0]]
    xs = np.random.default_rng(0).integers(-128, 128, size=(2, *t.shape[1:]), dtype=np.int8)
    cases.append(("MobileNetV2-0.35@128 sparse (auto, 128 KB training budget)", g, load_config(str(cfg)), xs,
                  np.array([1, 3]), "auto", 128 * 1024))
    rows = {}
    for label, g, cfg_, xs_, ys_, sched, budget in cases:
        opt = _step_split(g, cfg_, "opt", xs_, ys_, sched, budget)
        ref = _step_split(g, cfg_, "ref", xs_, ys_, sched, budget)
        rows[label] = {"opt": opt, "ref": ref, "ratio": ref["total"] / opt["total"],
                       "backward_ratio": ref["backward"] / opt["backward"]}
    print(json.dumps(rows, indent=1))
    print("\n| model, recipe | opt: forward + backward = step | ref (portable): step | ref/opt step | ref/opt backward |")
    print("|---|---|---|---|---|")
    for k, r in rows.items():
        o, f = r["opt"], r["ref"]
        print(f"| {k} | {o['forward']:,} + {o['backward']:,} = **{o['total']:,}** | {f['total']:,} | "
              f"**{r['ratio']:.2f}x** | {r['backward_ratio']:.2f}x |")
    for k, r in rows.items():
        assert r["ratio"] >= 4.0, (k, r)
