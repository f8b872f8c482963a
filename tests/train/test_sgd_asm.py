"""The assembly SGD weight step (firmware/src/train/train.c) against the portable C one on QEMU, on
random and extreme steps (beyond the +-1e9 clamp, next to integers, huge, tiny): bit for bit."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.kernels.kbench import count_cases
from tiny import paths

HERE = Path(__file__).resolve().parent


@pytest.mark.qemu
@pytest.mark.parametrize("board", ["qemu-m4-256k", "qemu-f746"])
def test_sgd_asm_matches_portable(board: str) -> None:
    fw = Path(paths.FIRMWARE) / "src" / "train"
    count_cases([], HERE / "sgd_check.c", [], [HERE.parent / "kernels", fw], board)   # asserts KB DONE
