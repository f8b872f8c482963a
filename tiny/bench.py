"""`tiny bench`: instructions per layer on an emulated board (exact, repeatable), estimated cycles."""
from __future__ import annotations

from typing import Any

from tiny.analysis import op_macs
from tiny.compare import random_inputs
from tiny.ir import TinyError


def bench_real_board(model: str, board: str, port: str | None, schedule: str = "layer",
                     sram_budget: int | None = None, kernels: str = "opt", runs: int = 5) -> tuple[dict[str, Any], str]:
    """Whole-inference cycles read from the board's DWT cycle counter (INVOKE returns them).

    The firmware must already be on the board: `tiny compile MODEL --board B -o DIR` then
    `tiny flash DIR`. Per-layer figures need the emulator (tiny bench on a qemu-* board)."""
    from tiny.boards import get_board
    from tiny.device.connect import open_session
    from tiny.pipeline import load_model
    from tiny.workflow import compile_for, project_dir_for, write_project
    b = get_board(board)
    if not port:
        from tiny.device.connect import detect_port
        port = detect_port(b)
    if not port:
        raise TinyError(f"{board} is a real board: flash it (`tiny compile MODEL --board {board} -o DIR && "
                        f"tiny flash DIR`) and give its serial port with --port, e.g. --port /dev/ttyACM0")
    g = load_model(model)
    c = compile_for(g, board, schedule, sram_budget, kernels=kernels)
    project = project_dir_for(c, board)
    write_project(c, board, project)
    xs = random_inputs(g, 0)
    with open_session(b, project, port=port, timeout=30) as s:
        s.check_model(c.hash)
        clock_hz = int(s.info().get("clock_hz") or 0) or b.clock_hz   # what the board really runs at
        cycles = []
        for _ in range(runs):
            s.run(xs)
            cycles.append(int(s.last_cycles))
    macs = sum(op_macs(g, op) for op in g.ops)
    best = min(cycles)
    data = {"model": g.name, "board": board, "schedule": schedule, "kernels": kernels, "cycles": best,
            "cycles_runs": cycles, "est_cycles": best, "instructions": None, "macs": macs,
            "macs_per_cycle": round(macs / best, 3) if best else None, "layers": [],
            "clock_hz": clock_hz, "port": port,
            "ms": round(best / clock_hz * 1000, 3) if clock_hz and best else None}
    text = (f"{g.name} on {board} at {port}: {best:,} cycles (DWT, best of {runs}), "
            f"{data['ms']} ms at {clock_hz / 1e6:g} MHz, {macs:,} MACs")
    if not best:
        text += "\n  the board has no cycle counter (an emulator): cycles read 0"
    elif b.clock_hz and clock_hz == b.reset_clock_hz and clock_hz != b.clock_hz:
        text += (f"\n  warning: {board} should run at {b.clock_hz / 1e6:g} MHz; its clock set-up timed "
                 f"out and it runs at the reset clock")
    return data, text


def bench(model: str, board: str, schedule: str = "layer", sram_budget: int | None = None,
          kernels: str = "opt", port: str | None = None, elf: str | None = None) -> tuple[dict[str, Any], str]:
    """`elf`: the emulated board's firmware, already built for this model (a farm builds it once)."""
    from tiny.boards import get_board
    from tiny.device.bench import count_instructions
    from tiny.device.connect import firmware_elf
    from tiny.pipeline import load_model
    from tiny.workflow import compile_for, project_dir_for, write_project
    b = get_board(board)
    if port and not b.is_host:   # a flashed board (or QEMU behind socket://): DWT cycles
        return bench_real_board(model, board, port, schedule, sram_budget, kernels)
    if not b.emulated:
        if b.name == "host":
            raise TinyError("tiny bench counts instructions on an emulated board (qemu-*) or reads DWT "
                            "cycles on a real one; the host board has neither")
        return bench_real_board(model, board, port, schedule, sram_budget, kernels)
    g = load_model(model)
    c = compile_for(g, board, schedule, sram_budget, kernels=kernels)
    if elf is None:
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
    per_cls: list[dict[str, int]] = [{} for _ in g.ops]
    for i, L in zip(c.marker_order, r["layers"]):
        per_op[i] += L["instructions"]
        for k, v in L.get("classes", {}).items():
            per_cls[i][k] = per_cls[i].get(k, 0) + v
    fallbacks = portable_fallbacks(g, c, board, kernels, per_op)
    layers = []
    for op in g.ops:
        macs = op_macs(g, op)
        ins = per_op[op.index]
        cyc = estimate_cycles(b.core, per_cls[op.index], ins)
        layers.append({"index": op.index, "op": op.type, "name": g.tensors[op.outputs[0]].name, "macs": macs,
                       "instructions": ins, "est_cycles": cyc, "classes": per_cls[op.index],
                       "kernel": getattr(c, "kernels", {}).get(op.index),
                       "fallback": fallbacks.get(op.index),
                       "instructions_per_mac": round(ins / macs, 3) if macs else None})
    total = sum(per_op)
    est = sum(L["est_cycles"] for L in layers)
    data = {"model": g.name, "board": board, "schedule": schedule, "kernels": kernels,
            "instructions": total, "est_cycles": est, "macs": sum(L["macs"] for L in layers),
            "cycles_per_instruction": round(est / total, 3) if total else None,
            "cycle_model": f"per-class cost table of {b.core} (tiny.bench.CYCLE_TABLE)",
            "layers": layers, "peak_sram_bytes": c.plan.arena_bytes}
    data["instructions_per_mac"] = round(total / data["macs"], 3) if data["macs"] else None
    lines = [f"{g.name} on {board} ({schedule} schedule, {kernels} kernels): {total:,} instructions, "
             f"~{data['est_cycles']:,} cycles, {data['macs']:,} MACs ({data['instructions_per_mac']} instr/MAC)",
             f"  {'#':>3} {'op':<18} {'MACs':>11} {'instructions':>13} {'instr/MAC':>9}  kernel"]
    for L in layers:
        ipm = f"{L['instructions_per_mac']:.2f}" if L["instructions_per_mac"] else "-"
        kern = (L["kernel"] or "").removeprefix("tiny_")
        if L["fallback"]:
            kern += f"  PORTABLE: {L['fallback']}"
        lines.append(f"  {L['index']:>3} {L['op']:<18} {L['macs']:>11,} {L['instructions']:>13,} {ipm:>9}  {kern}")
    return data, "\n".join(lines)


# Ops without a DSP variant are named as fallbacks once they cost this share of the model's
# instructions on a DSP board: below it they are noise beside the convolutions.
NO_DSP_SHARE = 0.01


def portable_fallbacks(g: Any, c: Any, board: str, kernels: str, per_op: list[int] | None = None,
                       share: float = NO_DSP_SHARE) -> dict[int, str]:
    """Layers left to a portable kernel on a DSP board (kernels "opt"), each with the reason: ops with
    DSP variants whose call falls outside them, and (given per-op instruction counts `per_op`) ops
    with no DSP variant at all that cost at least `share` of the model's instructions."""
    from tiny import ops
    from tiny.interpreter import prepare_all
    from tiny.target import Target
    if kernels != "opt" or not Target(board=board).dsp:
        return {}
    chosen = getattr(c, "kernels", {})
    total = sum(per_op) if per_op else 0
    out = {}
    for op, p in zip(g.ops, prepare_all(g)):
        d = ops.opdef(op)
        if not any(v.dsp for v in d.variants):
            if total and per_op[op.index] >= share * total:
                out[op.index] = (f"no DSP variant: {d.no_dsp_why} "
                                 f"({per_op[op.index] / total:.1%} of the instructions)")
            continue
        fn = chosen.get(op.index)
        if fn and fn in (d.portable(p, False).fn, d.portable(p, True).fn):
            out[op.index] = d.portable_why(p)
    return out


# Cycles per instruction class, per core. Sources: the instruction timing tables of the Arm
# Technical Reference Manuals (Cortex-M4 TRM DDI 0439 ch. 3.3, Cortex-M3 TRM DDI 0337 ch. 18.2,
# Cortex-M33 TRM 100230, Cortex-M7 TRM DDI 0489 + optimisation notes, Cortex-M0+ TRM DDI 0484):
#   load: LDR 2 cycles on M3/M4/M0+ (neighbouring loads pipeline to 1 + N; LDM 1 + N), 1 on M7;
#   store: STR pipelines to 1 on M3/M4/M33/M7, 2 on M0+;
#   mul: MUL/MLA and (M4/M33/M7) the long SMULL/SMLAL 1 cycle; M3 long multiplies 3-5 -> 2 average;
#   dsp: SMLAD/SXTB16/QADD/SSAT... 1 cycle (single-issue), M3 has none;
#   div: SDIV/UDIV 2-12 (early termination) -> 7;
#   branch: 1 + pipeline refill (1-3) when taken; the plugin cannot see taken/not taken, so
#     loop-closing branches (mostly taken) and skips (often not) average to 2.5 on M3/M4/M33, 2 on
#     M0+ (2-stage pipeline); M7 predicts branches -> ~1;
#   other: data processing 1 (IT instructions folded on M4 count as 1: conservative).
# M7 is dual-issue: pairs of ALU/load/store instructions often issue together; its table uses 0.6
# for ALU and load/store as a coarse average. Limits: no wait states (flash at speed / ART / TCM),
# no bus contention, no cache misses (M7), no FPU; an estimate within roughly +-20%, not a cycle
# count. Real boards: DWT cycle counts (tiny validate on the board).
CYCLE_TABLE: dict[str, dict[str, float]] = {
    "cortex-m4": {"load": 2, "store": 1, "mul": 1, "dsp": 1, "div": 7, "branch": 2.5, "other": 1},
    "cortex-m33": {"load": 2, "store": 1, "mul": 1, "dsp": 1, "div": 6, "branch": 2.5, "other": 1},
    "cortex-m3": {"load": 2, "store": 1, "mul": 2, "dsp": 1, "div": 7, "branch": 2.5, "other": 1},
    "cortex-m7": {"load": 0.6, "store": 0.6, "mul": 1, "dsp": 1, "div": 7, "branch": 1, "other": 0.6},
    "cortex-m0plus": {"load": 2, "store": 2, "mul": 1, "dsp": 1, "div": 1, "branch": 2, "other": 1},
}


def estimate_cycles(core: str, classes: dict[str, int], instructions: int) -> int:
    """Estimated cycles from instruction counts by class (CYCLE_TABLE; default Cortex-M4)."""
    table = CYCLE_TABLE.get(core, CYCLE_TABLE["cortex-m4"])
    counted = sum(classes.values())
    est = sum(table.get(k, 1.0) * v for k, v in classes.items())
    est += table["other"] * max(instructions - counted, 0)    # no class data: 1 per instruction
    return int(round(est))
