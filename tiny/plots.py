"""Figures for reports: memory timeline per layer, and the patch grid with its halos."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402


def memory_timeline(data: dict[str, Any], out: Path) -> Path:
    """Live bytes per op: layer-based vs patch-based, with TFLM's arena and the board's SRAM."""
    fig, axes = plt.subplots(1, 2 if data.get("patch_grid") else 1, figsize=(13 if data.get("patch_grid") else 9, 4.5),
                             gridspec_kw={"width_ratios": [2.2, 1]} if data.get("patch_grid") else None)
    ax = axes[0] if data.get("patch_grid") else axes
    layer = [L.get("layer_live_bytes", L["live_bytes"]) for L in data["layers"]]
    x = list(range(len(layer)))
    ax.plot(x, [v / 1024 for v in layer], label=f"layer-based (peak {data['layer_based_peak_bytes'] / 1024:.0f} KB)",
            color="#c0392b", lw=2)
    if data.get("patch_based_peak_bytes"):
        patch = [L.get("patch_live_bytes", 0) for L in data["layers"]]
        ax.plot(x, [v / 1024 for v in patch], label=f"patch-based (peak {data['patch_based_peak_bytes'] / 1024:.0f} KB)",
                color="#27ae60", lw=2)
        split = data.get("split_after_op")
        if split is not None:
            ax.axvspan(-0.5, split + 0.5, color="#27ae60", alpha=0.08, label="patch stage")
    if data.get("tflm_arena_bytes"):
        ax.axhline(data["tflm_arena_bytes"] / 1024, ls="--", color="#7f8c8d",
                   label=f"TFLite Micro arena ({data['tflm_arena_bytes'] / 1024:.0f} KB)")
    if data.get("board_sram_bytes"):
        ax.axhline(data["board_sram_bytes"] / 1024, ls=":", color="#2c3e50",
                   label=f"{data['board']} SRAM ({data['board_sram_bytes'] / 1024:.0f} KB)")
    ax.set_xlabel("op index")
    ax.set_ylabel("live tensor bytes (KB, input image included)")
    ax.set_title(f"{data['model']}: memory per layer")
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(alpha=0.3)
    if data.get("patch_grid"):
        draw_patch_grid(axes[1], data["patch_grid"])
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def draw_patch_grid(ax: Any, grid: dict[str, Any]) -> None:
    """The input image with each patch's input window (halo included) drawn over it."""
    h, w = grid["input_hw"]
    ax.add_patch(Rectangle((0, 0), w, h, fill=True, color="#ecf0f1"))
    colors = plt.cm.tab10.colors
    for i, (r0, r1, c0, c1) in enumerate(grid["input_windows"]):
        ax.add_patch(Rectangle((c0, r0), c1 - c0, r1 - r0, fill=False, lw=1.2, ec=colors[i % 10], alpha=0.8))
    for r0, r1, c0, c1 in grid["core_windows"]:
        ax.add_patch(Rectangle((c0, r0), c1 - c0, r1 - r0, fill=False, lw=0.6, ec="black", ls=":"))
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_aspect("equal")
    ax.set_title(f"{grid['n'][0]}x{grid['n'][1]} patches: input windows with halos", fontsize=9)
