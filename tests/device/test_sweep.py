"""`tiny sweep` on a local Ray and a two-board QEMU farm: the same numbers as the single commands."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.models import custom_cnn, mobilenet_v2, tiny_cnn

pytestmark = [pytest.mark.qemu, pytest.mark.xdist_group("ray")]

BOARDS = ["qemu-m4-256k", "qemu-f405", "qemu-m33"]
SCHEDULES = ["layer", "patch", "auto"]


@pytest.fixture(scope="module")
def ray_session():
    from tiny.sweep import shutdown
    yield
    shutdown()


def test_sweep_rows_equal_the_single_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ray_session) -> None:
    from tiny.bench import bench
    from tiny.cli import main
    from tiny.report import report
    from tiny.sweep.summary import best_per_board
    monkeypatch.setenv("TINY_CACHE", str(tmp_path / "cache"))      # sweep row cache only; models stay put
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"\x00" * 64)
    models = [str(tiny_cnn()), str(custom_cnn()), str(mobilenet_v2(0.35, 48, 48)), str(broken)]
    out = tmp_path / "rows.json"

    def run() -> list[dict]:
        import contextlib
        import io
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            rc = main(["sweep", "--models", *models, "--boards", *BOARDS, "--schedules", *SCHEDULES, "--bench",
                       "--workers", "2", "--json", "--csv", str(tmp_path / "rows.csv"),
                       "--plot", str(tmp_path / "pareto.png")])
        assert rc == 1                       # the broken model's cells failed; the sweep went on
        out.write_text(buf.getvalue())
        return json.loads(buf.getvalue())

    rows = run()
    assert len(rows) == 4 * 3 * 3
    bad = [r for r in rows if r["model_path"] == str(broken)]
    assert len(bad) == 9 and all("TFL3" in r["error"] for r in bad)
    good = [r for r in rows if r["model_path"] != str(broken)]
    assert all("error" not in r for r in good), [r["error"] for r in good if "error" in r]
    # every row: what `tiny report` says for its cell
    for r in good:
        want, _ = report(r["model_path"], r["board"], r["schedule"])
        for k in ("fits", "peak_sram_bytes", "flash_bytes", "macs", "layer_based_peak_bytes"):
            assert r[k] == want[k], (r["model"], r["board"], r["schedule"], k)
    # instruction counts: what `tiny bench` says, for one cell per board (each a different schedule)
    for board, schedule, model in zip(BOARDS, SCHEDULES, models):
        r = next(x for x in good if (x["board"], x["schedule"], x["model_path"]) == (board, schedule, model))
        want, _ = bench(model, board, schedule)
        assert (r["instructions"], r["est_cycles"]) == (want["instructions"], want["est_cycles"])
    # the best row per board fits and no fitting row of that board is cheaper
    best = best_per_board(good)
    assert set(best) == set(BOARDS)
    for b, r in best.items():
        assert all(x["est_cycles"] >= r["est_cycles"] for x in good if x["board"] == b and x["fits"])
    assert (tmp_path / "pareto.png").stat().st_size > 10_000
    assert len((tmp_path / "rows.csv").read_text().splitlines()) == 1 + len(rows)
    # a re-run computes nothing new: the good cells come from the cache, the same rows
    again = run()
    assert [r for r in again if "error" not in r] == good


def test_a_two_board_farm_gives_the_verdict_of_one_board(tmp_path: Path, ray_session) -> None:
    from tiny.compare import random_inputs, validate
    from tiny.farm import load_farm, validate_on_farm
    from tiny.pipeline import load_model
    from tiny.workflow import compile_for, open_session
    farm = tmp_path / "farm.toml"
    farm.write_text('[[board]]\nboard = "qemu-m4-256k"\ncount = 2\n')
    model, board, n = str(custom_cnn()), "qemu-m4-256k", 6
    got = validate_on_farm(model, board, load_farm(farm), n, chunk=2)
    g = load_model(model)
    c = compile_for(g, board)
    xs = [random_inputs(g, s) for s in range(n)]
    with open_session(c, board, samples=xs) as s:
        want = validate(g, s, board, n, inputs=xs, readable=c.readable_ops)
    assert got.as_json() == want.as_json()
    assert got.samples == n and got.bit_exact


def test_bench_on_a_two_board_farm_equals_one_bench(tmp_path: Path, ray_session) -> None:
    """`tiny bench --farm`: every emulated instance counts what a single `tiny bench` counts."""
    from tiny.bench import bench
    from tiny.farm import bench_on_farm, load_farm
    farm = tmp_path / "farm.toml"
    farm.write_text('[[board]]\nboard = "qemu-m4-256k"\ncount = 2\n')
    model = str(tiny_cnn())
    got, text = bench_on_farm(model, "qemu-m4-256k", load_farm(farm))
    want, _ = bench(model, "qemu-m4-256k")
    assert [r["instructions"] for r in got["boards"]] == [want["instructions"]] * 2
    assert got["identical"] and got["instructions_median"] == want["instructions"]
    assert [L["instructions"] for L in got["layers"]] == [L["instructions"] for L in want["layers"]]
    assert "2 x qemu-m4-256k" in text


def test_training_on_a_two_board_farm_equals_one_run(tmp_path: Path, ray_session) -> None:
    """`tiny train --farm`: both emulated boards run the prepared run and end with the weights (and
    accuracies) of a single `tiny train`, bit for bit; the fine-tuned .tflite is that run's."""
    from tiny.farm import load_farm, train_on_farm
    from tiny.train.run import run_training
    farm = tmp_path / "farm.toml"
    farm.write_text('[[board]]\nboard = "qemu-m4-256k"\ncount = 2\n')
    kw = dict(model=None, recipe="sparse", data="digits-transfer", steps=40, eval_samples=30)
    got = train_on_farm(load_farm(farm), "qemu-m4-256k", kw, count_steps=0, float_reference=False,
                        checkpoint_every=15, out=tmp_path / "farm")
    want = run_training(board="qemu-m4-256k", count_steps=0, float_reference=False, checkpoint_every=15,
                        out=tmp_path / "one", **kw)
    fm = got.data["farm"]
    assert fm["farm_boards"] == 2 and fm["identical"] and fm["differing_entries"] == []
    assert got.checkpoint.params == want.checkpoint.params and got.checkpoint.steps == 40
    for r in fm["boards"]:
        assert (r["accuracy_before"], r["accuracy_after"]) == (want.data["accuracy_before"], want.data["accuracy_after"])
    assert Path(got.data["output"]).read_bytes() == Path(want.data["output"]).read_bytes()


def test_train_farm_without_the_board_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from tiny.cli import main
    farm = tmp_path / "farm.toml"
    farm.write_text('[[board]]\nboard = "qemu-f405"\n')
    assert main(["train", "--board", "qemu-m4-256k", "--farm", str(farm), "--steps", "5"]) != 0
    assert "the farm has no qemu-m4-256k: it has qemu-f405" in capsys.readouterr().err
    assert main(["train", "--farm", str(farm), "--port", "/dev/ttyACM0", "--steps", "5"]) != 0
    assert "--farm and --port" in capsys.readouterr().err


class _Faulty:
    """A host session whose outputs are damaged for some inputs (keyed by content, so chunks see the
    same faults as one run)."""

    def __init__(self, s, bad: set[bytes]) -> None:
        self.s, self.bad = s, bad

    def run(self, xs):
        outs = self.s.run(xs)
        if xs[0].tobytes() in self.bad:
            b = bytearray(outs[0])
            b[0] = (b[0] + 3) % 256
            outs = [bytes(b)] + list(outs[1:])
        return outs

    def __getattr__(self, k):
        return getattr(self.s, k)


def test_chunk_results_merge_into_the_serial_result() -> None:
    from tiny.compare import random_inputs, validate
    from tiny.farm import merge
    from tiny.pipeline import load_model
    from tiny.workflow import compile_for, open_session
    g = load_model(tiny_cnn())
    c = compile_for(g, "host")
    xs = [random_inputs(g, s) for s in range(7)]
    bad = {xs[3][0].tobytes(), xs[5][0].tobytes()}
    with open_session(c, "host") as s:
        f = _Faulty(s, bad)
        serial = validate(g, f, "host", 7, inputs=xs)
        parts = [validate(g, f, "host", len(ch), inputs=ch) for ch in (xs[0:2], xs[2:4], xs[4:7])]
    merged = merge(parts)
    assert not serial.bit_exact and serial.device.mismatched == 2
    assert merged.as_json() == serial.as_json()


def test_farm_file_errors_are_clear(tmp_path: Path) -> None:
    from tiny.farm import load_farm
    from tiny.ir import TinyError
    cases = {'[[board]]\nboard = "nucleo_f746zg"\n': "real board and needs port",
             '[[board]]\nboard = "qemu-m4-256k"\ncount = 0\n': "count must be >= 1",
             '[[board]]\nname = "x"\n': 'needs board = "NAME"',
             "": "no \\[\\[board\\]\\] entries", "[[board": "not valid TOML"}
    for i, (text, msg) in enumerate(cases.items()):
        p = tmp_path / f"f{i}.toml"
        p.write_text(text)
        with pytest.raises(TinyError, match=msg):
            load_farm(p)
    p = tmp_path / "ok.toml"
    p.write_text('[[board]]\nboard = "qemu-m4-256k"\ncount = 2\n[[board]]\nboard = "nucleo_f746zg"\n'
                 'port = "socket://127.0.0.1:7000"\n')
    assert [(f.board, f.port) for f in load_farm(p)] == [("qemu-m4-256k", None)] * 2 + [
        ("nucleo_f746zg", "socket://127.0.0.1:7000")]


def test_best_and_pareto_on_hand_made_rows() -> None:
    from tiny.sweep.summary import best_per_board, pareto
    rows = [dict(model="a", board="b1", schedule="layer", fits=False, peak_sram_bytes=300, est_cycles=10, macs=1),
            dict(model="a", board="b1", schedule="patch", fits=True, peak_sram_bytes=100, est_cycles=14, macs=1),
            dict(model="a", board="b1", schedule="auto", fits=True, peak_sram_bytes=200, est_cycles=12, macs=1),
            dict(model="b", board="b1", schedule="auto", fits=True, peak_sram_bytes=250, est_cycles=13, macs=1),
            dict(model="a", board="b2", schedule="layer", fits=False, peak_sram_bytes=300, est_cycles=10, macs=1),
            dict(model="c", board="b2", schedule="layer", error="boom")]
    best = best_per_board(rows)
    assert set(best) == {"b1"} and best["b1"]["schedule"] == "auto" and best["b1"]["model"] == "a"
    # (250, 13) is beaten by (200, 12); the rest trade SRAM for cycles (the two equal points both stay)
    assert [(r["peak_sram_bytes"], r["est_cycles"], r["board"]) for r in pareto(rows)] == [
        (100, 14, "b1"), (200, 12, "b1"), (300, 10, "b1"), (300, 10, "b2")]
    assert np.isfinite(sum(r["peak_sram_bytes"] for r in pareto(rows)))


def test_shared_runner_equals_the_serial_loop(ray_session) -> None:
    from tiny.sweep.engine import shared_runner
    shared = np.arange(1000, dtype=np.int64)
    items = list(range(9))
    run = shared_runner(_weighted, workers=2)
    assert run(shared, items) == [_weighted(shared, k) for k in items]


def _weighted(shared: np.ndarray, k: int) -> int:
    return int((shared[k::9] * (k + 1)).sum())


def test_lr_auto_candidates_on_ray_equal_the_serial_search(ray_session) -> None:
    """tiny train --workers N runs the --lr auto candidates as Ray tasks: same rates, same scores."""
    from tiny.pipeline import load_model
    from tiny.sweep.engine import shared_runner
    from tiny.train import data as tdata
    from tiny.train.api import training_plan
    from tiny.train.config import load_config
    from tiny.train.lr_search import _lr_trial, search_lr
    g = load_model(tdata.base_model())
    t = g.tensors[g.inputs[0]]
    x, y, xv, yv = tdata.load("digits-transfer", t.shape, t.quant.s(), t.quant.zp(), 10)
    plan = training_plan(g, load_config("head"))
    args = (plan, 0.01, 0.9, True, "stochastic", x[:300], y[:300], xv[:80], yv[:80])
    serial = search_lr(*args, max_steps=120, log=lambda m: None)
    on_ray = search_lr(*args, max_steps=120, log=lambda m: None, runner=shared_runner(_lr_trial, workers=2))
    assert on_ray == serial
    assert len({a for _, a in serial[1]}) > 1      # the candidates really differ: the search decides
