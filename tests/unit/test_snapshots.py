"""Snapshots (IREE style) of the lowered program and of the generated C for small models: any change
to kernel choice, arena plan or emitted C shows up as a diff to review. Regenerate after an intended
change with `TINY_UPDATE_SNAPSHOTS=1 pytest tests/unit/test_snapshots.py` and commit the files.
The numbers themselves are checked by the numeric oracles (tests/device, tests/passes: bit-exact
with TFLM); a snapshot only pins *how* they are computed."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests import models
from tiny.pipeline import load_model
from tiny.workflow import compile_for

SNAP = Path(__file__).resolve().parents[1] / "snapshots"
CASES = {
    "tiny_cnn-m4-layer": (models.tiny_cnn, "qemu-m4-256k", "layer"),
    "tiny_cnn-host-ref": (models.tiny_cnn, "host", "layer"),
    "custom_cnn-m4-patch": (models.custom_cnn, "qemu-m4-256k", "patch"),
}


def _check(path: Path, text: str) -> None:
    if os.environ.get("TINY_UPDATE_SNAPSHOTS"):
        path.write_text(text)
        return
    assert path.exists(), f"{path.name} missing: run with TINY_UPDATE_SNAPSHOTS=1 to create it"
    want = path.read_text()
    assert text == want, f"{path.name} changed (review the diff; TINY_UPDATE_SNAPSHOTS=1 to accept)"


@pytest.mark.parametrize("name", list(CASES))
def test_snapshot(name: str) -> None:
    model, board, schedule = CASES[name]
    c = compile_for(load_model(model()), board, schedule)
    d = c.program.describe()
    steps = d.pop("steps")
    text = json.dumps(d, indent=1)[:-2] + ',\n "steps": [\n' + ",\n".join("  " + json.dumps(s) for s in steps) + "\n ]\n}\n"
    assert json.loads(text)["steps"] == steps
    _check(SNAP / f"{name}.program.json", text)
    _check(SNAP / f"{name}.model.c", c.files["model.c"])
