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
    try:
        tflm = oracle.arena_bytes(g)
    except TinyError:
        tflm = None
    live = c.plan.step_live_bytes
    layers = []
    for op in g.ops:
        out = g.tensors[op.outputs[0]]
        layers.append({
            "index": op.index, "op": op.type, "name": out.name,
            "inputs": [shape_str(g.tensors[t].shape) for t in op.inputs if t >= 0 and not g.tensors[t].is_const],
            "output": shape_str(out.shape), "macs": op_macs(g, op), "weight_bytes": op_const_bytes(g, op),
            "live_bytes": live[op.index] if op.index < len(live) else 0,
        })
    data: dict[str, Any] = {
        "model": g.name, "board": board, "schedule": schedule,
        "flash_bytes": c.const_bytes, "peak_sram_bytes": c.plan.arena_bytes,
        "layer_based_peak_bytes": layer.plan.arena_bytes, "lower_bound_bytes": layer.plan.lower_bound,
        "tflm_arena_bytes": tflm, "macs": total_macs(g), "board_sram_bytes": b.sram_bytes,
        "board_flash_bytes": b.flash_bytes, "fits": c.plan.arena_bytes <= b.sram_bytes, "layers": layers,
    }
    if schedule != "layer":
        data.update(getattr(c, "schedule_info", {}))
    lines = [f"{g.name} on {board} ({schedule} schedule)",
             f"  SRAM peak {data['peak_sram_bytes']:,} B (layer-based {data['layer_based_peak_bytes']:,} B, "
             f"lower bound {data['lower_bound_bytes']:,} B); TFLite Micro arena "
             f"{tflm:,} B" if tflm else "  TFLite Micro arena: not measured",
             f"  flash (constants) {data['flash_bytes']:,} B; {data['macs']:,} MACs; board SRAM "
             f"{b.sram_bytes:,} B, flash {b.flash_bytes:,} B",
             f"  {'#':>3} {'op':<18} {'output':<14} {'MACs':>11} {'weights':>8} {'live B':>9}"]
    for L in layers:
        lines.append(f"  {L['index']:>3} {L['op']:<18} {L['output']:<14} {L['macs']:>11,} "
                     f"{L['weight_bytes']:>8,} {L['live_bytes']:>9,}")
    if plot:
        from tiny.plots import memory_timeline
        memory_timeline(data, Path(plot))
        lines.append(f"  plot: {plot}")
    return data, "\n".join(lines)
