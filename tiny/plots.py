"""Figures for reports: memory timeline per layer, the patch grid with its halos, compute per layer,
training memory and accuracy, the validation diff heat map.

Every `fig_*` function returns a matplotlib Figure; `save_png` writes one, `png_bytes` encodes
one for the HTML report (tiny/html_report.py). `memory_timeline` is what `tiny report --plot` writes."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

# Figures are built with matplotlib's object API (no pyplot): importing tiny never picks a
# backend for the caller (a notebook keeps its inline one) and no global figure list grows.
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from tiny.ops import REGISTRY  # noqa: E402

CORTEX_M_FLOOR = 0.5   # instructions per MAC: SMLAD does two 16-bit MACs in one instruction

LAYER_C, PATCH_C, TFLM_C, SRAM_C = "#c0392b", "#27ae60", "#7f8c8d", "#2c3e50"
OP_COLORS = {k: d.color for k, d in REGISTRY.items() if d.color}   # each OpDef's colour


def _subplots(*args: Any, figsize: tuple[float, float] | None = None, **kw: Any) -> tuple[Figure, Any]:
    """pyplot.subplots without pyplot."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*args, **kw)


def save_png(fig: Figure, out: Path, dpi: int = 110) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    return out


def png_bytes(fig: Figure, dpi: int = 100) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _kb(v: float) -> str:
    return f"{v / 1024:,.0f} KB" if v >= 1000 * 1024 else f"{v / 1024:.1f} KB"


# ---------------------------------------------------------------- memory
def draw_timeline(ax: Any, data: dict[str, Any]) -> None:
    """Live bytes per op: layer-based vs patch-based, with TFLM's arena and the board's SRAM."""
    layer = [L.get("layer_live_bytes", L["live_bytes"]) for L in data["layers"]]
    x = list(range(len(layer)))
    lp = data["layer_based_peak_bytes"]
    ax.plot(x, [v / 1024 for v in layer], label=f"layer-based (peak {_kb(lp)})", color=LAYER_C, lw=2)
    peak_at = max(x, key=lambda i: layer[i]) if x else 0
    if x:
        ax.annotate(f"{_kb(lp)}", (peak_at, lp / 1024), textcoords="offset points", xytext=(6, 4),
                    color=LAYER_C, fontsize=8)
    pp = data.get("patch_based_peak_bytes")
    if pp and any("patch_live_bytes" in L for L in data["layers"]):
        patch = [L.get("patch_live_bytes", 0) for L in data["layers"]]
        ax.plot(x, [v / 1024 for v in patch], color=PATCH_C, lw=2,
                label=f"patch-based (peak {_kb(pp)}, +{data.get('patch_mac_overhead', 0):.1%} MACs)")
        ax.fill_between(x, [v / 1024 for v in patch], color=PATCH_C, alpha=0.12)
        split = data.get("split_after_op")
        if split is not None:
            g = data.get("grid") or ["?", "?"]
            ax.axvspan(-0.5, split + 0.5, color=PATCH_C, alpha=0.08,
                       label=f"patch stage: ops #0..#{split} in {g[0]}x{g[1]} patches")
    if data.get("tflm_arena_bytes"):
        ax.axhline(data["tflm_arena_bytes"] / 1024, ls="--", color=TFLM_C,
                   label=f"TFLite Micro arena ({_kb(data['tflm_arena_bytes'])})")
    sram = data.get("board_sram_bytes")
    top = max(layer + [data.get("tflm_arena_bytes") or 0, pp or 0, 1])
    if sram and sram <= 4 * top:
        ax.axhline(sram / 1024, ls=":", lw=1.6, color=SRAM_C, label=f"{data['board']} SRAM ({_kb(sram)})")
    elif sram:   # a host "board" with GBs of RAM: the line would flatten every curve
        ax.plot([], [], ls=":", color=SRAM_C, label=f"{data['board']} SRAM ({_kb(sram)}, off scale)")
    ax.ticklabel_format(axis="y", style="plain", useOffset=False)
    ax.set_xlabel("op index")
    ax.set_ylabel("live bytes (KB, input image included)")
    ax.set_title(f"{data['model']}: SRAM per layer on {data['board']}", fontsize=10)
    ax.set_ylim(bottom=0)
    ax.set_xlim(-0.5, max(len(x) - 0.5, 0.5))
    ax.legend(fontsize=7.5, loc="best", framealpha=0.9)
    ax.grid(alpha=0.3)


def draw_patch_grid(ax: Any, grid: dict[str, Any], image: Any = None) -> None:
    """The input image with the patch cores (solid grid) and each patch's input window; the halos
    of a corner patch and of an inner patch are shaded to show how far windows overlap."""
    h, w = grid["input_hw"]
    if image is not None:
        import numpy as np
        img = np.asarray(image, dtype=np.float32)
        img = img.reshape(img.shape[-3:]) if img.ndim > 3 else img
        if img.ndim == 3 and img.shape[-1] == 1:
            img = img[..., 0]
        lo, hi = float(img.min()), float(img.max())
        img = (img - lo) / (hi - lo) if hi > lo else img * 0
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, extent=(0, w, h, 0), alpha=0.85,
                  interpolation="nearest")
    else:
        ax.add_patch(Rectangle((0, 0), w, h, fill=True, color="#ecf0f1"))
    wins, cores = grid["input_windows"], grid["core_windows"]
    for r0, r1, c0, c1 in wins:
        ax.add_patch(Rectangle((c0, r0), c1 - c0, r1 - r0, fill=False, lw=0.6, ec="#2980b9", alpha=0.35))
    for r0, r1, c0, c1 in cores:
        ax.add_patch(Rectangle((c0, r0), c1 - c0, r1 - r0, fill=False, lw=1.0, ec="#2c3e50"))
    nr, nc = grid["n"]
    show = sorted({0, (nr // 2) * nc + nc // 2} & set(range(len(wins))))
    for k, i in enumerate(show):
        color = ("#e67e22", "#c0392b")[k % 2]
        r0, r1, c0, c1 = wins[i]
        ax.add_patch(Rectangle((c0, r0), c1 - c0, r1 - r0, fill=True, fc=color, alpha=0.28, ec=color, lw=2))
        q0, q1, d0, d1 = cores[i]
        ax.add_patch(Rectangle((d0, q0), d1 - d0, q1 - q0, fill=True, fc=color, alpha=0.35, ec=color, lw=1))
        ax.text((c0 + c1) / 2, (r0 + r1) / 2, f"{r1 - r0}x{c1 - c0}", ha="center", va="center",
                fontsize=7, color="white", fontweight="bold")
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_aspect("equal")
    mh, mw = grid.get("max_window_hw") or (0, 0)
    ax.set_title(f"{nr}x{nc} patches on the {h}x{w} input\n"
                 f"cores (solid), windows + halo (max {mh}x{mw})", fontsize=8.5)
    ax.tick_params(labelsize=7)


def fig_memory(data: dict[str, Any], image: Any = None) -> Figure:
    grid = data.get("patch_grid")
    if grid:
        fig, (ax, ax2) = _subplots(1, 2, figsize=(13, 4.6), gridspec_kw={"width_ratios": [2.3, 1]})
        draw_timeline(ax, data)
        draw_patch_grid(ax2, grid, image)
    else:
        fig, ax = _subplots(figsize=(9.5, 4.4))
        draw_timeline(ax, data)
    fig.tight_layout()
    return fig


def memory_timeline(data: dict[str, Any], out: Path, image: Any = None) -> Path:
    """`tiny report --plot`: the memory timeline (and patch grid) as a PNG."""
    return save_png(fig_memory(data, image), Path(out))


# ---------------------------------------------------------------- compute
def fig_compute(layers: list[dict[str, Any]], title: str = "", floor: float = CORTEX_M_FLOOR) -> Figure:
    """Instructions per layer (bars, by op type) and instructions per MAC against the floor."""
    fig, (ax, ax2) = _subplots(2, 1, figsize=(11, 5.6), sharex=True, gridspec_kw={"height_ratios": [1.3, 1]})
    x = [L["index"] for L in layers]
    ins = [L.get("instructions") or 0 for L in layers]
    colors = [OP_COLORS.get(L.get("op", ""), "#95a5a6") for L in layers]
    ax.bar(x, [v / 1e3 for v in ins], color=colors, width=0.8)
    ax.set_ylabel("instructions (k)")
    ax.set_title(title or "instructions per layer", fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    seen: dict[str, str] = {}
    for L, c in zip(layers, colors):
        seen.setdefault(L.get("op", "?"), c)
    ax.legend(handles=[Rectangle((0, 0), 1, 1, color=c, label=k) for k, c in seen.items()], fontsize=7, ncol=4)
    pts = [(L["index"], L["instructions_per_mac"]) for L in layers if L.get("instructions_per_mac")]
    if pts:
        ax2.scatter([p[0] for p in pts], [p[1] for p in pts], s=16, color="#2c3e50", zorder=3)
        ax2.set_yscale("log")
        ax2.set_ylim(min(floor, min(p[1] for p in pts)) / 1.5, max(p[1] for p in pts) * 2.5)
    ax2.axhline(floor, color=LAYER_C, ls="--", label=f"Cortex-M floor ({floor} instr/MAC, SMLAD)")
    ax2.set_ylabel("instructions / MAC")
    ax2.set_xlabel("op index")
    ax2.grid(alpha=0.3, which="both")
    ax2.legend(fontsize=7.5, loc="upper right")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- training
def fig_train_blocks(blocks: list[dict[str, Any]], title: str = "") -> Figure:
    """Backward-pass memory per block: vanilla vs MobileTL (or whatever the run used)."""
    import numpy as np
    fig, ax = _subplots(figsize=(max(6.0, 0.55 * len(blocks) + 3), 3.6))
    x = np.arange(len(blocks))
    van = [b.get("vanilla_backward_bytes") or 0 for b in blocks]
    new = [b.get("backward_bytes") or 0 for b in blocks]
    ax.bar(x - 0.2, [v / 1024 for v in van], 0.4, color=LAYER_C, label="vanilla backward")
    ax.bar(x + 0.2, [v / 1024 for v in new], 0.4, color=PATCH_C, label="this run (MobileTL)")
    ax.set_xticks(x, [b.get("name", str(i)) for i, b in enumerate(blocks)], rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("KB")
    ax.set_title(title or "backward memory per block", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def fig_accuracy(curves: dict[str, tuple[list[float], list[float]]], title: str = "accuracy",
                 kept: dict[str, int] | None = None) -> Figure:
    """Held-out accuracy per evaluation point; `kept`: the step whose weights each run kept (early
    stop restores the best point, so a dip after it is not what the board ends with)."""
    fig, ax = _subplots(figsize=(7, 3.6))
    for label, (steps, acc) in curves.items():
        line, = ax.plot(steps, acc, marker="o", ms=3, label=label)
        k = (kept or {}).get(label)
        if k in steps:
            ax.plot([k], [acc[steps.index(k)]], marker="*", ms=12, color=line.get_color(), linestyle="none",
                    label=f"{label}: kept (step {k})")
    ax.set_xlabel("step")
    ax.set_ylabel("accuracy")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if curves:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- validation
def fig_diff_heatmap(diff: dict[str, Any]) -> Figure:
    """|device - TFLM| at the first mismatching tensor, max over channels."""
    import numpy as np
    d = np.asarray(diff["abs_diff"], dtype=np.int64)
    if d.ndim == 1:
        d = d[None, :]
    fig, ax = _subplots(figsize=(5.2, 4.2))
    im = ax.imshow(d, cmap="magma", interpolation="nearest", vmin=0, vmax=max(int(d.max()), 1))
    fig.colorbar(im, ax=ax, label="|diff| (max over channels)")
    ax.set_title(f"op #{diff.get('layer')} {diff.get('op', '')}: "
                 f"{int(np.count_nonzero(d))} of {d.size} pixels differ", fontsize=9)
    fig.tight_layout()
    return fig
