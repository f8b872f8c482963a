"""Learning by default: stochastic rounding, the logits' straight-through clamp, the float twin,
`--lr auto` (the board repeats the oracle's chosen run exactly)."""
from __future__ import annotations

import numpy as np
import pytest

from tests.train.conftest import assert_same_as_oracle
from tiny.reference.train import TrainOracle, fmix32, round_stochastic, round_update
from tiny.train import schedule as sch
from tiny.train.api import training_plan
from tiny.train.config import load_config


def test_fmix32_matches_murmur3_reference() -> None:
    # MurmurHash3 fmix32 computed by hand in Python integers (independent of the numpy version)
    def ref(h: int) -> int:
        h ^= h >> 16
        h = (h * 0x85EBCA6B) & 0xFFFFFFFF
        h ^= h >> 13
        h = (h * 0xC2B2AE35) & 0xFFFFFFFF
        return h ^ (h >> 16)
    xs = [0, 1, 2, 12345, 0xFFFFFFFF, 0x9E3779B9]
    assert [int(v) for v in fmix32(np.array(xs, np.uint64))] == [ref(x) for x in xs]


def test_stochastic_rounding_keeps_small_updates_in_expectation() -> None:
    v = np.full(20000, 0.1, np.float32)
    assert round_update(v).sum() == 0                       # nearest: a 0.1-quantum update never lands
    d = round_stochastic(v, key=1234, index=np.arange(v.size))
    assert set(np.unique(d)) == {0, 1} and abs(d.mean() - 0.1) < 0.01
    neg = round_stochastic(-v, key=99, index=np.arange(v.size))
    assert set(np.unique(neg)) == {-1, 0} and abs(neg.mean() + 0.1) < 0.01
    ints = round_stochastic(np.array([-3.0, 0.0, 5.0], np.float32), 7, np.arange(3))
    assert ints.tolist() == [-3, 0, 5]                        # exact integers stay


def test_head_only_learns(base_graph, transfer_data) -> None:
    """Head-only on digits-transfer stayed at chance (10 %): the logits' clamp mask froze every wrong
    class that reached the int8 limit. Straight-through logits + stochastic rounding: it learns."""
    xtr, ytr, xte, yte = transfer_data
    cfg = load_config("head", lr=0.01, momentum=0.9)
    plan = training_plan(base_graph, cfg)
    logit_steps = [s for s in plan.steps if s.out == plan.logits and s.kind != "ce"]
    assert logit_steps and all(s.mask is None for s in logit_steps)
    o = TrainOracle(plan, lr=0.01, momentum=0.9)
    n = 1200
    rates = sch.lrs(n, 0.01)
    for s in range(n):
        i = sch.sample_index(s, len(xtr))
        o.step(xtr[i:i + 1], int(ytr[i]), lr=rates[s])
    acc = np.mean([o.predict(xte[i:i + 1]) == yte[i] for i in range(200)])
    assert acc > 0.3, acc


@pytest.mark.slow
def test_float_twin_forward_matches_int8(base_graph, transfer_data) -> None:
    """The dequantized float twin computes what the int8 graph computes up to quantization error."""
    from tests.train.conftest import twin_and_int8_logits
    _, _, xte, _ = transfer_data
    f, real, s = twin_and_int8_logits(base_graph, xte[:64])
    # int8 rounding through 9 layers: a few logit quanta; argmax agrees on nearly every sample
    assert np.abs(f - real).mean() < 4 * s
    assert np.mean(f.argmax(1) == real.argmax(1)) >= 0.9
    # on the int8 activation grid it follows the board's forward much more closely (float sums and
    # rounding ties aside: logits within a quantum or two)
    f8, _, _ = twin_and_int8_logits(base_graph, xte[:64], int8_activations=True)
    assert np.abs(f8 - real).mean() < 0.5 * np.abs(f - real).mean()
    assert np.mean(f8.argmax(1) == real.argmax(1)) >= np.mean(f.argmax(1) == real.argmax(1))


@pytest.mark.slow
def test_lr_auto_board_repeats_the_oracle_run(base_graph, transfer_data, tmp_path) -> None:
    from tiny.train.api import compile_train, oracle_for
    from tiny.train.run import run_training
    res = run_training(None, "host", "head", steps=150, lr="auto", eval_samples=50, log=lambda m: None,
                       float_reference=False, early_stop=False)
    d = res.data
    tried = d["lr_search"]
    assert len(tried) == 3 and d["lr"] in [t["lr"] for t in tried]
    best = max(tried, key=lambda t: (t["heldout_accuracy"], -t["lr"]))
    assert d["lr"] == best["lr"]
    xtr, ytr, _, _ = transfer_data
    tc = compile_train(base_graph, "host", load_config("head", lr=d["lr"], momentum=d["momentum"]))
    o = oracle_for(tc)
    rates = sch.lrs(150, d["lr"])
    for s in range(150):
        i = sch.sample_index(s, len(xtr))
        o.step(xtr[i:i + 1], int(ytr[i]), lr=rates[s])
    assert_same_as_oracle(tc, res.checkpoint, o)


@pytest.mark.parametrize("bad,match", [("0.1,x", "expected two numbers"), ("1,0", "LO < HI")])
def test_input_range_errors(bad: str, match: str) -> None:
    from tiny.input_domain import parse_input_range
    from tiny.ir import TinyError
    with pytest.raises(TinyError, match=match):
        parse_input_range(bad)


def test_mobiletl_written_model_validates_bit_exact(tmp_path) -> None:
    """The fine-tuned model written back (MobileTL's trained scales folded into its filter scales)
    validates bit-exact against TFLM, and classifies like the board did."""
    import json
    import subprocess
    import sys
    from tiny.frontend.tflite import load
    from tiny.interpreter import prepare_all, run_graph
    from tiny.train import data as tdata
    from tiny.train.run import run_training
    res = run_training(None, "host", "mobiletl", steps=200, eval_samples=100, out=tmp_path, log=lambda m: None,
                       float_reference=False, early_stop=False)
    d = res.data
    assert d["written_scales"] > 0 and "written_scales_differing" in d
    r = subprocess.run([sys.executable, "-m", "tiny.cli", "validate", d["output"], "--board", "host", "--samples", "3",
                        "--json"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["bit_exact"] is True
    g = load(d["output"])
    base = load(tdata.base_model("irb"))
    assert any(not np.allclose(g.tensors[t].quant.scale, base.tensors[t].quant.scale) for t in g.tensors
               if g.tensors[t].is_const and g.tensors[t].quant is not None and g.tensors[t].dtype == "int8")
    t = g.tensors[g.inputs[0]]
    _, _, xte, yte = tdata.load("digits-transfer", t.shape, t.quant.s(), t.quant.zp(), 10)
    params = prepare_all(g)
    out = g.outputs[0]
    acc = np.mean([np.argmax(run_graph(g, [xte[i:i + 1]], params)[out]) == yte[i] for i in range(100)])
    assert abs(acc - d["accuracy_after"]) <= 0.02, (acc, d["accuracy_after"])
