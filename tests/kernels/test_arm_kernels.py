"""Optimized Cortex-M DSP kernels (firmware/src/kernels/arm) vs the portable kernels, executed on
QEMU (qemu-m4-256k: a Cortex-M4F with the DSP extension), over seeded random shape sweeps.

The firmware (test_arm_sweep.c) runs both kernels on the same random cases and reports every
mismatching byte; the fast sweep is part of `make test`, the wide one is marked slow."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.kernels import qemu_sweep
from tiny import paths

pytestmark = pytest.mark.qemu

HERE = Path(__file__).resolve().parent
KERNELS = ["conv2d_s8_1x1", "conv2d_s8_rgb", "conv2d_s8_gemm", "depthwise_conv2d_s8_3x3", "depthwise_conv2d_s8_inplace_3x3",
           "depthwise_conv2d_s8_c4", "depthwise_conv2d_s8_inplace_c4", "depthwise_conv2d_s8_kxk",
           "depthwise_conv2d_s8_inplace_kxk", "depthwise_conv2d_s8_mult",
           "fully_connected_s8_dsp", "max_pool_s8_dsp", "resize_bilinear_s8_dsp",
           "resize_nearest_neighbor_s8_dsp", "concatenation_s8_dsp", "add_s8_dsp", "mul_s8_dsp", "mean_s8_dsp", "avg_pool_s8_dsp", "lut_s8"]


def kernel_sources() -> list[Path]:
    src = Path(paths.FIRMWARE) / "src" / "kernels"
    return sorted((src / "ref").glob("*.c")) + sorted((src / "arm").glob("*.c"))


def run_sweep(tmp: Path, seed: int, cases: int, board: str = "qemu-m4-256k") -> str:
    return qemu_sweep.run_sweep([HERE / "test_arm_sweep.c", *kernel_sources()], KERNELS,
                                tmp / f"sweep-{seed}-{cases}.elf", seed, cases, board)


@pytest.mark.parametrize("seed", [1, 2])
def test_arm_kernels_bit_exact_on_qemu(seed: int, tmp_path: Path) -> None:
    run_sweep(tmp_path, seed, 150)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(10, 16))
def test_arm_kernels_bit_exact_wide(seed: int, tmp_path: Path) -> None:
    run_sweep(tmp_path, seed, 2000)
