"""`tiny report`: where memory and compute go, per layer, against TFLite Micro."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from tiny import oracle
from tiny.analysis import op_const_bytes, op_macs, shape_str, total_macs
from tiny.ir import TinyError


def report(model: str, board: str, schedule: str = "layer", sram_budget: int | None = None,
           plot: str | None = None) -> tuple[dict[str, Any], str]:
    from tiny.boards import get_board
    from tiny.pipeline import load_model
    from tiny.workflow import compile_for
    g = load_model(model)
    b = get_board(board)
    layer = compile_for(g, board, "layer")
    c = layer if schedule == "layer" else compile_for(g, board, schedule, sram_budget)
    tflm_error = None
    try:
        tflm = oracle.arena_bytes(g)
    except TinyError as e:  # TFLM failed or is not installed: the report goes on without its arena
        tflm, tflm_error = None, str(e)
    live = c.plan.step_live_bytes
    layer_live = layer.plan.step_live_bytes
    patched = getattr(c, "schedule", None) is not None and getattr(c.schedule, "split", 0)
    kernels = kernel_names(c.files.get("model.c", ""))
    layers = []
    for op in g.ops:
        out = g.tensors[op.outputs[0]]
        layers.append({
            "index": op.index, "op": op.type, "name": out.name,
            "inputs": [shape_str(g.tensors[t].shape) for t in op.inputs if t >= 0 and not g.tensors[t].is_const],
            "output": shape_str(out.shape), "macs": op_macs(g, op), "weight_bytes": op_const_bytes(g, op),
            "live_bytes": live[op.index] if op.index < len(live) else 0,
            "layer_live_bytes": layer_live[op.index] if op.index < len(layer_live) else 0,
            "kernel": kernels.get(op.index),
        })
        if patched:
            layers[-1]["patch_live_bytes"] = layers[-1]["live_bytes"]
            layers[-1]["in_patch_stage"] = op.index < c.schedule.split
    data: dict[str, Any] = {
        "model": g.name, "board": board, "schedule": schedule,
        "flash_bytes": c.const_bytes, "peak_sram_bytes": c.plan.arena_bytes,
        "layer_based_peak_bytes": layer.plan.arena_bytes, "lower_bound_bytes": layer.plan.lower_bound,
        "tflm_arena_bytes": tflm, "macs": total_macs(g), "board_sram_bytes": b.sram_bytes,
        "board_flash_bytes": b.flash_bytes, "fits": c.plan.arena_bytes <= b.sram_bytes, "layers": layers,
    }
    if tflm_error:
        data["tflm_error"] = tflm_error
    if g.meta.get("lowered"):   # e.g. Keras 3's UpSampling2D (TILE) loaded as a resize
        data["rewrites"] = list(g.meta["lowered"])
    if schedule != "layer":
        data.update(getattr(c, "schedule_info", {}))
    if patched:
        data["patch_grid"] = patch_grid(g, c.schedule)
    lines = [f"{g.name} on {board} ({schedule} schedule)",
             f"  SRAM peak {data['peak_sram_bytes']:,} B (layer-based {data['layer_based_peak_bytes']:,} B, "
             f"lower bound {data['lower_bound_bytes']:,} B); TFLite Micro arena "
             + (f"{tflm:,} B" if tflm else f"not measured ({tflm_error})"),
             f"  flash (constants) {data['flash_bytes']:,} B; {data['macs']:,} MACs; board SRAM "
             f"{b.sram_bytes:,} B, flash {b.flash_bytes:,} B",
             f"  {'#':>3} {'op':<18} {'output':<14} {'MACs':>11} {'weights':>8} {'live B':>9}"]
    if patched:
        lines.insert(2, f"  patch schedule: ops #0..#{data['split_after_op']} in {data['grid'][0]}x{data['grid'][1]} "
                        f"patches, peak {data['patch_based_peak_bytes']:,} B, "
                        f"+{data['patch_mac_overhead']:.1%} MACs")
    for r in data.get("rewrites", []):
        lines.insert(-1, f"  rewritten: {r} (the op numbers below are the rewritten model's)")
    for L in layers:
        lines.append(f"  {L['index']:>3} {L['op']:<18} {L['output']:<14} {L['macs']:>11,} "
                     f"{L['weight_bytes']:>8,} {L['live_bytes']:>9,}")
    if plot:
        from tiny.plots import memory_timeline
        memory_timeline(data, Path(plot))
        lines.append(f"  plot: {plot}")
    return data, "\n".join(lines)


def kernel_names(model_c: str) -> dict[int, str]:
    """The C kernel each op calls, read off the generated model.c (between its layer markers)."""
    import re
    out: dict[int, str] = {}
    skip = ("tiny_layer_", "tiny_window_")
    for m in re.finditer(r"tiny_layer_begin\((\d+)\);(.*?)tiny_layer_end\(\1\);", model_c, re.S):
        for name in re.findall(r"\b(tiny_[A-Za-z0-9_]+)\s*\(", m.group(2)):
            if not name.startswith(skip):
                out.setdefault(int(m.group(1)), name)
                break
    return out


def patch_grid(g: Any, schedule: Any) -> dict[str, Any]:
    """The patch grid over the input image: each patch's input window (halo included) and its
    core, the non-overlapping share of the image (the output partition scaled to the input)."""
    t_img = g.inputs[0]
    _, h, w, _ = (int(v) for v in g.tensors[t_img].shape)
    t_out = g.ops[schedule.split - 1].outputs[0]
    _, oh, ow, _ = (int(v) for v in g.tensors[t_out].shape)
    windows = [[r.r0, r.r1, r.c0, r.c1] for r in (reg[t_img] for reg in schedule.patches.regions)]
    cores = [[round(r0 * h / oh), round(r1 * h / oh), round(c0 * w / ow), round(c1 * w / ow)]
             for r0, r1 in schedule.grid.rows for c0, c1 in schedule.grid.cols]
    return {"input_hw": [h, w], "n": list(schedule.grid.n), "input_windows": windows, "core_windows": cores,
            "output_hw": [oh, ow], "max_window_hw": [max(r[1] - r[0] for r in windows),
                                                      max(r[3] - r[2] for r in windows)]}
