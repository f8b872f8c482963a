"""What a sweep shows: the best row per board, the Pareto front, a CSV and a plot."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any


def _cost(row: dict[str, Any]) -> float:
    """Compute cost of a row: estimated cycles when benchmarked, else MACs."""
    v = row.get("est_cycles")
    return float(v if v is not None else row.get("macs") or 0)


def best_per_board(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per board, the fitting row with the lowest cost (est. cycles, or MACs without --bench);
    ties go to the lower SRAM peak. Boards where nothing fits are absent."""
    best: dict[str, dict[str, Any]] = {}
    for r in rows:
        if "error" in r or not r.get("fits") or r.get("bit_exact") is False:
            continue
        b = best.get(r["board"])
        if b is None or (_cost(r), r["peak_sram_bytes"]) < (_cost(b), b["peak_sram_bytes"]):
            best[r["board"]] = r
    return best


def pareto(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows no other row beats on both SRAM peak and cost (errors excluded), by SRAM peak."""
    ok = [r for r in rows if "error" not in r and r.get("peak_sram_bytes") is not None]
    front = [r for r in ok if not any(
        (o["peak_sram_bytes"] <= r["peak_sram_bytes"] and _cost(o) <= _cost(r)
         and (o["peak_sram_bytes"], _cost(o)) != (r["peak_sram_bytes"], _cost(r))) for o in ok)]
    return sorted(front, key=lambda r: (r["peak_sram_bytes"], _cost(r), r["board"]))


CSV_COLUMNS = ["model", "board", "schedule", "kernels", "fits", "peak_sram_bytes", "flash_bytes", "macs",
               "instructions", "est_cycles", "bit_exact", "layer_based_peak_bytes", "tflm_arena_bytes", "error"]


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k) for k in CSV_COLUMNS})


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Peak SRAM vs cost, one colour per board, filled = fits its board, hollow = does not; each
    board's SRAM as a dashed line of its colour; the Pareto front as a step line."""
    import matplotlib
    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg"):
        matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    ok = [r for r in rows if "error" not in r and r.get("peak_sram_bytes") is not None]
    bench = any(r.get("est_cycles") is not None for r in ok)
    fig, ax = plt.subplots(figsize=(8, 5))
    boards = sorted({r["board"] for r in ok})
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    markers = {"layer": "o", "patch": "s", "auto": "^"}
    for i, b in enumerate(boards):
        c = colours[i % len(colours)]
        mine = [r for r in ok if r["board"] == b]
        for r in mine:
            ax.scatter(_cost(r) / 1e6, r["peak_sram_bytes"] / 1024, marker=markers.get(r["schedule"], "o"),
                       s=46, edgecolors=c, facecolors=c if r.get("fits") else "none", linewidths=1.5)
        sram = next((r.get("board_sram_bytes") for r in mine if r.get("board_sram_bytes")), None)
        if sram:
            ax.axhline(sram / 1024, color=c, linestyle="--", linewidth=1, label=f"{b} SRAM")
    front = pareto(ok)
    if front:
        ax.step([_cost(r) / 1e6 for r in front], [r["peak_sram_bytes"] / 1024 for r in front], where="post",
                color="grey", linewidth=1, alpha=0.7, label="Pareto front")
    for s, m in markers.items():
        ax.scatter([], [], marker=m, color="black", facecolors="none", label=f"schedule {s}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("estimated cycles (M)" if bench else "MACs (M)")
    ax.set_ylabel("peak SRAM (KiB)")
    ax.set_title("tiny sweep: filled = fits the board, hollow = does not")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def table(rows: list[dict[str, Any]]) -> str:
    """The rows and the best per board as text."""
    bench = any(r.get("est_cycles") is not None for r in rows)
    val = any("bit_exact" in r for r in rows)
    head = f"{'model':<22} {'board':<14} {'schedule':<8} {'fits':<5} {'peak SRAM':>11} {'flash':>10} {'MACs':>12}"
    head += f" {'instructions':>13} {'est cycles':>12}" if bench else ""
    head += f" {'bit-exact':>9}" if val else ""
    lines = [head]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['model'][:22]:<22} {r['board']:<14} {r['schedule']:<8} error: {r['error'][:160]}")
            continue
        s = (f"{r['model'][:22]:<22} {r['board']:<14} {r['schedule']:<8} {'yes' if r['fits'] else 'no':<5} "
             f"{r['peak_sram_bytes']:>11,} {r['flash_bytes']:>10,} {r['macs']:>12,}")
        if bench:
            ins, est = r.get("instructions"), r.get("est_cycles")
            s += f" {ins:>13,}" if ins is not None else f" {'-':>13}"
            s += f" {est:>12,}" if est is not None else f" {'-':>12}"
        if val:
            s += f" {('yes' if r['bit_exact'] else 'NO') if 'bit_exact' in r else '-':>9}"
        lines.append(s)
    best = best_per_board(rows)
    lines.append("best per board (fits; lowest " + ("est. cycles" if bench else "MACs") + "):")
    for b, r in sorted(best.items()):
        lines.append(f"  {b}: {r['model']} {r['schedule']} ({r['peak_sram_bytes']:,} B"
                     + (f", {r['est_cycles']:,} est. cycles)" if r.get("est_cycles") is not None else ")"))
    for b in sorted({r["board"] for r in rows} - set(best)):
        lines.append(f"  {b}: nothing fits")
    return "\n".join(lines)
