"""`tiny bench`: instructions per layer on an emulated board (exact, repeatable), estimated cycles."""
from __future__ import annotations

from typing import Any

from tiny.analysis import op_macs
from tiny.compare import random_inputs
from tiny.ir import TinyError


def bench(model: str, board: str, schedule: str = "layer", sram_budget: int | None = None,
          kernels: str = "opt") -> tuple[dict[str, Any], str]:
    from tiny.boards import get_board
    from tiny.device.bench import count_instructions
    from tiny.device.connect import firmware_elf
    from tiny.pipeline import load_model
    from tiny.workflow import compile_for, project_dir_for, write_project
    b = get_board(board)
    if not b.emulated:
        raise TinyError(f"tiny bench counts instructions on an emulated board; {board} is a real board "
                        f"(flash it and read DWT cycles with `tiny validate --board {board}`)")
    g = load_model(model)
    c = compile_for(g, board, schedule, sram_budget, kernels=kernels)
    project = project_dir_for(c, board)
    write_project(c, board, project)
    elf = firmware_elf(b, project)
    xs = random_inputs(g, 0)

    def drive(s: Any) -> None:
        s.check_model(c.hash)
        s.run(xs)
    r = count_instructions(b, elf, drive, n_ops=None)
    calls = [L["instructions"] for L in r["layers"]]
    if len(calls) != len(c.marker_order):
        raise TinyError(f"expected {len(c.marker_order)} layer-marker pairs from one INVOKE, counted {len(calls)}")
    per_op = [0] * len(g.ops)
    for i, n in zip(c.marker_order, calls):
        per_op[i] += n
    cost = _cycle_model(b)
    layers = []
    for op in g.ops:
        macs = op_macs(g, op)
        ins = per_op[op.index]
        layers.append({"index": op.index, "op": op.type, "name": g.tensors[op.outputs[0]].name, "macs": macs,
                       "instructions": ins, "est_cycles": int(round(ins * cost)),
                       "instructions_per_mac": round(ins / macs, 3) if macs else None})
    total = sum(per_op)
    data = {"model": g.name, "board": board, "schedule": schedule, "kernels": kernels,
            "instructions": total, "est_cycles": int(round(total * cost)), "macs": sum(L["macs"] for L in layers),
            "cycles_per_instruction": cost, "layers": layers, "peak_sram_bytes": c.plan.arena_bytes}
    data["instructions_per_mac"] = round(total / data["macs"], 3) if data["macs"] else None
    lines = [f"{g.name} on {board} ({schedule} schedule, {kernels} kernels): {total:,} instructions, "
             f"~{data['est_cycles']:,} cycles, {data['macs']:,} MACs ({data['instructions_per_mac']} instr/MAC)",
             f"  {'#':>3} {'op':<18} {'MACs':>11} {'instructions':>13} {'instr/MAC':>9}"]
    for L in layers:
        ipm = f"{L['instructions_per_mac']:.2f}" if L["instructions_per_mac"] else "-"
        lines.append(f"  {L['index']:>3} {L['op']:<18} {L['macs']:>11,} {L['instructions']:>13,} {ipm:>9}")
    return data, "\n".join(lines)


def _cycle_model(board: Any) -> float:
    """Average cycles per instruction by core: a coarse estimate (see README, 'cycle estimates')."""
    return {"cortex-m0plus": 1.4, "cortex-m3": 1.35, "cortex-m4": 1.3, "cortex-m7": 0.8,
            "cortex-m33": 1.25}.get(board.core, 1.3)
