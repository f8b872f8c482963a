"""The HTML report, rendered in a real browser (headless Debian Chromium over the DevTools pipe):
no console errors, no network requests, every figure decodes, the key numbers are on the page.
Also `tiny report --json` with a patch schedule and `--plot`."""
from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import pytest

from tests import models
from tiny import html_report
from tiny.browser import Chromium, find_chromium
from tiny.cli import main

BOARD = "qemu-m4-256k"

needs_chromium = pytest.mark.skipif(find_chromium() is None,
                                    reason="chromium not installed (Debian packages chromium chromium-driver; "
                                    "`make setup` installs them)")


def _png_size(p: Path) -> tuple[int, int]:
    head = p.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", p
    return struct.unpack(">II", head[16:24])


def _fake_bench(data: dict) -> dict:
    """A bench result shaped like `tiny bench --json` (the live one needs QEMU; see the qemu test)."""
    layers = []
    for L in data["layers"]:
        ins = 3 * L["macs"] + 400
        layers.append({"index": L["index"], "op": L["op"], "name": L["name"], "macs": L["macs"],
                       "instructions": ins, "est_cycles": int(ins * 1.3),
                       "instructions_per_mac": round(ins / L["macs"], 3) if L["macs"] else None})
    total = sum(L["instructions"] for L in layers)
    return {"model": data["model"], "board": BOARD, "schedule": "patch", "kernels": "opt", "instructions": total,
            "est_cycles": int(total * 1.3), "macs": data["macs"], "cycles_per_instruction": 1.3,
            "instructions_per_mac": round(total / data["macs"], 3), "layers": layers}


def _training(data: dict) -> dict:
    ops = data["layers"]
    def run(recipe: str, after: float, scale: float) -> dict:
        return {"recipe": recipe, "data": "digits-transfer", "steps": 120, "epochs": 3,
                "accuracy_before": 0.41, "accuracy_after": after, "train_peak_sram_bytes": int(40000 * scale),
                "layers": [{"index": L["index"], "op": L["op"], "name": L["name"],
                            "trained": "weights+bias" if i >= len(ops) - 2 else ("bias" if L["weight_bytes"] else "frozen"),
                            "fraction": 0.5 if i == len(ops) - 2 else 1.0, "update_bytes": L["weight_bytes"]}
                           for i, L in enumerate(ops)],
                "train_blocks": [{"name": f"block{i}", "vanilla_backward_bytes": 9000 + 1000 * i,
                                  "backward_bytes": int((9000 + 1000 * i) * scale)} for i in range(4)],
                "curve": {"step": [0, 40, 80, 120], "accuracy": [0.41, 0.6, 0.7, after]}}
    return {"runs": [run("sparse", 0.78, 1.0), run("mobiletl", 0.76, 0.45)]}


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two pages: a bit-exact one with everything (bench, training, patch schedule), and one from a
    deliberately corrupted build whose first mismatching layer is drawn as a heat map."""
    from tiny.pipeline import load_model
    from tiny.report import report
    from tiny.workflow import compile_for, open_session
    out = tmp_path_factory.mktemp("html")
    model = str(models.custom_cnn())
    data, _ = report(model, BOARD, "patch")
    good = html_report.write_report(
        out / "good.html", model, BOARD, "patch", data=data, bench=_fake_bench(data),
        validation=html_report.run_validation(model, "host", 2, "patch"), training=_training(data),
        plot=out / "good.png")

    # Corrupt one requantization multiplier of a conv layer in the generated C (host board).
    g = load_model(model)
    c = compile_for(g, "host")
    target = next(op.index for op in g.ops if op.type == "CONV_2D" and op.index > 2)
    text = c.files["model.c"]
    m = re.search(rf"static const int32_t l{target}_multiplier\[\d+\] TINY_ALIGNED = {{\s*(-?\d+)", text)
    assert m
    c.files["model.c"] = text[:m.start(1)] + str(int(m.group(1)) // 2) + text[m.end(1):]
    from tiny.compare import validate
    with open_session(c, "host", project=out / "bad-project") as s:
        res = validate(g, s, "host", samples=1, readable=c.readable_ops)
        val = res.as_json()
        val["diff_map"] = html_report.mismatch_map(g, s, val["first_mismatch"]["layer"], 1)
    bad = html_report.write_report(out / "bad.html", model, "host", "layer", validation=val)
    return {"good": good, "bad": bad, "target": target, "dir": out, "data": data}


def test_report_is_self_contained(reports: dict) -> None:
    html = reports["good"].read_text()
    assert "<script" not in html.lower()
    # Every src/href is inline data or an in-page anchor: nothing to fetch.
    for url in re.findall(r'(?:src|href)="([^"]*)"', html):
        assert url.startswith(("data:", "#")), url
    assert "http://" not in html and "https://" not in html
    assert len(re.findall(r'src="data:image/png;base64,', html)) >= 5   # memory, compute, 2x blocks, accuracy


def test_plot_pngs_written_with_the_html(reports: dict) -> None:
    d = reports["dir"]
    for name in ("good.png", "good-compute.png", "good-accuracy.png", "good-train_blocks_0.png"):
        p = d / name
        assert p.exists() and p.stat().st_size > 10_000, p
        w, h = _png_size(p)
        assert w > 400 and h > 200


@needs_chromium
def test_report_in_headless_chromium(reports: dict) -> None:
    with Chromium() as b:
        b.open(reports["good"])
        imgs = b.evaluate("[...document.images].map(i => ({id: i.id, ok: i.complete, w: i.naturalWidth, "
                          "h: i.naturalHeight}))")
        assert len(imgs) >= 5
        assert all(i["ok"] and i["w"] > 0 and i["h"] > 0 for i in imgs), imgs
        keys = b.evaluate("Object.fromEntries([...document.querySelectorAll('[data-key]')]"
                          ".map(e => [e.dataset.key, [e.dataset.value, e.textContent.trim()]]))")
        d = reports["data"]
        peak = d["peak_sram_bytes"]
        assert int(keys["peak_sram_bytes"][0]) == peak > 0
        assert int(keys["patch_based_peak_bytes"][0]) == peak   # the patch schedule is the chosen one
        assert int(keys["layer_based_peak_bytes"][0]) == d["layer_based_peak_bytes"] > peak
        assert int(keys["tflm_arena_bytes"][0]) == d["tflm_arena_bytes"]
        assert keys["bit_exact"] == ["true", "BIT-EXACT"]
        assert int(keys["instructions"][0]) > 0
        text = b.evaluate("document.body.innerText").lower()   # card titles are upper-cased by CSS
        for needle in ("Memory: where SRAM goes", "Cortex-M floor is 0.5", "tiny_conv2d_s8", "mobiletl",
                       "bit_exact: true", "Patch-based peak"):
            assert needle.lower() in text, needle
        rows = b.evaluate("document.querySelectorAll('#layer-table tr').length")
        assert rows == len(d["layers"]) + 1   # header + one row per op
        layout = b.evaluate("[document.documentElement.scrollWidth, document.body.scrollHeight]")
        assert layout[1] > 1500
        assert b.errors == [], b.errors
        assert all(u.startswith("file://") for u in b.requests), b.requests

        b.open(reports["bad"])
        assert b.evaluate("document.querySelector('[data-key=bit_exact]').dataset.value") == "false"
        heat = b.evaluate("(() => { const i = document.getElementById('fig-diff'); "
                          "return i ? [i.complete, i.naturalWidth] : null })()")
        assert heat and heat[0] and heat[1] > 0
        text = b.evaluate("document.getElementById('validation').innerText")
        assert f"op #{reports['target']}" in text and "bit_exact: false" in text
        assert b.errors == [], b.errors


def test_cli_json_patch_keys(capsys: pytest.CaptureFixture) -> None:
    assert main(["report", str(models.custom_cnn()), "--board", BOARD, "--schedule", "patch", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    for k in ("patch_based_peak_bytes", "patch_mac_overhead", "split_after_op", "grid", "layer_based_peak_bytes",
              "tflm_arena_bytes", "peak_sram_bytes", "patch_grid"):
        assert k in d, k
    assert d["peak_sram_bytes"] == d["patch_based_peak_bytes"] < d["layer_based_peak_bytes"]
    assert d["patch_mac_overhead"] > 0
    grid = d["patch_grid"]
    n = grid["n"][0] * grid["n"][1]
    assert n == len(grid["input_windows"]) == len(grid["core_windows"]) > 1
    h, w = grid["input_hw"]
    # Cores tile the image exactly; every window contains its core (the halo).
    assert sum((r1 - r0) * (c1 - c0) for r0, r1, c0, c1 in grid["core_windows"]) == h * w
    for (a0, a1, b0, b1), (r0, r1, c0, c1) in zip(grid["input_windows"], grid["core_windows"]):
        assert a0 <= r0 < r1 <= a1 and b0 <= c0 < c1 <= b1
    split = d["split_after_op"]
    for L in d["layers"]:
        assert {"layer_live_bytes", "patch_live_bytes", "kernel"} <= set(L)
        assert L["in_patch_stage"] == (L["index"] <= split)
        assert L["patch_live_bytes"] <= d["patch_based_peak_bytes"]
        assert L["layer_live_bytes"] <= d["layer_based_peak_bytes"]
    assert max(L["layer_live_bytes"] for L in d["layers"]) <= d["layer_based_peak_bytes"]
    assert any(L["kernel"] and L["kernel"].startswith("tiny_conv2d_s8") for L in d["layers"])


def test_cli_plot_and_html(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    png = tmp_path / "mem.png"
    assert main(["report", str(models.custom_cnn()), "--board", BOARD, "--schedule", "patch", "--plot", str(png)]) == 0
    assert png.stat().st_size > 20_000
    w, h = _png_size(png)
    assert w > 1000 and h > 300          # timeline + patch grid side by side
    capsys.readouterr()
    out = tmp_path / "r.html"
    bench = tmp_path / "bench.json"
    from tiny.report import report
    bench.write_text(json.dumps(_fake_bench(report(str(models.tiny_cnn()), BOARD)[0])))
    train = tmp_path / "train.json"
    train.write_text(json.dumps(_training(report(str(models.tiny_cnn()), BOARD)[0])["runs"][0]))
    assert main(["report", str(models.tiny_cnn()), "--board", BOARD, "--html", str(out), "--bench-json", str(bench),
                 "--training-json", str(train), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["html"] == str(out) and out.exists()
    html = out.read_text()
    assert 'id="fig-compute"' in html and 'id="fig-accuracy"' in html and "sparse" in html


@pytest.mark.qemu
@needs_chromium
def test_live_bench_and_validate_on_qemu(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """`--bench --validate` on the emulated board: real instruction counts and a real verdict."""
    out = tmp_path / "q.html"
    assert main(["report", str(models.tiny_cnn()), "--board", BOARD, "--html", str(out), "--bench",
                 "--validate", "1", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["validation"]["bit_exact"] and d["bench"]["instructions"] > 0
    with Chromium() as b:
        b.open(out)
        assert b.evaluate("document.querySelector('[data-key=bit_exact]').dataset.value") == "true"
        assert b.evaluate("document.getElementById('fig-compute').naturalWidth") > 0
        assert b.errors == []
