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


def step_counts(hits: list[tuple[str, int]]) -> list[int]:
    """Raw ("B"|"E", cumulative count) marker hits -> instructions of each outermost pair."""
    out, depth, start = [], 0, 0
    for kind, count in hits:
        if kind == "B":
            if depth == 0:
                start = count
            depth += 1
        else:
            depth -= 1
            if depth < 0:
                raise TinyError("training step markers out of order")
            if depth == 0:
                out.append(count - start)
    return out


def count_step_instructions(tc: Any, board: str, xs: np.ndarray, ys: np.ndarray, n: int = 2,
                            lr: float | None = None, momentum: float | None = None,
                            qas: bool | None = None) -> list[int]:
    """Run n training steps on QEMU with the counting plugin; instructions of each step."""
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
    counts = step_counts(hits)
    if len(counts) != n:
        raise TinyError(f"expected {n} training-step marker pairs, counted {len(counts)}")
    return counts
