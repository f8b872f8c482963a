"""Frozen output channels of a partially updated conv / fully connected layer stay in flash: the
filter is an SRAM table of the n updated channels and a const table of the rest, the forward two
kernel calls plus an in-place channel interleave, the backward reads the frozen channels through
w_frozen. Checked: placement in the built ELF, the memory report against the C arrays, the forward
against the reference interpreter (bit-exact with TFLM) and training against the numpy oracle."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.train.conftest import train_lockstep
from tiny.boards import get_board
from tiny.interpreter import run_graph
from tiny.train.api import compile_train
from tiny.train.config import load_config
from tiny.train.run import updated_tensors
from tiny.workflow import open_session, project_dir_for

# digits-transfer base model: #4 and #6 are 1x1 convs on 4x4 (32 output channels), #8 the FC
# classifier (10 outputs). 16/32, 4/32 (ratio 1/8) and 5/10 channels update.
WEIGHTS = {"#4": 0.5, "#6": 0.125, "#8": 0.5}
SPLIT = {4: 16, 6: 4, 8: 5}


# the first layer (3x3 conv, 8 channels on 8x8: DSP forward variant, a 64-row interleave, portable
# backward) and a 1x1 conv at 4 of 16 channels, the backward through every layer.
WEIGHTS_LOW = {"#0": 0.5, "#2": 0.25, "#8": 0.3}
SPLIT_LOW = {0: 4, 2: 4, 8: 3}


def _cfg(weights: dict[str, float] = WEIGHTS, **kw):
    cfg = load_config("sparse", **{"lr": 0.05, **kw})
    cfg.weights = dict(weights)
    cfg.bias_last = 3 if weights is WEIGHTS else 8
    return cfg


def _k(g, op: int) -> int:
    """Filter bytes per output channel."""
    f = g.tensors[g.ops[op].inputs[1]]
    return f.size // f.shape[0]


def _c_arrays(tc) -> dict[str, tuple[bool, int, str]]:
    """name -> (const, bytes, initializer text) of every array the generated C defines."""
    sizes = {"int8_t": 1, "uint8_t": 1, "int32_t": 4, "float": 4}
    out = {}
    for text in (tc.files["model.c"], tc.files["train_model.c"]):
        for m in re.finditer(r"^(?:static )?(const )?(u?int8_t|int32_t|float) (\w+)\[(\d+)\][^=;]*(?:= \{([^}]*)\})?",
                             text, re.M):
            const, ctype, name, n, body = m.groups()
            out[name] = (bool(const), sizes[ctype] * int(n), body or "")
    return out


def _values(body: str) -> np.ndarray:
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    return np.array([int(v) for v in body.replace("\n", " ").split(",") if v.strip()], dtype=np.int8)


def test_split_tables_and_memory_report(base_graph) -> None:
    tc = compile_train(base_graph, "qemu-m4-256k", _cfg())
    g = tc.graph       # the recipe's weight headroom requantizes the trained filters
    plan = tc.train_plan
    assert plan.split_filters() == SPLIT
    arrays = _c_arrays(tc)
    for op, n in SPLIT.items():
        f = g.tensors[g.ops[op].inputs[1]].data.reshape(-1)
        k = _k(g, op)
        const, nb, body = arrays[f"l{op}_filter"]
        assert not const and nb == n * k and np.array_equal(_values(body), f[:n * k])
        const, nb, body = arrays[f"l{op}_filter_frozen"]
        assert const and nb == f.size - n * k and np.array_equal(_values(body), f[n * k:])
    # the SRAM parameters of the report are the mutable weight/bias tables of the C, and these are
    # (independently of the plan) the updated channels plus the int32 biases of the bias layers
    mutable = sum(nb for name, (const, nb, _) in arrays.items()
                  if not const and re.fullmatch(r"l\d+_(filter|bias|multiplier|shift)", name))
    m = tc.train_memory
    assert m["sram_param_bytes"] == mutable
    by_shape = sum(n * _k(g, op) for op, n in SPLIT.items()) + sum(
        4 * g.tensors[g.ops[u.op].outputs[0]].shape[-1] for u in plan.updates if u.bias)
    assert mutable == by_shape
    # the sparse recipe's weight shadow (it fits here): one byte per SRAM weight, the updated channels only
    shadow = sum(nb for name, (const, nb, _) in arrays.items() if not const and re.fullmatch(r"t\d+_wf", name))
    assert shadow == m["shadow_bytes"] == sum(nb for name, (const, nb, _) in arrays.items()
                                              if not const and re.fullmatch(r"l\d+_filter", name))
    # the peak is what the firmware allocates: arena (the interleave scratch planned inside it),
    # saved buffer, logits, the SRAM tables and the shadow (no momentum buffers here)
    alloc = mutable + shadow + sum(arrays[k][1] for k in ("tiny_arena", "saved", "logits_tmp"))
    assert m["train_peak_sram_bytes"] == alloc
    # the backward step reads the frozen channels from the flash table
    for op in SPLIT:
        assert f".w_frozen = l{op}_filter_frozen" in tc.files["train_model.c"]


def test_report_cli_counts_the_sram_channels(base_graph, tmp_path: Path) -> None:
    from tiny.train import data as tdata
    cfg = tmp_path / "frozen.toml"
    cfg.write_text('[train]\nrecipe = "sparse"\nbias_last = 3\n[train.weights]\n'
                   + "".join(f'"{k}" = {v}\n' for k, v in WEIGHTS.items()))
    r = subprocess.run([sys.executable, "-m", "tiny.cli", "report", str(tdata.base_model()), "--board", "qemu-m4-256k",
                        "--train", str(cfg), "--json"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)["train_memory"]
    arrays = _c_arrays(compile_train(base_graph, "qemu-m4-256k", _cfg()))
    assert m["sram_param_bytes"] == sum(nb for name, (const, nb, _) in arrays.items()
                                        if not const and re.fullmatch(r"l\d+_(filter|bias)", name))


@pytest.mark.qemu
def test_placement_in_the_elf(base_graph) -> None:
    """In the built firmware the SRAM table of each split layer is n*K bytes in RAM, the frozen
    table (oc-n)*K bytes in flash."""
    from tiny.device.connect import firmware_elf
    from tiny.workflow import write_project
    board = get_board("qemu-m4-256k")
    # (an lr of its own: a firmware project no parallel test builds at the same time)
    tc = compile_train(base_graph, board.name, _cfg(lr=0.031))
    project = write_project(tc, board.name, project_dir_for(tc, board.name))
    elf = firmware_elf(board, project)
    syms = {}
    for line in subprocess.run(["arm-none-eabi-nm", "-S", str(elf)], capture_output=True, text=True,
                               check=True).stdout.splitlines():
        parts = line.split()
        if len(parts) == 4:
            syms[parts[3]] = (int(parts[0], 16), int(parts[1], 16), parts[2])

    def in_ram(addr: int) -> bool:
        return board.ram_origin <= addr < board.ram_origin + board.sram_bytes

    def in_flash(addr: int) -> bool:
        return board.flash_origin <= addr < board.flash_origin + board.flash_bytes
    for op, n in SPLIT.items():
        k = _k(tc.graph, op)
        oc = tc.graph.tensors[tc.graph.ops[op].outputs[0]].shape[-1]
        addr, size, kind = syms[f"l{op}_filter"]
        assert size == n * k and kind in "dDbB" and in_ram(addr), (op, syms[f"l{op}_filter"])
        addr, size, kind = syms[f"l{op}_filter_frozen"]
        assert size == (oc - n) * k and kind in "rRtT" and in_flash(addr), (op, syms[f"l{op}_filter_frozen"])


BOARDS = ["host", pytest.param("qemu-m4-256k", marks=pytest.mark.qemu),
          pytest.param("qemu-m3", marks=pytest.mark.qemu)]


@pytest.mark.parametrize("board", BOARDS)
def test_split_forward_matches_reference(base_graph, transfer_data, board: str) -> None:
    """The training firmware's forward (two calls + interleave per split layer) equals the
    reference interpreter bit for bit: the model output and each split layer's own output."""
    xtr = transfer_data[0]
    tc = compile_train(base_graph, board, _cfg())
    g = tc.graph       # the recipe's weight headroom requantizes the trained filters
    with open_session(tc, board) as s:
        for i in range(3):
            x = xtr[i:i + 1]
            ref = run_graph(g, [x])
            out = s.run([x])
            assert out[0] == np.ascontiguousarray(ref[g.outputs[0]]).tobytes(), i
            for op in SPLIT:
                t = g.ops[op].outputs[0]
                s.write_input(0, x)
                s.invoke(stop_after=op)
                got = np.frombuffer(s.read_tensor(t, g.tensors[t].nbytes), np.int8)
                assert np.array_equal(got, ref[t].reshape(-1)), (i, op)


def _train(g, data, board: str, n: int, split: dict[int, int] = SPLIT, **kw):
    xtr, ytr, _, _ = data
    tc = compile_train(g, board, _cfg(WEIGHTS if split is SPLIT else WEIGHTS_LOW, **kw))
    g = tc.graph
    assert tc.train_plan.split_filters() == split
    ck, oracle = train_lockstep(tc, board, xtr, ytr, n)
    # the host puts the frozen channels back: the whole filters equal the oracle's, whose frozen
    # channels are the original ones and whose updated channels moved
    full = updated_tensors(tc, ck)
    for op, c in split.items():
        f = g.tensors[g.ops[op].inputs[1]]
        assert np.array_equal(full[f.id], oracle.params[op]["filter"])
        assert np.array_equal(full[f.id][c:], f.data[c:])
        assert (full[f.id][:c] != f.data[:c]).any(), op
    return tc, oracle


@pytest.mark.parametrize("board", BOARDS)
def test_split_layers_train_bit_exact(base_graph, transfer_data, board: str) -> None:
    """host and qemu-m3: portable backward kernels; qemu-m4-256k: the optimized ones (1x1 conv and
    FC blocked over output channels, with n_upd not a multiple of the block)."""
    _train(base_graph, transfer_data, board, 20, momentum=0.9)


@pytest.mark.parametrize("board", BOARDS)
def test_split_first_layer_bit_exact(base_graph, transfer_data, board: str) -> None:
    _train(base_graph, transfer_data, board, 15, split=SPLIT_LOW)


@pytest.mark.parametrize("board", ["host", pytest.param("qemu-m4-256k", marks=pytest.mark.qemu)])
def test_split_layers_weight_shadow(base_graph, transfer_data, board: str) -> None:
    """The weight shadow of a split layer covers its updated channels only (n*K bytes)."""
    tc, oracle = _train(base_graph, transfer_data, board, 20, shadow=True, lr=0.03)
    for op, n in SPLIT.items():
        assert oracle.frac[op].size == n * _k(base_graph, op) and (oracle.frac[op] != 0).any()
    assert tc.train_memory["shadow_bytes"] == sum(f.size for f in oracle.frac.values())


def test_split_layers_sanitized(base_graph, transfer_data, tmp_path: Path) -> None:
    """The split forward (interleave) and the w_frozen reads of the backward under AddressSanitizer +
    UBSan on the host: a read past an SRAM table of n*K bytes would be reported."""
    from tests.device.test_sanitizers import sanitized_lockstep
    xtr, ytr, _, _ = transfer_data
    sanitized_lockstep(compile_train(base_graph, "host", _cfg(momentum=0.9, shadow=True)), xtr, ytr, 6, tmp_path)
