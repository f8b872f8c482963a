"""Whole models on emulated boards, end to end through PlatformIO, QEMU and the UART protocol."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests import models
from tiny.compare import validate
from tiny.device.protocol import DeviceError
from tiny.ir import TinyError
from tiny.pipeline import load_model
from tiny.workflow import compile_for, open_session

pytestmark = pytest.mark.qemu


def _tiny(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tiny.cli", *args], capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("board,model", [("qemu-m4-256k", models.tiny_cnn), ("qemu-f405", models.custom_cnn)])
def test_validate_cli_on_qemu(board: str, model) -> None:
    r = _tiny("validate", str(model()), "--board", board, "--samples", "2", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["bit_exact"] is True and data["samples"] == 2 and data["board"] == board
    assert data["mismatched_elements"] == 0 and data["max_abs_diff"] == 0


@pytest.mark.parametrize("model,split", [("irb", 0), ("irb", 14), ("custom", 0)])
def test_lut_activations_bit_exact_on_qemu(model: str, split: int) -> None:
    """HARD_SWISH / LOGISTIC run as tiny_lut_s8 on the DSP board, layer by layer and (split) inside
    a 2x2 patch stage: bit-exact with TFLM."""
    from tiny.emit.model import compile_graph
    from tiny.target import Target
    from tiny import ops
    from tiny.ops.base import LUT
    from tiny.passes.patch import build_schedule
    from tiny.passes.patch_geometry import Grid, split_even
    from tiny.interpreter import kernel_for, prepare_all
    from tiny.train import data
    g = load_model(data.base_model("irb") if model == "irb" else models.custom_cnn())
    schedule = None
    if split:
        base = [int(kernel_for(op).scratch_bytes(p)) for op, p in zip(g.ops, prepare_all(g))]
        _, h, w, _ = g.tensors[g.ops[split - 1].outputs[0]].shape
        schedule = build_schedule(g, split, Grid(split_even(h, 2), split_even(w, 2)), base)
    c = compile_graph(g, Target(board="qemu-m4-256k"), schedule=schedule)
    luts = [op.index for op in g.ops if any(v.fn == LUT for v in ops.traits(op).variants)]
    assert luts and all(c.kernels[i] == LUT for i in luts)
    assert not split or any(i < split for i in luts)        # the stage holds LUT layers
    with open_session(c, "qemu-m4-256k") as s:
        res = validate(g, s, "qemu-m4-256k", samples=2, readable=c.readable_ops)
    assert res.bit_exact, res.as_json()


def test_mbv2_144_fits_the_256k_board_only_patch_based() -> None:
    g = load_model(models.mobilenet_v2(0.35, 144, 144))
    layer = compile_for(g, "qemu-m4-256k")
    with pytest.raises(TinyError, match=r"(?s)does not fit board qemu-m4-256k.*needs \d+ bytes.*--schedule patch"):
        open_session(layer, "qemu-m4-256k")
    c = compile_for(g, "qemu-m4-256k", "auto")
    assert c.plan.arena_bytes < 256 * 1024 < layer.plan.arena_bytes
    with open_session(c, "qemu-m4-256k", timeout=30) as s:
        res = validate(g, s, "qemu-m4-256k", samples=1, readable=c.readable_ops)
    assert res.bit_exact, res.as_json()


def test_board_with_another_model_is_refused() -> None:
    g = load_model(models.tiny_cnn())
    c = compile_for(g, "qemu-m4-256k")
    with open_session(c, "qemu-m4-256k") as s:
        with pytest.raises(DeviceError, match="0000000000000000"):
            s.check_model("0000000000000000")


def test_large_inputs_are_preloaded_not_sent_over_the_uart() -> None:
    """A 27 KB image reaches QEMU through preloaded RAM (LOAD_INPUT), and results stay exact."""
    from tiny import oracle
    from tiny.compare import random_inputs
    from tiny.device.protocol import Cmd
    g = load_model(models.mobilenet_v2())
    c = compile_for(g, "qemu-m4-256k")
    samples = [random_inputs(g, seed) for seed in range(2)]
    with open_session(c, "qemu-m4-256k", samples=samples) as s:
        assert len(s.preloaded) == 2
        sent: list[int] = []
        real = s.request
        s.request = lambda cmd, body=b"", timeout=None: (sent.append(int(cmd)), real(cmd, body, timeout))[1]
        for xs in samples:
            out = s.run(xs)[0]
            assert out == oracle.run(g, xs)[0].tobytes()
    assert sent.count(Cmd.LOAD_INPUT) == 2 and Cmd.WRITE_INPUT not in sent
