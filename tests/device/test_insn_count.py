"""Exact per-layer instruction counts on QEMU through the TCG plugin."""
from __future__ import annotations

from pathlib import Path

import pytest

from tiny.boards import get_board
from tiny.build.plugin import build_plugin
from tiny.device.bench import count_instructions, layer_counts, parse_plugin_log
from tiny.device.qemu import running
from tests.device.fixtures.board_helpers import model_elf

pytestmark = pytest.mark.qemu


def test_plugin_builds_once() -> None:
    p = build_plugin()
    assert p.exists() and build_plugin() == p


def test_parse_log() -> None:
    hits, total = parse_plugin_log("tiny-insn-count 1\nB 10\nE 25\nB 30\nE 31\ntotal 99\n")
    assert layer_counts(hits) == [15, 1] and total == 99


@pytest.mark.parametrize("name", ["qemu-m4-256k", "qemu-m3"])
def test_counts_repeatable(name: str, tmp_path: Path) -> None:
    board = get_board(name)
    elf = model_elf(board, tmp_path, "board_layers_model.c")

    def drive(s) -> None:
        s.run([bytes(range(16))])
        s.run([bytes(16)])
        s.invoke(stop_after=0)

    runs = [count_instructions(board, elf, drive, n_ops=3) for _ in range(2)]
    a, b = runs
    assert a["layers"] == b["layers"] and a["total"] == b["total"]
    inv = a["per_invocation"]
    assert len(inv) == 3 and len(inv[2]) == 1       # the last invoke stopped after op 0
    first = inv[0]
    assert first[0] < first[1] < first[2]            # op k loops 100*(k+1) times
    assert inv[0] == inv[1]                           # same work, other input data
    assert inv[2][0] == first[0]
    assert a["total"] == sum(sum(x) for x in inv) and a["program_instructions"] > a["total"]
    assert running() == 0
