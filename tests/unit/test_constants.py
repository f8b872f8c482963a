"""C and Python agree on every shared constant: each value below is parsed out of the firmware
headers / sources and compared with the Python definition the host uses."""
from __future__ import annotations

import re
from pathlib import Path

from tiny.build.project import RUNTIME_STATICS_BYTES
from tiny.device import protocol
from tiny.emit import model
from tiny.paths import FIRMWARE
from tiny.train import device as train_device
from tiny.train import emit as train_emit

INCLUDE = FIRMWARE / "include" / "tiny"


def _c_ints(path: Path, prefix: str) -> dict[str, int]:
    """NAME -> value of every `PREFIX_NAME = <int>` enum member or `#define PREFIX_NAME <int>[u]`."""
    text = re.sub(r"/\*.*?\*/", "", path.read_text(), flags=re.S)
    out = {}
    for m in re.finditer(rf"\b{prefix}([A-Z0-9_]+)\s*=\s*(0x[0-9A-Fa-f]+|\d+)\b", text):
        out[m.group(1)] = int(m.group(2), 0)
    for m in re.finditer(rf"#define\s+{prefix}([A-Z0-9_]+)\s+(0x[0-9A-Fa-f]+|\d+)u?\b", text):
        out[m.group(1)] = int(m.group(2), 0)
    return out


def test_dtype_codes() -> None:
    c = _c_ints(INCLUDE / "model.h", "TINY_DTYPE_")
    py = {k.upper(): v for k, v in model._DTYPE_CODE.items()}
    assert c and py == c


def test_protocol_commands_status_and_sizes() -> None:
    h = INCLUDE / "protocol.h"
    cmds = {k: v for k, v in _c_ints(h, "TINY_CMD_").items() if not k.startswith("TRAIN_")}
    assert {c.name: int(c) for c in protocol.Cmd} == cmds
    assert {s.name: int(s) for s in protocol.Status} == _c_ints(h, "TINY_ST_")
    p = _c_ints(h, "TINY_PROTO_")
    assert p["VERSION"] == protocol.VERSION and p["MAX_BODY"] == protocol.MAX_BODY
    assert p["SEQ_UNTRUSTED"] == protocol.SEQ_UNTRUSTED
    assert p["REQ_HEADER"] == protocol.REQ_HEADER.size and p["REPLY_HEADER"] == protocol.REPLY_HEADER.size
    # the runtime's static buffers the build reserves: the two wire buffers fit in it
    payload = p["REPLY_HEADER"] + p["MAX_BODY"] + p["CRC_BYTES"]
    assert 2 * (payload + payload // 254 + 1) < RUNTIME_STATICS_BYTES


def test_training_commands() -> None:
    """The training protocol: tiny/train/device.py's command codes against train.c's switch."""
    src = (FIRMWARE / "src" / "train" / "train.c").read_text()
    c = {m.group(2): int(m.group(1), 16) for m in re.finditer(r"case (0x[0-9a-fA-F]+):\s*\{?\s*/\* ([A-Z_]+)", src)}
    lo, hi = _c_ints(INCLUDE / "protocol.h", "TINY_CMD_")["TRAIN_FIRST"], _c_ints(INCLUDE / "protocol.h", "TINY_CMD_")["TRAIN_LAST"]
    assert len(c) >= 8 and all(lo <= v <= hi for v in c.values())
    for name, v in c.items():
        assert getattr(train_device, name) == v, name
        assert protocol.cmd_name(v) == name


def test_training_step_kinds_flags_captures() -> None:
    h = INCLUDE / "train.h"
    assert {k.upper(): v for k, v in train_emit._KIND.items()} == _c_ints(h, "TINY_TS_")
    flags = {"MASK_BITS": train_emit.FLAG_MASK_BITS, "MASK_COPY": train_emit.FLAG_MASK_COPY,
             "IN_FIRST": train_emit.FLAG_IN_FIRST, "IN2_FIRST": train_emit.FLAG_IN2_FIRST,
             "UPD_B": train_emit.FLAG_UPD_B, "BCAST": train_emit.FLAG_BCAST, "BROADCAST": train_emit.FLAG_BROADCAST}
    assert flags == _c_ints(h, "TINY_TF_")
    # the broadcast gradient's slab: the plan sizes the buffer the runtime fills
    from tiny.passes.sparse_update import BCAST_SLAB
    src = (FIRMWARE / "src" / "train" / "train.c").read_text()
    assert int(re.search(r"#define TINY_BCAST_SLAB (\d+)u", src).group(1)) == BCAST_SLAB
    assert {"COPY": train_emit.CAP_COPY, "MASK": train_emit.CAP_MASK} == _c_ints(h, "TINY_CAP_")
