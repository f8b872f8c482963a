"""`tiny bench` on a real board reads the DWT cycle count INVOKE returns, over the board's port.

No hardware here: a QEMU board stands in for a flashed real board reached through a serial URL
(its cycle counter reads 0 on QEMU, the plumbing is what is tested)."""
from __future__ import annotations

import dataclasses

import pytest

from tests import models
from tests.unit.test_cli import _no_traceback, tiny


def test_real_board_without_port_explains_the_flow() -> None:
    r = tiny("bench", str(models.tiny_cnn()), "--board", "nucleo_f746zg")
    assert r.returncode == 2
    _no_traceback(r)
    assert "tiny flash" in r.stderr and "--port" in r.stderr


@pytest.mark.qemu
def test_real_board_path_over_a_serial_url(monkeypatch) -> None:
    import tiny.boards as boards
    from tiny.bench import bench
    from tiny.device.connect import firmware_elf
    from tiny.device.qemu import launch
    from tiny.pipeline import load_model
    from tiny.workflow import compile_for, project_dir_for, write_project
    real = boards.get_board("qemu-m4-256k")
    g = load_model(models.tiny_cnn())
    c = compile_for(g, "qemu-m4-256k")
    project = project_dir_for(c, "qemu-m4-256k")
    write_project(c, "qemu-m4-256k", project)
    elf = firmware_elf(real, project)                       # "flashed" before the board turns real
    fake = dataclasses.replace(real, emulated=False)
    real_get = boards.get_board
    monkeypatch.setattr(boards, "get_board", lambda name: fake if name == "qemu-m4-256k" else real_get(name))
    monkeypatch.setattr("tiny.workflow.write_project", lambda *a, **k: project)   # keep the built project
    with launch(real, elf) as q:
        data, text = bench(str(models.tiny_cnn()), "qemu-m4-256k", port=q.url)
    assert data["cycles"] == 0 and len(data["cycles_runs"]) == 5   # QEMU has no DWT
    assert data["macs"] > 0 and "cycles (DWT" in text
