"""Optimized backward kernels of the training runtime (firmware/src/train/bwd_opt.c) vs the portable
ones (bwd_ref.c), executed on QEMU (qemu-m4-256k: Cortex-M4F) over seeded random training steps:
every byte they write (input gradient, weights, biases, momentum, MobileTL multipliers) must agree.
The fast sweep is part of `make test`, the wide one is marked slow. Also: which kernel the generator
picks per step and board."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.kernels import qemu_sweep
from tiny import paths
from tiny.train.emit import backward_kernel

HERE = Path(__file__).resolve().parent
KERNELS = ["conv2d_1x1", "depthwise_conv2d_3x3", "fully_connected"]


def run_sweep(tmp: Path, seed: int, cases: int, board: str = "qemu-m4-256k") -> str:
    train = Path(paths.FIRMWARE) / "src" / "train"
    srcs = [HERE / "test_bwd_sweep.c", train / "train.c", train / "bwd_ref.c", train / "bwd_opt.c",
            Path(paths.FIRMWARE) / "src" / "runtime" / "markers.c"]
    return qemu_sweep.run_sweep(srcs, KERNELS, tmp / f"bwd-sweep-{seed}-{cases}.elf", seed, cases, board)


@pytest.mark.qemu
@pytest.mark.parametrize("seed", [1, 2])
def test_backward_kernels_bit_exact_on_qemu(seed: int, tmp_path: Path) -> None:
    run_sweep(tmp_path, seed, 60)


@pytest.mark.qemu
def test_backward_kernels_bit_exact_on_m7(tmp_path: Path) -> None:
    run_sweep(tmp_path, 3, 30, "qemu-f746")


@pytest.mark.slow
@pytest.mark.qemu
@pytest.mark.parametrize("seed", range(10, 14))
def test_backward_kernels_bit_exact_wide(seed: int, tmp_path: Path) -> None:
    run_sweep(tmp_path, seed, 600)


def _step(k: int, s: int, p: int) -> dict[str, int]:
    return {"k_h": k, "k_w": k, "s_h": s, "s_w": s, "p_t": p, "p_l": p}


def test_backward_kernel_selection() -> None:
    assert backward_kernel("conv", _step(1, 1, 0), "qemu-m4-256k", "opt") == "tiny_conv2d_1x1_bwd_f32"
    assert backward_kernel("conv", _step(1, 2, 0), "qemu-m4-256k", "opt") == "tiny_conv2d_bwd_f32"
    assert backward_kernel("conv", _step(3, 1, 1), "qemu-m4-256k", "opt") == "tiny_conv2d_bwd_f32"
    assert backward_kernel("dw", _step(3, 1, 1), "qemu-f746", "opt") == "tiny_depthwise_conv2d_3x3_bwd_f32"
    assert backward_kernel("dw", _step(3, 2, 1), "qemu-m4-256k", "opt") == "tiny_depthwise_conv2d_bwd_f32"
    assert backward_kernel("fc", _step(1, 1, 0), "qemu-m33", "opt") == "tiny_fully_connected_blk_bwd_f32"
    # the portable runtime: --kernels ref, the host board (the specification), cores without an FPU
    for board, kernels in (("qemu-m4-256k", "ref"), ("host", "opt"), ("qemu-m3", "opt")):
        assert backward_kernel("conv", _step(1, 1, 0), board, kernels) == "tiny_conv2d_bwd_f32"
        assert backward_kernel("fc", _step(1, 1, 0), board, kernels) == "tiny_fully_connected_bwd_f32"


@pytest.mark.qemu
def test_bench_train_cli() -> None:
    """`tiny bench MODEL --train RECIPE --json`: one step = forward (the inference kernels plus the
    captures) + the backward steps, each with the kernel the generator chose."""
    import json
    import subprocess
    import sys
    from tiny.bench import bench
    from tiny.train import data as tdata
    model = str(tdata.base_model("v1"))

    def run(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tiny.cli", "bench", model, "--train", "sparse", *extra],
                              capture_output=True, text=True, timeout=600)
    r = run("--board", "qemu-m4-256k", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["instructions"] == d["forward_instructions"] + d["backward_instructions"]
    assert d["backward_instructions"] == sum(s["instructions"] for s in d["layers"])
    inf = bench(model, "qemu-m4-256k")[0]
    inference = inf["instructions"]
    assert inference < d["forward_instructions"] < 1.2 * inference
    # estimated cycles from the instruction classes between the step markers: the forward costs what
    # the inference bench estimates from its per-layer markers, plus the captures
    assert d["est_cycles"] == d["est_cycles_forward"] + d["est_cycles_backward"]
    assert inf["est_cycles"] < d["est_cycles_forward"] < 1.2 * inf["est_cycles"]
    assert 0 < d["est_cycles_backward"] < d["backward_instructions"] * 3
    kernels = {s["kind"]: s["kernel"] for s in d["layers"] if s["kernel"]}
    assert kernels == {"conv": "tiny_conv2d_1x1_bwd_f32", "dw": "tiny_depthwise_conv2d_3x3_bwd_f32",
                       "fc": "tiny_fully_connected_blk_bwd_f32"}
    ref = json.loads(run("--board", "qemu-m4-256k", "--kernels", "ref", "--json").stdout)
    assert {s["kernel"] for s in ref["layers"] if s["kernel"]} == {
        "tiny_conv2d_bwd_f32", "tiny_depthwise_conv2d_bwd_f32", "tiny_fully_connected_bwd_f32"}
    assert ref["backward_instructions"] > 3 * d["backward_instructions"]
    bad = run("--board", "host")
    assert bad.returncode == 2 and "emulated board" in bad.stderr
