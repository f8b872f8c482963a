"""`tiny report --html`: one self-contained HTML page (inline CSS, figures as base64 PNG, no
scripts, no network) showing where memory and time go, what is trained, and whether the board is
bit-exact.

    write_report(out, model, board, schedule="layer", bench=..., validation=..., training=...) -> Path

Inputs besides the model (each optional, each a dict, or a path to a JSON file):

- `bench`: the JSON of `tiny bench` (per-layer `instructions`, `est_cycles`, `instructions_per_mac`).
- `validation`: the JSON of `tiny validate` (`bit_exact`, `samples`, `first_mismatch`, ...); it may
  carry `diff_map` = {layer, op, tensor, sample, abs_diff: 2-D list (|device - TFLM| max over
  channels)}, which `run_validation` fills on a mismatch and which is drawn as a heat map.
- `training`: one run or several, as a dict, a list of dicts or {"runs": [...]}. Each run:
    {"recipe": "sparse" | "bias" | "mobiletl" | "full" | any label,
     "data": "digits-transfer", "steps": int, "epochs": int,
     "accuracy_before": float, "accuracy_after": float,       # 0..1
     "train_peak_sram_bytes": int,
     "layers": [{"index": int, "name": str, "op": str,
                 "trained": "frozen" | "bias" | "weights" | "weights+bias" | free text,
                 "fraction": float (0..1, share of channels updated), "update_bytes": int}],
     "train_blocks": [{"name": str, "vanilla_backward_bytes": int, "backward_bytes": int}],
     "curve": {"step": [...], "accuracy": [...]}  # or a list of {"step", "accuracy"} / [step, acc]
    }
  Missing keys are simply not shown.
- `image`: an input image (H x W [x C] array) drawn under the patch grid.
"""
from __future__ import annotations

import base64
import datetime
import json
from pathlib import Path
from typing import Any

from tiny.ir import TinyError

TEMPLATE = Path(__file__).resolve().parent / "templates" / "report.html.j2"


def _load_json(x: Any) -> Any:
    if x is None or isinstance(x, (dict, list)):
        return x
    p = Path(x)
    if not p.exists():
        raise TinyError(f"{p}: no such file")
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise TinyError(f"{p}: not JSON ({e})") from None


def training_runs(training: Any) -> list[dict[str, Any]]:
    t = _load_json(training)
    if not t:
        return []
    if isinstance(t, dict) and "runs" in t:
        t = t["runs"]
    runs = t if isinstance(t, list) else [t]
    out = []
    for i, r in enumerate(runs):
        r = dict(r)
        r.setdefault("recipe", f"run {i + 1}")
        for k in ("accuracy_before", "accuracy_after", "steps", "epochs", "data", "train_peak_sram_bytes",
                  "layers", "train_blocks"):
            r.setdefault(k, None)
        r["layers"] = [{"fraction": None, "update_bytes": None, "trained": None, "name": "", "op": "", **t}
                       for t in r["layers"] or []]
        r["curve_xy"] = _curve(r.get("curve") or r.get("history"))
        out.append(r)
    return out


def _curve(c: Any) -> tuple[list[float], list[float]] | None:
    if not c:
        return None
    if isinstance(c, dict):
        acc = c.get("accuracy") or c.get("acc") or []
        steps = c.get("step") or c.get("steps") or list(range(len(acc)))
        return list(steps), list(acc)
    steps, acc = [], []
    for i, p in enumerate(c):
        if isinstance(p, dict):
            steps.append(p.get("step", p.get("epoch", i)))
            acc.append(p["accuracy"])
        elif isinstance(p, (list, tuple)):
            steps.append(p[0])
            acc.append(p[1])
        else:
            steps.append(i)
            acc.append(p)
    return steps, acc


# ---------------------------------------------------------------- data collection
def merge_patch_alternative(data: dict[str, Any], model: str, board: str) -> dict[str, Any]:
    """For a layer schedule, add what the patch schedule would give, so the page compares both."""
    from tiny.report import report
    if data.get("patch_based_peak_bytes"):
        return data
    try:
        pdata, _ = report(model, board, "patch")
    except TinyError as e:
        data["patch_unavailable"] = str(e)
        return data
    if not pdata.get("patch_based_peak_bytes"):
        return data
    for k in ("patch_based_peak_bytes", "patch_mac_overhead", "split_after_op", "grid", "patch_grid",
              "patch_candidates"):
        if k in pdata:
            data[k] = pdata[k]
    for L, P in zip(data["layers"], pdata["layers"]):
        L["patch_live_bytes"] = P.get("patch_live_bytes", P["live_bytes"])
        L["in_patch_stage"] = P.get("in_patch_stage", False)
    data["patch_is_alternative"] = True
    return data


def run_bench(model: str, board: str, schedule: str = "layer", sram_budget: int | None = None) -> dict[str, Any]:
    from tiny.bench import bench
    data, _ = bench(model, board, schedule, sram_budget)
    return data


def run_validation(model: str, board: str, samples: int, schedule: str = "layer",
                   sram_budget: int | None = None) -> dict[str, Any]:
    """`tiny validate` on the board; on a mismatch, the |diff| map of the first bad tensor."""
    from tiny.compare import validate
    from tiny.pipeline import load_model
    from tiny.workflow import compile_for, open_session
    g = load_model(model)
    c = compile_for(g, board, schedule, sram_budget)
    with open_session(c, board) as s:
        res = validate(g, s, board, samples, readable=c.readable_ops)
        data = res.as_json()
        fm = data.get("first_mismatch")
        if fm:
            dm = mismatch_map(g, s if fm.get("source") == "device" else None, fm["layer"], samples)
            if dm:
                data["diff_map"] = dm
    data["schedule"] = schedule
    return data


def mismatch_map(g: Any, session: Any, layer: int, samples: int) -> dict[str, Any] | None:
    """|got - TFLM| of op `layer`'s output for the first sample where they differ (device if a
    session is given, else the numpy reference), max over channels."""
    import numpy as np
    from tiny import interpreter, oracle
    from tiny.analysis import np_dtype
    from tiny.compare import random_inputs
    op = g.ops[layer]
    tid = op.outputs[0]
    t = g.tensors[tid]
    params = None if session is not None else interpreter.prepare_all(g)
    for seed in range(max(samples, 1)):
        xs = random_inputs(g, seed)
        want = oracle.run_all(g, xs)[tid]
        if session is not None:
            for i, x in enumerate(xs):
                session.write_input(i, x)
            session.invoke(stop_after=layer)
            got = np.frombuffer(session.read_tensor(tid, t.nbytes), dtype=np_dtype(t.dtype)).reshape(t.shape)
        else:
            got = interpreter.run_graph(g, xs, params)[tid]
        d = np.abs(got.astype(np.int64) - want.astype(np.int64))
        if not d.any():
            continue
        m = d[0].max(axis=-1) if d.ndim == 4 else d.reshape(1, -1)
        return {"layer": layer, "op": op.type, "tensor": t.name, "sample": seed,
                "source": "device" if session is not None else "reference",
                "mismatched_elements": int(np.count_nonzero(d)), "max_abs_diff": int(d.max()),
                "abs_diff": m.astype(int).tolist()}
    return None


def merge_bench(data: dict[str, Any], bench: dict[str, Any] | None) -> None:
    if not bench:
        return
    by = {L["index"]: L for L in bench.get("layers", [])}
    for L in data["layers"]:
        b = by.get(L["index"])
        if b:
            for k in ("instructions", "est_cycles", "instructions_per_mac"):
                L[k] = b.get(k)


# ---------------------------------------------------------------- rendering
def _img(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def figures(data: dict[str, Any], bench: dict[str, Any] | None, validation: dict[str, Any] | None,
            runs: list[dict[str, Any]], image: Any = None) -> dict[str, Any]:
    """Every figure of the report as a matplotlib Figure (keys: memory, compute, train_blocks_<i>,
    accuracy, diff)."""
    from tiny import plots
    figs: dict[str, Any] = {"memory": plots.fig_memory(data, image)}
    if bench and bench.get("layers"):
        figs["compute"] = plots.fig_compute(
            bench["layers"], f"{bench.get('model', data['model'])} on {bench.get('board', data['board'])} "
            f"({bench.get('kernels', '?')} kernels): {bench.get('instructions', 0):,} instructions")
    for i, r in enumerate(runs):
        if r.get("train_blocks"):
            figs[f"train_blocks_{i}"] = plots.fig_train_blocks(r["train_blocks"],
                                                              f"{r['recipe']}: backward memory per block")
    curves = {r["recipe"]: r["curve_xy"] for r in runs if r.get("curve_xy")}
    if curves:
        kept = {r["recipe"]: r["kept_step"] for r in runs if r.get("curve_xy") and r.get("kept_step") is not None}
        figs["accuracy"] = plots.fig_accuracy(curves, "on-device fine-tuning: held-out accuracy", kept)
    if validation and validation.get("diff_map"):
        figs["diff"] = plots.fig_diff_heatmap(validation["diff_map"])
    return figs


def write_pngs(pngs: dict[str, bytes], png: Path) -> list[Path]:
    """`--plot out.png`: the memory figure -> out.png, the others -> out-<name>.png."""
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for k, data in pngs.items():
        p = png if k == "memory" else png.with_name(f"{png.stem}-{k}{png.suffix or '.png'}")
        p.write_bytes(data)
        out.append(p)
    return out


def _none(v: Any) -> Any:
    import jinja2
    return None if isinstance(v, jinja2.Undefined) else v


def _fmt_bytes(v: Any) -> str:
    v = _none(v)
    if v is None:
        return "–"
    v = int(v)
    if v >= 1024 * 1024:
        return f"{v / 1024 / 1024:.2f} MB"
    if v >= 1024:
        return f"{v / 1024:.1f} KB"
    return f"{v} B"


def _fmt_int(v: Any) -> str:
    v = _none(v)
    return "–" if v is None else f"{int(v):,}"


def render(data: dict[str, Any], bench: dict[str, Any] | None = None, validation: dict[str, Any] | None = None,
           training: Any = None, image: Any = None, plot: Path | None = None) -> str:
    import jinja2
    from tiny import __version__
    from tiny.boards import get_board
    from tiny.plots import CORTEX_M_FLOOR, png_bytes
    runs = training_runs(training)
    merge_bench(data, bench)
    figs = figures(data, bench, validation, runs, image)
    pngs = {k: png_bytes(f) for k, f in figs.items()}
    if plot:
        write_pngs(pngs, Path(plot))
    imgs = {k: _img(v) for k, v in pngs.items()}
    try:
        b = get_board(data["board"])
        clock = b.clock_hz or 0
        board_desc = b.description or b.name
        core = b.core
    except TinyError:
        clock, board_desc, core = 0, data["board"], "?"
    total_ins = bench.get("instructions") if bench else None
    est = bench.get("est_cycles") if bench else None
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE.parent)),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), undefined=jinja2.ChainableUndefined)
    env.filters["b"] = _fmt_bytes
    env.filters["n"] = _fmt_int
    env.filters["pct"] = lambda v: "–" if _none(v) is None else f"{float(v):.1%}"
    max_ins = max([L.get("instructions") or 0 for L in data["layers"]] + [1])
    cands = sorted(data.get("patch_candidates") or [], key=lambda c: (c["peak_bytes"], c["patch_mac_overhead"]))
    return env.get_template(TEMPLATE.name).render(
        d=data, bench=bench, v=validation, runs=runs, imgs=imgs, floor=CORTEX_M_FLOOR, version=__version__,
        clock_hz=clock, board_desc=board_desc, core=core, total_ins=total_ins, est_cycles=est,
        est_ms=(est / clock * 1e3) if est and clock else None, max_ins=max_ins, candidates=cands[:12],
        n_candidates=len(cands),
        generated=datetime.datetime.now().strftime("%Y-%m-%d %H:%M"))


def collect(model: str | Path, board: str, schedule: str = "layer", sram_budget: int | None = None, *,
            data: dict[str, Any] | None = None, bench: Any = None, validation: Any = None,
            run_bench_on_board: bool = False, validate_samples: int = 0, compare_patch: bool = True,
            ) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]:
    """(report data, bench data, validation data): loaded from JSON, or run now when asked."""
    from tiny.report import report
    model = str(model)
    if data is None:
        data, _ = report(model, board, schedule, sram_budget)
    if compare_patch:
        data = merge_patch_alternative(data, model, board)
    bench = _load_json(bench)
    if bench is None and run_bench_on_board:
        bench = run_bench(model, board, schedule, sram_budget)
    validation = _load_json(validation)
    if validation is None and validate_samples:
        validation = run_validation(model, board, validate_samples, schedule, sram_budget)
    return data, bench, validation


def write_plots(png: str | Path, data: dict[str, Any], bench: Any = None, validation: Any = None,
                training: Any = None, image: Any = None) -> list[Path]:
    """The report's figures as PNG files (`tiny report --plot` with bench/validation/training)."""
    from tiny.plots import png_bytes
    merge_bench(data, _load_json(bench))
    figs = figures(data, _load_json(bench), _load_json(validation), training_runs(training), image)
    return write_pngs({k: png_bytes(f, dpi=110) for k, f in figs.items()}, Path(png))


def write_report(out: str | Path, model: str | Path, board: str, schedule: str = "layer",
                 sram_budget: int | None = None, *, data: dict[str, Any] | None = None,
                 bench: Any = None, validation: Any = None, training: Any = None, image: Any = None,
                 run_bench_on_board: bool = False, validate_samples: int = 0, plot: str | Path | None = None,
                 compare_patch: bool = True) -> Path:
    """Collect what is asked (report, optional bench/validation runs) and write the HTML page.

    `data`: a `tiny.report.report` dict already computed (else it is computed here).
    `bench` / `validation` / `training`: dicts or JSON paths (see the module docstring);
    `run_bench_on_board` / `validate_samples`: run `tiny bench` / `tiny validate` now instead."""
    data, bench, validation = collect(model, board, schedule, sram_budget, data=data, bench=bench,
                                      validation=validation, run_bench_on_board=run_bench_on_board,
                                      validate_samples=validate_samples, compare_patch=compare_patch)
    html = render(data, bench, validation, training, image, Path(plot) if plot else None)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out
