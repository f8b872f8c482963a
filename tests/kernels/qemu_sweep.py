"""Run a seeded sweep firmware (optimized vs portable kernels) on an emulated board with semihosting
and check its report: one "<kernel> cases N fast F fail X" line per kernel and "SWEEP OK"."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tiny.boards import get_board
from tiny.build.project import compile_elf

HERE = Path(__file__).resolve().parent


def run_sweep(sources: list[Path], kernels: list[str], out: Path, seed: int, cases: int,
              board: str = "qemu-m4-256k") -> str:
    if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("needs qemu-system-arm and arm-none-eabi-gcc (make setup)")
    b = get_board(board)
    elf = compile_elf(b, sources, out, include_dirs=[HERE],
                      defines=[f"SWEEP_SEED={seed}", f"SWEEP_CASES={cases}"])
    r = subprocess.run(["qemu-system-arm", "-machine", b.qemu_machine, "-nographic", "-monitor", "none",
                        "-semihosting-config", "enable=on,target=native", "-serial", "null", "-kernel", str(elf)],
                       capture_output=True, text=True, timeout=600)
    text = r.stdout + r.stderr
    assert "SWEEP OK" in text, text[-4000:]
    assert r.returncode == 0, text[-4000:]
    for name in kernels:
        m = re.search(rf"^{name} cases (\d+) fast (\d+) fail (\d+)$", text, re.M)
        assert m, f"no result line for {name}:\n{text}"
        assert int(m.group(1)) == cases and int(m.group(3)) == 0
        assert int(m.group(2)) > 0          # the fast path itself was exercised
    return text
