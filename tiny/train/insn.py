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


def step_pairs(hits: list[tuple[str, int]]) -> list[tuple[int, list[int]]]:
    """Raw ("B"|"E", cumulative count) marker hits -> for each outermost pair, its instructions and
    those of the pairs directly inside it (the forward's layers, then one per backward step)."""
    out: list[tuple[int, list[int]]] = []
    stack: list[int] = []
    inner: list[int] = []
    for kind, count in hits:
        if kind == "B":
            stack.append(count)
            if len(stack) == 1:
                inner = []
        else:
            if not stack:
                raise TinyError("training step markers out of order")
            start = stack.pop()
            if not stack:
                out.append((count - start, inner))
            elif len(stack) == 1:
                inner.append(count - start)
    return out


def step_counts(hits: list[tuple[str, int]]) -> list[int]:
    """Instructions of each outermost marker pair (one training step each)."""
    return [total for total, _ in step_pairs(hits)]


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
    hits, _ = parse_plugin_log(log.read_text() if log.exists() else "")
    counts = step_breakdown(hits, len(tc.train_plan.steps))
    if len(counts) != n:
        raise TinyError(f"expected {n} training-step marker pairs, counted {len(counts)}")
    return counts
