"""Instructions per training step on an emulated board, counted by the QEMU TCG plugin.

tiny_train_step (firmware/src/train/train.c) calls tiny_layer_begin/end around the whole step (the
forward's per-layer marker pairs nest inside it), so a step is everything from its outer begin to
its outer end: forward, captures, backward and updates. Counts are exact and repeatable.
"""
from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from tiny.ir import TinyError


def step_spans(hits: list[tuple[str, int]]) -> list[tuple[tuple[int, int], list[tuple[int, int]]]]:
    """Raw ("B"|"E", count) marker hits -> for each outermost pair, its (begin, end) hit indices and
    those of the pairs directly inside it (the forward's layers, then one per backward step)."""
    out: list[tuple[tuple[int, int], list[tuple[int, int]]]] = []
    stack: list[int] = []
    inner: list[tuple[int, int]] = []
    for h, (kind, _) in enumerate(hits):
        if kind == "B":
            stack.append(h)
            if len(stack) == 1:
                inner = []
        else:
            if not stack:
                raise TinyError("training step markers out of order")
            start = stack.pop()
            if not stack:
                out.append(((start, h), inner))
            elif len(stack) == 1:
                inner.append((start, h))
    return out


def step_pairs(hits: list[tuple[str, int]]) -> list[tuple[int, list[int]]]:
    """For each outermost marker pair, its instructions and those of the pairs directly inside it."""
    n = lambda span: hits[span[1]][1] - hits[span[0]][1]  # noqa: E731
    return [(n(outer), [n(s) for s in inner]) for outer, inner in step_spans(hits)]


def step_class_counts(hits: list[tuple[str, int]], ks: list[list[int]], n_backward: int,
                      ) -> list[tuple[dict[str, int], dict[str, int]]]:
    """Per training step, instructions by class (the plugin's "K" lines, one per marker hit):
    (whole step, backward steps = the last n_backward inner pairs). [] when the log has no class lines."""
    from tiny.device.bench import CLASSES
    if len(ks) != len(hits):
        return []
    diff = lambda span: [x - y for x, y in zip(ks[span[1]], ks[span[0]])]  # noqa: E731
    out = []
    for outer, inner in step_spans(hits):
        bwd = [diff(s) for s in (inner[len(inner) - n_backward:] if n_backward else [])]
        back = [sum(v[j] for v in bwd) for j in range(len(CLASSES))]
        out.append((dict(zip(CLASSES, diff(outer))), dict(zip(CLASSES, back))))
    return out


def step_breakdown(hits: list[tuple[str, int]], n_backward: int) -> list[dict[str, Any]]:
    """Per training step: total, forward (inference kernels, captures, markers) and backward
    instructions, and the backward's steps in plan order (the last n_backward inner pairs)."""
    out = []
    for total, inner in step_pairs(hits):
        bwd = inner[len(inner) - n_backward:] if n_backward else []
        out.append({"total": total, "forward": total - sum(bwd), "backward": sum(bwd), "backward_steps": bwd})
    return out


def count_step_instructions(tc: Any, board: str, xs: np.ndarray, ys: np.ndarray, n: int = 2,
                            lr: float | None = None, momentum: float | None = None,
                            qas: bool | None = None) -> list[int]:
    """Run n training steps on QEMU with the counting plugin; instructions of each step."""
    return [b["total"] for b in count_step_breakdown(tc, board, xs, ys, n, lr, momentum, qas)]


def count_step_breakdown(tc: Any, board: str, xs: np.ndarray, ys: np.ndarray, n: int = 2,
                         lr: float | None = None, momentum: float | None = None,
                         qas: bool | None = None) -> list[dict[str, Any]]:
    """Run n training steps on QEMU with the counting plugin; step_breakdown() of each step."""
    from tiny.boards import get_board
    from tiny.build.plugin import build_plugin
    from tiny.device.bench import MARKERS, parse_plugin_log, symbol_addresses
    from tiny.device.connect import firmware_elf, open_qemu_session
    from tiny.train.device import TrainDevice
    from tiny.workflow import project_dir_for, write_project
    b = get_board(board)
    if not b.emulated or board == "host":
        raise TinyError(f"instructions per step are counted on an emulated board, not {board}")
    project = project_dir_for(tc, board)
    write_project(tc, board, project)
    elf = firmware_elf(b, project)
    addrs = symbol_addresses(Path(elf))
    log = Path(tempfile.mkdtemp(prefix="tiny-train-insn-")) / "plugin.log"
    s = open_qemu_session(b, Path(elf), timeout=60.0, plugin=build_plugin(), plugin_log=log,
                          plugin_args={"begin": hex(addrs[MARKERS[0]]), "end": hex(addrs[MARKERS[1]])})
    qemu = s.transport.qemu  # type: ignore[attr-defined]
    try:
        s.check_model(tc.hash)
        dev = TrainDevice(s, len(tc.param_names))
        dev.set_hparams(tc.lr if lr is None else lr, tc.momentum if momentum is None else momentum,
                        tc.qas if qas is None else qas)
        for i in range(n):
            dev.step(xs[i % len(xs):i % len(xs) + 1], int(ys[i % len(ys)]), i)
        s.quit()
        try:
            qemu.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    finally:
        s.close()
    text = log.read_text() if log.exists() else ""
    hits, _ = parse_plugin_log(text)
    counts = step_breakdown(hits, len(tc.train_plan.steps))
    if len(counts) != n:
        raise TinyError(f"expected {n} training-step marker pairs, counted {len(counts)}")
    from tiny.bench import estimate_cycles
    from tiny.device.bench import parse_class_lines
    for c, (tot, back) in zip(counts, step_class_counts(hits, parse_class_lines(text), len(tc.train_plan.steps))):
        # estimated cycles of the board's core from the instruction classes (tiny.bench.CYCLE_TABLE)
        c["est_cycles"] = estimate_cycles(b.core, tot, c["total"])
        c["est_cycles_backward"] = estimate_cycles(b.core, back, c["backward"])
        c["est_cycles_forward"] = c["est_cycles"] - c["est_cycles_backward"]
    return counts


def bench_training(model: str, board: str, config: str, schedule: str = "layer", sram_budget: int | None = None,
                   kernels: str = "opt", steps: int = 2) -> tuple[dict[str, Any], str]:
    """`tiny bench MODEL --train CONFIG`: instructions of one training step on an emulated board
    (random input, labels 0, 1, ...; the last of `steps` steps is reported), split into the forward
    (inference kernels, captures) and each backward step with the kernel it runs."""
    from tiny.boards import get_board
    from tiny.pipeline import load_model
    from tiny.train.api import compile_train
    from tiny.train.config import load_config
    from tiny.train.layers import label_count
    b = get_board(board)
    if not b.emulated or b.name == "host":
        raise TinyError(f"tiny bench --train counts instructions on an emulated board (qemu-*), not {board}")
    g = load_model(model)
    tc = compile_train(g, board, load_config(config), schedule, sram_budget, kernels=kernels)
    t = g.tensors[g.inputs[0]]
    xs = np.random.default_rng(0).integers(-128, 128, size=(steps, *t.shape[1:]), dtype=np.int8)
    ys = np.arange(steps) % label_count(g)
    last = count_step_breakdown(tc, board, xs, ys, steps)[-1]
    rows = [{"kind": s.kind, "op": s.op, "instructions": n, "kernel": kern}
            for s, n, kern in zip(tc.train_plan.steps, last["backward_steps"], tc.step_kernels)]
    data = {"model": g.name, "board": board, "schedule": schedule, "kernels": kernels, "train": config,
            "instructions": last["total"], "forward_instructions": last["forward"],
            "backward_instructions": last["backward"], "est_cycles": last.get("est_cycles"),
            "est_cycles_forward": last.get("est_cycles_forward"), "est_cycles_backward": last.get("est_cycles_backward"),
            "cycle_model": f"per-class cost table of {b.core} (tiny.bench.CYCLE_TABLE)", "layers": rows,
            "train_peak_sram_bytes": tc.train_memory["train_peak_sram_bytes"]}
    lines = [f"{g.name} on {board}, one training step ({config}, {kernels} kernels): {last['total']:,} instructions "
             f"= forward {last['forward']:,} + backward {last['backward']:,}"
             + (f"; ~{last['est_cycles']:,} cycles on {b.core} (forward {last['est_cycles_forward']:,}, backward "
                f"{last['est_cycles_backward']:,})" if last.get("est_cycles") else ""),
             f"  {'step':<6} {'op':>4} {'instructions':>13}  kernel"]
    for r in rows:
        lines.append(f"  {r['kind']:<6} {r['op']:>4} {r['instructions']:>13,}  {r['kernel'] or '-'}")
    return data, "\n".join(lines)
