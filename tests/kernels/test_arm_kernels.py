"""Optimized Cortex-M DSP kernels (firmware/src/kernels/arm) vs the portable kernels, executed on
QEMU (qemu-m4-256k: a Cortex-M4F with the DSP extension), over seeded random shape sweeps.

The firmware (test_arm_sweep.c) runs both kernels on the same random cases and reports every
mismatching byte; the fast sweep is part of `make test`, the wide one is marked slow."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tiny import paths
from tiny.boards import get_board
from tiny.build.project import compile_elf

pytestmark = pytest.mark.qemu

HERE = Path(__file__).resolve().parent
KERNELS = ["conv2d_s8_1x1", "conv2d_s8_rgb", "depthwise_conv2d_s8_3x3", "depthwise_conv2d_s8_inplace_3x3",
           "fully_connected_s8_dsp", "add_s8_dsp"]


def kernel_sources() -> list[Path]:
    src = Path(paths.FIRMWARE) / "src" / "kernels"
    return sorted((src / "ref").glob("*.c")) + sorted((src / "arm").glob("*.c"))


def run_sweep(tmp: Path, seed: int, cases: int, board: str = "qemu-m4-256k") -> str:
    if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("needs qemu-system-arm and arm-none-eabi-gcc (make setup)")
    b = get_board(board)
    elf = compile_elf(b, [HERE / "test_arm_sweep.c", *kernel_sources()], tmp / f"sweep-{seed}-{cases}.elf",
                      defines=[f"SWEEP_SEED={seed}", f"SWEEP_CASES={cases}"])
    r = subprocess.run(["qemu-system-arm", "-machine", b.qemu_machine, "-nographic", "-monitor", "none",
                        "-semihosting-config", "enable=on,target=native", "-serial", "null", "-kernel", str(elf)],
                       capture_output=True, text=True, timeout=600)
    out = r.stdout + r.stderr
    assert "SWEEP OK" in out, out[-4000:]
    assert r.returncode == 0, out[-4000:]
    for name in KERNELS:
        m = re.search(rf"^{name} cases (\d+) fast (\d+) fail (\d+)$", out, re.M)
        assert m, f"no result line for {name}:\n{out}"
        assert int(m.group(1)) == cases and int(m.group(3)) == 0
        assert int(m.group(2)) > 0          # the fast path itself was exercised
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_arm_kernels_bit_exact_on_qemu(seed: int, tmp_path: Path) -> None:
    run_sweep(tmp_path, seed, 150)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(10, 16))
def test_arm_kernels_bit_exact_wide(seed: int, tmp_path: Path) -> None:
    run_sweep(tmp_path, seed, 2000)
