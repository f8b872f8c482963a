"""`tiny demo` end to end (slow: trains a model on the host; `make demo` runs it on QEMU)."""
from __future__ import annotations

import pytest


@pytest.mark.slow
def test_demo_on_host(tmp_path) -> None:
    from tiny.demo import run_demo
    assert run_demo(board="host", out=tmp_path / "demo", train_epochs=1) == 0
    html = (tmp_path / "demo" / "report.html").read_text()
    assert "BIT-EXACT" in html
