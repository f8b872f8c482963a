"""Training figures for `tiny report --train` and the accuracy plot of `tiny train --plot`."""
from __future__ import annotations

from pathlib import Path
from typing import Any


def train_report(model: str, board: str, spec: str, schedule: str = "layer",
                 sram_budget: int | None = None, data: str | None = None) -> tuple[dict[str, Any], str]:
    from tiny.passes.sparse_update import trace
    from tiny.pipeline import load_model
    from tiny.train.api import compile_train
    from tiny.train.config import load_config
    from tiny.train.fit_schedule import training_budget
    g = load_model(model)
    cfg = load_config(spec)
    pre: list[str] = []
    if cfg.searches() and (data or cfg.search):   # without data only when asked: the analysis needs the user's
        cfg = _search_scheme(g, cfg, board, schedule, sram_budget, data or "digits-transfer", pre.append)
    tc = compile_train(g, board, cfg, schedule, sram_budget, log=pre.append)
    m = dict(tc.train_memory)
    budget = training_budget(board, sram_budget)
    out: dict[str, Any] = {"train_recipe": cfg.recipe, "train_peak_sram_bytes": m["train_peak_sram_bytes"],
                           "train_memory": m, "train_budget_bytes": budget,
                           "train_fits": m["train_peak_sram_bytes"] <= budget, "train_steps": trace(tc.train_plan)}
    if getattr(cfg, "scheme_report", None):
        out["sparse_scheme"] = cfg.scheme_report
    data = out
    lines = [*(f"  {p}" for p in pre), f"  training ({cfg.recipe}): peak SRAM {m['train_peak_sram_bytes']:,} B = forward arena "
             f"{m['forward_arena_bytes']:,} B + saved {m['saved_bytes']:,} B (masks {m['saved_mask_bytes']:,} B) + "
             f"SRAM weights {m['sram_param_bytes']:,} B + momentum {m['momentum_bytes']:,} B + "
             + (f"weight shadow {m['shadow_bytes']:,} B + " if m.get("shadow_bytes") else "")
             + f"backward workspace {m['backward_workspace_bytes']:,} B ({_ws_place(m)}); "
             f"without reordering {m['without_reordering_bytes']:,} B",
             f"  training budget on {board}: {budget:,} B: "
             + ("fits" if out["train_fits"] else f"DOES NOT FIT ({m['train_peak_sram_bytes'] - budget:,} B over; "
                f"`tiny train` refuses it: train fewer or higher layers)")]
    if cfg.recipe == "mobiletl":
        from tiny.passes.mobiletl import block_memory, select
        data["train_blocks"] = block_memory(tc.train_plan, select(g, cfg.blocks)[0])
        for b in data["train_blocks"]:
            lines.append(f"    {b['name']} (ops #{b['ops'][0]}..#{b['ops'][-1]}, {b['activation']}): kept for backward "
                         f"{b['backward_bytes']:,} B vs vanilla {b['vanilla_backward_bytes']:,} B "
                         f"({-b['reduction']:+.1%})")
    if "sparse_scheme" in data:
        lines += scheme_lines(data["sparse_scheme"])
    lines += [f"    {t}" for t in data["train_steps"]]
    return data, "\n".join(lines)


def _ws_place(m: dict[str, int]) -> str:
    """Where the backward workspace lives: in the dead forward arena (counted once, the larger of the two)."""
    if not m["workspace_in_arena"]:
        return "separate"
    if m["backward_workspace_bytes"] > m["forward_arena_bytes"]:
        return "in the dead forward arena, which grows to it: counted once"
    return "inside the dead forward arena"


def _search_scheme(g: Any, cfg: Any, board: str, schedule: str, sram_budget: int | None, data: str,
                   log: Any) -> Any:
    """The searched sparse scheme for the report: the one `tiny train` would choose on `data` (the same
    input domain, held-out split and run length, so the same trials)."""
    from tiny.train import data as tdata
    from tiny.train.contrib import resolve_scheme
    from tiny.train.schedule import split_validation
    _, xtr, ytr, _, _ = tdata.model_data(g, data, None, warn=log)
    xtr, ytr, _, _ = split_validation(xtr, ytr)
    log(f"training data for the contribution analysis: {data} ({len(xtr)} samples)")
    return resolve_scheme(g, cfg, board, xtr, ytr, schedule, sram_budget, log=log, run_steps=cfg.epochs * len(xtr))


def scheme_lines(r: dict[str, Any]) -> list[str]:
    """Human-readable rows of a searched scheme: layers, ratios, gains, bytes."""
    if r.get("skipped"):
        return [f"    sparse scheme: the fixed one ({r['skipped']})"]
    src = r.get("source", "searched")
    out = [f"    {'searched' if src == 'searched' else f'verified ({src})'} sparse scheme: biases of the last {r['bias_last']} layers (gain {r['bias_gain']:+.1%}), "
           f"predicted gain {r['predicted_gain']:+.1%} over {r['base_accuracy']:.1%}, training peak "
           f"{r['train_peak_sram_bytes']:,} B of a {r['budget_bytes']:,} B budget"]
    for L in r["layers"]:
        gain = f", gain {L['gain']:+.1%}" if L["gain"] is not None else ", classifier"
        w = f"weights {L['weight_channels']}/{L['out_channels']} (x{L['weight_ratio']:g}{gain})" \
            if L["weight_channels"] else "-"
        out.append(f"      #{L['op']:<3} {L['type']:<18} bias {'yes' if L['bias'] else 'no ':<3}  {w:<36} "
                   f"SRAM params {L['sram_param_bytes']:,} B")
    if r.get("verified"):
        out.append(f"    verified with joint {r['verify_steps']}-step trials (held-back accuracy / loss):")
        for v in r["verified"]:
            out.append(f"      {'*' if v['chosen'] else ' '} {v['heldout_accuracy']:6.1%} / {v['heldout_loss']:.3f}  "
                       f"{v['source']}: biases of the last {v['bias_last']}, weights "
                       + (", ".join(f"{k} x{x:g}" for k, x in v["weights"].items()) or "-")
                       + f", {v['train_peak_sram_bytes']:,} B")
    return out


def plot_curve(res: Any, path: Path) -> Path:
    from tiny.plots import _subplots   # no pyplot: the caller's matplotlib backend stays as it is
    d = res.data
    fig, ax = _subplots(figsize=(6, 3.5))
    if res.curve:
        xs, ys = zip(*res.curve)
        ax.plot(xs, ys, marker=".", label="training accuracy (window)")
    ax.scatter([0, d["steps"]], [d["accuracy_before"], d["accuracy_after"]], color="red", zorder=3,
               label="held-out accuracy")
    ax.set_xlabel("step")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.set_title(f"{d['model']} on {d['board']}: {d['recipe']}")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path
