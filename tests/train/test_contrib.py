"""Sparse scheme by contribution analysis under a budget (tiny/train/contrib.py) and the
training-memory-aware schedule search (tiny/train/fit_schedule.py)."""
from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

from tests.train.conftest import assert_same_as_oracle
from tiny.ir import TinyError
from tiny.train import contrib
from tiny.train.api import compile_train, oracle_for
from tiny.train.config import load_config
from tiny.train.device import TrainDevice
from tiny.workflow import open_session


@pytest.fixture(scope="module")
def small_contrib(base_graph, transfer_data):
    xtr, ytr, _, _ = transfer_data
    return contrib.analyse(base_graph, xtr, ytr, steps=12, n_val=16, max_layers=3, lr=0.05,
                           log=lambda m: None, use_cache=False)


def _firmware_sram_bytes(tc) -> int:
    """What the compiled training firmware allocates for the model, read off its C: the arena, the
    saved buffer, the logits, every mutable (SRAM) weight/bias table, every momentum and weight-shadow buffer."""
    sizes = {"int8_t": 1, "uint8_t": 1, "int32_t": 4, "float": 4}
    total = 0
    for text in (tc.files["model.c"], tc.files["train_model.c"]):
        for m in re.finditer(r"^(static )?(const )?(u?int8_t|int32_t|float) (\w+)\[(\d+)\]", text, re.M):
            static, const, ctype, name, n = m.groups()
            if const:
                continue                     # flash
            if name == "tiny_arena" or name in ("saved", "logits_tmp") or re.fullmatch(r"l\d+_(filter|bias)", name) \
                    or re.fullmatch(r"t\d+_(m[wbs]|wf)", name):
                total += sizes[ctype] * int(n)
    return total


def test_knapsack_matches_brute_force() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        groups = [[(float(rng.uniform(0, 1)), int(rng.integers(1, 40)) * 64, (g, j)) for j in range(3)]
                  for g in range(4)]
        cap = int(rng.integers(0, 200)) * 64
        value, tags = contrib._knapsack(groups, cap)
        best = 0.0
        for pick in itertools.product(*[[None, *opts] for opts in groups]):
            chosen = [p for p in pick if p is not None]
            if sum(c for _, c, _ in chosen) <= cap:
                best = max(best, sum(v for v, _, _ in chosen))
        assert value == pytest.approx(best)
        assert sum(groups[g][j][1] for g, j in tags) <= cap
        assert sum(groups[g][j][0] for g, j in tags) == pytest.approx(value)


def test_trials_are_independent_and_deterministic(base_graph, transfer_data) -> None:
    xtr, ytr, _, _ = transfer_data
    layers = contrib.trainable_layers(base_graph)
    data = contrib.prepare_trials(base_graph, xtr, ytr, layers[-3], steps=12, n_val=16, lr=0.05)
    t = contrib.Trial(2, ((layers[-1], 0.5),))
    a, b = contrib.run_trial(data, t), contrib.run_trial(data, t)
    assert a == b
    # the cached prefix changes nothing: the same scheme on the full oracle gives the same accuracy
    from tiny.passes.sparse_update import plan_training
    from tiny.reference.train import TrainOracle
    o = TrainOracle(plan_training(base_graph, contrib.updates_for(base_graph, 2, {layers[-1]: 0.5})), lr=0.05)
    n = len(xtr)
    idx = np.random.default_rng(0).permutation(n)
    vi, ti = idx[:16], idx[16:28]
    for i in ti:
        o.step(xtr[i:i + 1], int(ytr[i]))
    acc = np.mean([o.predict(xtr[i:i + 1]) == ytr[i] for i in vi])
    assert a["accuracy"] == pytest.approx(acc, abs=0)


def test_search_fits_budget_and_equals_firmware_count(base_graph, small_contrib) -> None:
    g, c = base_graph, small_contrib
    arena = contrib.forward_arena_for_search(g, "host", "layer", 0)
    everything = contrib.scheme_peak(g, max(c.bias), {i: 1.0 for i, _ in c.weight}, arena)
    head = contrib.trainable_layers(g)[-1]
    smallest = contrib.scheme_peak(g, 1, {head: 1.0}, arena)
    budget = (everything + smallest) // 2
    s = contrib.search(g, c, budget, arena)
    assert s.train_peak_sram_bytes <= budget
    cfg = load_config("sparse", shadow=False)       # (the search counts no weight shadow: it comes after)
    cfg.scheme = s
    tc = compile_train(g, "host", cfg)
    assert tc.train_memory["train_peak_sram_bytes"] == s.train_peak_sram_bytes
    assert _firmware_sram_bytes(tc) == s.train_peak_sram_bytes
    # no fitting scheme of one bias choice + one weight option scores higher (beyond the tie margin)
    assert s.weights[head] == 1.0          # the classifier always trains
    for k in sorted(c.bias):
        for i, r in c.weight:
            if c.weight[(i, r)]["score"] > 0 and contrib.scheme_peak(g, k, {head: 1.0, i: r}, arena) <= budget:
                single = c.bias[k]["score"] + c.weight[(i, r)]["score"]
                assert s.gain >= single - 0.5 / c.n_val - 1e-9   # (ties within half a sample: least memory)
    with pytest.raises(TinyError, match=r"no sparse scheme fits the training budget of 100 B"):
        contrib.search(g, c, 100, arena)


@pytest.mark.parametrize("board", ["host", pytest.param("qemu-m4-256k", marks=pytest.mark.qemu)])
def test_searched_scheme_bit_exact(base_graph, transfer_data, board: str) -> None:
    """A scheme as the search builds them (partial channels, frozen layers inside the backward) on
    the board ends with the oracle's weights bit for bit."""
    xtr, ytr, _, _ = transfer_data
    g = base_graph
    layers = contrib.trainable_layers(g)
    cfg = load_config("sparse", lr=0.05)
    # partial channels on two layers, and a frozen depthwise between them and the head
    cfg.scheme = contrib.Scheme(bias_last=1, weights={layers[-1]: 0.5, layers[-4]: 0.25}, gain=0.0,
                                train_peak_sram_bytes=0, budget_bytes=0)
    tc = compile_train(g, board, cfg)
    frozen = [s.op for s in tc.train_plan.steps if s.kind in ("conv", "dw") and s.update is None]
    assert frozen, "the scheme should put a frozen layer inside the backward"
    oracle = oracle_for(tc)
    with open_session(tc, board) as sess:
        dev = TrainDevice(sess, len(tc.param_names))
        for i in range(20):
            r = dev.step(xtr[i:i + 1], int(ytr[i]), i)
            ro = oracle.step(xtr[i:i + 1], int(ytr[i]))
            assert r["pred"] == ro["pred"]
        ck = dev.checkpoint()
    assert_same_as_oracle(tc, ck, oracle)
    w0 = g.tensors[g.ops[layers[-4]].inputs[1]].data
    assert (oracle.params[layers[-4]]["filter"] != w0).any()


def test_resolve_scheme_report_and_cache(base_graph, transfer_data, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TINY_CACHE", str(tmp_path))
    xtr, ytr, _, _ = transfer_data
    logs: list[str] = []
    kw = dict(steps=8, n_val=8, max_layers=2)
    cfg = contrib.resolve_scheme(base_graph, load_config("sparse", search=True), "qemu-m4-256k", xtr, ytr,
                                 log=logs.append, **kw)
    r = cfg.scheme_report
    assert r["train_peak_sram_bytes"] <= r["budget_bytes"] and not r["cached"]
    assert {L["op"] for L in r["layers"]} == {u.op for u in contrib.updates_for(base_graph, r["bias_last"],
                                                                                 cfg.scheme.weights)}
    again = contrib.resolve_scheme(base_graph, load_config("sparse", search=True), "qemu-m4-256k", xtr, ytr,
                                   log=logs.append, **kw)
    assert again.scheme_report["cached"] and again.scheme.weights == cfg.scheme.weights
    # `search = false` and explicit settings keep the fixed scheme; the plain recipe searches
    for fixed in (load_config("sparse", search=False), load_config("sparse", bias_last=2, search=True)):
        assert contrib.resolve_scheme(base_graph, fixed, "host", xtr, ytr, **kw) is fixed and fixed.scheme is None
    assert load_config("sparse").searches() and not load_config("head").searches()


def test_default_search_gives_up_on_slow_models(base_graph, transfer_data, tmp_path, monkeypatch) -> None:
    """The default search estimates its host time from the model (deterministic) and keeps the fixed
    scheme, saying why, when it is over the limit; `search = true` searches whatever it costs."""
    monkeypatch.setenv("TINY_CACHE", str(tmp_path))
    xtr, ytr, _, _ = transfer_data
    kw = dict(steps=8, n_val=8, max_layers=2)
    est = contrib.search_seconds(base_graph, 0, 1000)
    assert est == pytest.approx(1000 * (1.5e-3 + 1.5e-9 * sum(contrib_macs(base_graph))))
    monkeypatch.setattr(contrib, "SEARCH_TIME_LIMIT_S", 1e-6)
    logs: list[str] = []
    cfg = contrib.resolve_scheme(base_graph, load_config("sparse"), "host", xtr, ytr, log=logs.append, **kw)
    assert cfg.scheme is None and "would take" in cfg.scheme_report["skipped"]
    assert any("training the fixed sparse scheme" in m for m in logs)
    from tiny.train.report import scheme_lines
    assert "the fixed one" in scheme_lines(cfg.scheme_report)[0]
    cfg = contrib.resolve_scheme(base_graph, load_config("sparse", search=True), "host", xtr, ytr, log=logs.append, **kw)
    assert cfg.scheme is not None


def contrib_macs(g) -> list[int]:
    from tiny.analysis import op_macs
    return [op_macs(g, op) for op in g.ops]



def test_verification_trial_is_the_run_in_miniature(base_graph, transfer_data) -> None:
    """A verification trial = the board's run on the analysis split: the run's lr with warm-up and
    cosine decay, its weight headroom on the trained channels. Checked against a TrainOracle built
    independently from those pieces (tiny.train.headroom, tiny.train.schedule)."""
    from tiny.passes.sparse_update import plan_training
    from tiny.reference.train import TrainOracle
    from tiny.train.headroom import with_headroom
    from tiny.train.schedule import lrs
    xtr, ytr, _, _ = transfer_data
    g = base_graph
    layers = contrib.trainable_layers(g)
    s = contrib.Scheme(1, {layers[-1]: 1.0, layers[-3]: 0.5}, 0.0, 0, 0)
    steps, n_val = 24, 16
    got = contrib.verify(g, xtr, ytr, [s], steps, n_val, lr=0.05, headroom=4.0, use_cache=False)[0]
    # independently: the same split as prepare_trials (seed 0), full forward from the input
    idx = np.random.default_rng(0).permutation(len(xtr))
    nv = min(n_val, len(xtr) // 4)
    vi, ti = idx[:nv], np.resize(idx[nv:], steps) if len(idx) - nv < steps else idx[nv:nv + steps]
    upd = contrib.updates_for(g, 1, s.weights)
    gh = with_headroom(g, {u.op: u.weight_channels for u in upd if u.weight_channels}, 4.0)
    assert gh is not g
    o = TrainOracle(plan_training(gh, upd), lr=0.05)
    for i, (j, lr) in enumerate(zip(ti, lrs(steps, 0.05, "cosine"))):
        o.step(xtr[j:j + 1], int(ytr[j]), lr=lr)
    hits = sum(o.predict(xtr[j:j + 1]) == int(ytr[j]) for j in vi)
    assert got["accuracy"] == hits / nv
    # and it is not the constant-rate, no-headroom trial
    plain = contrib.run_trial(contrib.prepare_trials(g, xtr, ytr, 0, steps, n_val, 0.05),
                              contrib.Trial(1, tuple(sorted(s.weights.items()))))
    assert plain["loss"] != got["loss"]


def test_resolve_scheme_verifies_candidates_and_the_fixed_scheme(base_graph, transfer_data, tmp_path,
                                                                 monkeypatch) -> None:
    from tiny.train.config import fixed_sparse_scheme
    monkeypatch.setenv("TINY_CACHE", str(tmp_path))
    xtr, ytr, _, _ = transfer_data
    cfg = contrib.resolve_scheme(base_graph, load_config("sparse", search=True), "qemu-m4-256k", xtr, ytr,
                                 log=lambda m: None, run_steps=40, steps=8, n_val=8, max_layers=2)
    r = cfg.scheme_report
    v = r["verified"]
    fb, fw = fixed_sparse_scheme(base_graph)
    fixed = [x for x in v if x["source"] == "fixed"]
    assert len(fixed) == 1 and fixed[0]["bias_last"] == fb and fixed[0]["weights"] == {f"#{k}": w for k, w in sorted(fw.items())}
    assert r["verify_steps"] == 40 and len({(x["bias_last"], tuple(x["weights"].items())) for x in v}) == len(v) >= 2
    assert all(x["train_peak_sram_bytes"] <= r["budget_bytes"] for x in v)
    chosen = [x for x in v if x["chosen"]]
    # the best held-back accuracy, or the fixed scheme when no searched one beats it significantly
    top = max(x["heldout_accuracy"] for x in v)
    assert len(chosen) == 1 and (chosen[0]["heldout_accuracy"] == top or
                                 (chosen[0]["source"] == "fixed" and "fixed_kept" in r))
    assert (chosen[0]["bias_last"], chosen[0]["weights"]) == (cfg.scheme.bias_last, cfg.scheme.config_weights())
    # a budget the fixed scheme does not fit leaves it out
    arena = contrib.forward_arena_for_search(base_graph, "qemu-m4-256k", "layer", 0)
    small = contrib.scheme_peak(base_graph, fb, fw, arena) - 1
    cfg = contrib.resolve_scheme(base_graph, load_config("sparse", search=True), "qemu-m4-256k", xtr, ytr,
                                 sram_budget=small, log=lambda m: None, run_steps=40, steps=8, n_val=8, max_layers=2)
    v = cfg.scheme_report["verified"]
    assert all(x["source"] != "fixed" for x in v) and cfg.scheme.train_peak_sram_bytes <= small
    # ... or rather, shrunk until it fits, two ways: the lowest layer below the classifier gives up
    # channels first (the bias set kept), or the bias set halves first (the weights kept)
    fitted = [x for x in v if x["source"] == "fixed, fitted to the budget"]
    assert 1 <= len(fitted) <= 2 and all(x["train_peak_sram_bytes"] <= small for x in fitted)
    low = min(fw)
    ways = set()
    for x in fitted:
        got = {int(k[1:]): r for k, r in x["weights"].items()}
        if x["bias_last"] == fb:
            assert got.get(low, 0.0) < fw[low] and all(got[i] == fw[i] for i in fw if i != low)
            ways.add("channels")
        else:
            assert x["bias_last"] < fb and got == fw
            ways.add("biases")
    assert len(ways) == len(fitted)


# ------------------------------------------------------------------ training-aware schedule
@pytest.fixture(scope="module")
def mbv2_96():
    from tests import models
    from tiny.pipeline import load_model
    return load_model(models.mobilenet_v2(0.35, 75, 61))


def test_auto_schedule_counts_training_memory(mbv2_96) -> None:
    from tiny.passes.patch import usable_sram
    from tiny.boards import get_board
    cfg = load_config("sparse")
    budget = usable_sram(get_board("qemu-m4-256k"))
    tc = compile_train(mbv2_96, "qemu-m4-256k", cfg, "auto")
    assert tc.train_memory["train_peak_sram_bytes"] <= budget
    with pytest.raises(TinyError, match=r"SRAM budget of 20,000 B.*backward workspace alone"):
        compile_train(mbv2_96, "qemu-m4-256k", cfg, "auto", 20000)


@pytest.mark.slow
def test_auto_schedule_tight_budget_fits_or_errors(mbv2_96) -> None:
    cfg = load_config("sparse")
    m = compile_train(mbv2_96, "qemu-m4-256k", cfg, "auto").train_memory
    fixed = m["train_peak_sram_bytes"] - max(m["forward_arena_bytes"], m["backward_workspace_bytes"])
    tight = fixed + max(m["backward_workspace_bytes"], 40000)
    try:
        tc2 = compile_train(mbv2_96, "qemu-m4-256k", cfg, "auto", tight)
        assert tc2.train_memory["train_peak_sram_bytes"] <= tight
    except TinyError as e:
        assert f"{tight:,} B" in str(e) and "smallest training peak found is" in str(e)


def test_the_fixed_scheme_stays_unless_significantly_beaten() -> None:
    """z-test of two accuracies on n held-back samples: (a - b) / sqrt((a(1-a) + b(1-b)) / n) > 1.96."""
    src = ["searched", "searched", "fixed"]
    res = lambda a, b, c: [{"accuracy": a, "loss": 1.0}, {"accuracy": b, "loss": 1.0}, {"accuracy": c, "loss": 1.0}]  # noqa: E731
    # digits-transfer at 960 steps: 54.3 vs 50.8 % on 256 samples: z = 0.035 / 0.0441 = 0.79 (1.96 SE = 8.6 %)
    i, why = contrib.choose_verified(src, res(0.543, 0.40, 0.508), 256)
    assert i == 2 and "50.8%" in why and "54.3%" in why and "8.6%" in why
    # digits-newclasses: 73.1 vs 60.0 %: z = 0.131 / 0.0413 = 3.2
    assert contrib.choose_verified(src, res(0.731, 0.5, 0.600), 256) == (0, None)
    # the same gap on 16 samples is noise
    assert contrib.choose_verified(src, res(0.731, 0.5, 0.600), 16)[0] == 2
    # the fixed scheme winning outright, or fitted to the budget
    assert contrib.choose_verified(src, res(0.5, 0.4, 0.6), 256) == (2, None)
    fit = ["searched", "fixed, fitted to the budget", "fixed, fitted to the budget"]
    i, why = contrib.choose_verified(fit, res(0.55, 0.50, 0.52), 256)
    assert i == 2 and "fitted" in why
    assert contrib.choose_verified(["searched", "searched"], res(0.5, 0.6, 0.0)[:2], 256) == (1, None)


def test_sparse_default_adds_the_weight_shadow_only_when_it_fits(base_graph, small_contrib) -> None:
    """The sparse recipe's shadow (None in its defaults): on when the scheme's training still fits the
    budget with it, else off with a log line; the firmware's own count is the judge."""
    g, c = base_graph, small_contrib
    arena = contrib.forward_arena_for_search(g, "host", "layer", 0)
    head = contrib.trainable_layers(g)[-1]
    s = contrib.search(g, c, contrib.scheme_peak(g, 2, {head: 1.0}, arena), arena)
    cfg = load_config("sparse")
    assert cfg.shadow is None
    cfg.scheme = s
    on = load_config("sparse", shadow=True)
    on.scheme = s
    shadow = compile_train(g, "host", on).train_memory["shadow_bytes"]
    assert shadow > 0
    peak = s.train_peak_sram_bytes
    said: list[str] = []
    tc = compile_train(g, "host", cfg, sram_budget=peak + shadow - 1, log=said.append)
    assert not tc.train_plan.shadow and tc.train_memory["train_peak_sram_bytes"] == peak
    assert said and "no weight shadow" in said[0] and f"{peak + shadow:,} B" in said[0]
    tc = compile_train(g, "host", cfg, sram_budget=peak + shadow)
    assert tc.train_plan.shadow and tc.train_memory["train_peak_sram_bytes"] == peak + shadow
    assert _firmware_sram_bytes(tc) == peak + shadow


def test_trials_train_with_the_runs_headroom(tmp_path, monkeypatch) -> None:
    """A user's shapes model (tests/models.py user_shapes_cnn) is confidently wrong on its new domain:
    its int8 logits sit at the limits of their grid. Trials without the classifier's weight and logit
    headroom could not move the held-back accuracy (every gain 0, and the search kept a classifier-only
    scheme: 83 % where schemes with conv weights reach 93-99 %); with it, the top conv's weights
    show their gain. The trials take it when the untrained logits saturate (not on digits-transfer,
    where it cost the chosen schemes points); resolve_scheme passes the config's classifier headroom
    (the layers below keep their grid in the trials)."""
    from tests import models
    from tiny.pipeline import load_model
    from tiny.train import data as tdata
    monkeypatch.setenv("TINY_CACHE", str(tmp_path))
    g = load_model(models.user_shapes_cnn())
    _, xtr, ytr, _, _ = tdata.model_data(g, str(models.user_shapes_task(tmp_path / "b.npz")), None,
                                         warn=lambda m: None)
    top = contrib.trainable_layers(g)[-2]
    gains = {}
    for h, bh in ((1.0, None), (4.0, 1.0)):
        c = contrib.analyse(g, xtr, ytr, lr=contrib.ANALYSIS_LR, max_layers=1, log=lambda m: None,
                            headroom=h, body_headroom=bh)
        gains[h] = c.weight[(top, 1.0)]["gain"]
        assert c.logit_saturation > 0.9 and c.trial_headroom == h       # measured 98 % at +127
    assert gains[1.0] == 0.0 and gains[4.0] >= 0.06     # measured 0 and 0.125 (16 of 128 samples)
    from tiny.pipeline import load_model as lm
    base = lm(tdata.base_model())
    _, xd, yd, _, _ = tdata.model_data(base, "digits-transfer", None, warn=lambda m: None)
    c = contrib.analyse(base, xd[:200], yd[:200], steps=8, n_val=32, max_layers=1, log=lambda m: None, headroom=4.0)
    assert c.logit_saturation == 0.0 and c.trial_headroom == 1.0
    seen = {}

    def spy(*a, **kw):
        seen.update(kw)
        raise contrib.SearchTooSlow("stop here")
    monkeypatch.setattr(contrib, "analyse", spy)
    cfg = load_config("sparse")
    contrib.resolve_scheme(g, cfg, "host", xtr, ytr, log=lambda m: None)
    assert (seen["headroom"], seen["body_headroom"]) == (cfg.headroom, 1.0) and cfg.headroom == 4.0
