"""Protocol fuzzing against an emulated board: the same 10,000-frame campaign as on the host,
through QEMU's UART. Oversized frames are rarer and shorter here because the emulated UART
takes ~26 KiB/s from the host; every other kind keeps its share."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.device.fixtures import HERE
from tests.device.test_fuzz import KINDS, fuzz_session
from tiny.boards import get_board
from tiny.build.project import write_project
from tiny.device.connect import open_session


@pytest.mark.qemu
def test_fuzz_qemu_board(tmp_path: Path) -> None:
    board = get_board("qemu-m4-256k")
    model = (HERE / "model_fixture.c").read_text()
    project = write_project(tmp_path / "fuzz", {"model.c": model}, [board],
                            {"arena_bytes": 16384, "weights_bytes": 0, "io_bytes": 0})
    weights = [0.5 if k in ("oversized", "bigbody") else 1.0 for k in KINDS]
    t0 = time.monotonic()
    with open_session(board, project, timeout=10) as s:
        counts = fuzz_session(s, 10_000, seed=4321, weights=weights, max_oversize=1400, reply_timeout=5.0)
    assert sum(counts.values()) == 10_000 and min(counts.values()) > 200
    assert time.monotonic() - t0 < 600   # bounded: every reply has its own timeout too
