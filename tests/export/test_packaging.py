"""Packaging and the Python API: declared dependencies, --version, a clean `pip install .`, the
functions of docs/api.md, and no global side effects on import."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests import models

ROOT = Path(__file__).resolve().parents[2]
PY = [sys.executable]
# import name -> distribution name, where they differ
DIST = {"sklearn": "scikit-learn", "PIL": "pillow", "serial": "pyserial", "yaml": "pyyaml",
        "tensorflow": "tensorflow-cpu", "tensorflow_model_optimization": "tensorflow-model-optimization",
        "tflite_micro": "tflite-micro", "ai_edge_litert": "ai-edge-litert", "SCons": "scons", "tf_keras": "tf-keras"}


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _names(reqs: list[str]) -> set[str]:
    import re
    return {re.split(r"[<>=~!\[; ]", r, maxsplit=1)[0].lower() for r in reqs}


def test_every_imported_package_is_declared() -> None:
    """Walk every import of the package: each third-party module is a core dependency or in an extra."""
    proj = _project()
    core = _names(proj["dependencies"])
    extras = set().union(*(_names(v) for v in proj["optional-dependencies"].values()))
    stdlib = set(sys.stdlib_module_names)
    used: dict[str, str] = {}
    for f in (ROOT / "tiny").rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
            for m in mods:
                top = m.split(".")[0]
                if top not in stdlib and top != "tiny":
                    used.setdefault(top, str(f.relative_to(ROOT)))
    missing = {m: where for m, where in used.items() if DIST.get(m, m).lower().replace("_", "-") not in core | extras}
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"
    assert proj["name"] != "tiny" and proj["requires-python"] == ">=3.11"
    # the heavy ones are extras, not core
    assert not core & {"matplotlib", "scikit-learn", "pillow", "tensorflow-cpu", "tflite-micro"}


def test_version_flag() -> None:
    import tiny
    r = subprocess.run([*PY, "-m", "tiny.cli", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip() == f"tiny {tiny.installed_version()} (tiny-cortexm)"


def test_import_leaves_matplotlib_alone() -> None:
    code = ("import matplotlib; matplotlib.use('svg'); import tiny, tiny.plots, tiny.train.report, sys; "
            "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules, "
            "'tensorflow' in sys.modules, 'tflite_micro' in sys.modules)")
    r = subprocess.run([*PY, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": ""})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["svg", "False", "False", "False"]


def test_python_api_end_to_end(tmp_path: Path) -> None:
    import numpy as np

    import tiny
    from tiny import oracle
    g = tiny.load(models.tiny_cnn())
    assert [op.type for op in g.ops][:2] == ["CONV_2D", "DEPTHWISE_CONV_2D"]
    c = tiny.compile(g, board="host", out=tmp_path / "proj")
    assert (tmp_path / "proj" / "src" / "model.c").exists() and c.summary()["arena_bytes"] == c.plan.arena_bytes
    e = tiny.export(g, board="host", out=tmp_path / "lib")
    assert (e.out / "include" / "tiny_model.h").exists() and e.summary()["inputs"][0]["shape"] == (1, 16, 16, 3)
    rep = tiny.report(models.tiny_cnn(), board="qemu-m4-256k")
    assert rep["peak_sram_bytes"] > 0 and rep["macs"] == c.summary()["macs"]
    v = tiny.validate(g, board="host", samples=2)
    assert v["bit_exact"] is True and v["samples"] == 2 and v["mismatched_elements"] == 0
    # the API is callable under the names of the subpackages too, however they were imported
    import tiny.compile as cmod
    import tiny.export as mod
    import tiny.train.data  # noqa: F401
    assert callable(tiny.train) and callable(tiny.export) and callable(tiny.compile) and callable(tiny.report)
    assert mod.export_model and cmod.compile_model and tiny.compile(g, board="host").hash == c.hash
    assert np.iinfo(np.int8).min == -128 and oracle is not None


@pytest.mark.slow
def test_pip_install_into_a_clean_venv(tmp_path: Path) -> None:
    """`pip install .` (not editable, core dependencies only) and the core commands, with neither the
    oracle nor TensorFlow, matplotlib or scikit-learn in the venv. ~60-90 s (wheels from the cache)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = venv / "bin" / "pip"
    r = subprocess.run([str(pip), "install", "-q", str(ROOT)], capture_output=True, text=True, timeout=900,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    py = venv / "bin" / "python"
    gone = subprocess.run([str(py), "-c", "import importlib.util as u; print([m for m in ('tflite_micro', "
                           "'ai_edge_litert', 'tensorflow', 'matplotlib', 'sklearn', 'PIL') if u.find_spec(m)])"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert gone.stdout.strip() == "[]"
    exe = venv / "bin" / "tiny"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    v = subprocess.run([str(exe), "--version"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert v.returncode == 0 and "tiny-cortexm" in v.stdout
    model = models.tiny_cnn()
    rep = subprocess.run([str(exe), "report", str(model), "--board", "qemu-m4-256k", "--json"],
                         capture_output=True, text=True, cwd=tmp_path, env=env)
    assert rep.returncode == 0, rep.stderr
    data = json.loads(rep.stdout)
    from tiny.report import report
    want, _ = report(str(model), "qemu-m4-256k")
    assert data["peak_sram_bytes"] == want["peak_sram_bytes"] and data["macs"] == want["macs"]
    ex = subprocess.run([str(exe), "export", str(model), "--board", "host", "-o", str(tmp_path / "lib")],
                        capture_output=True, text=True, cwd=tmp_path, env=env)
    assert ex.returncode == 0, ex.stderr
    # the runtime came from the installed package data, not from this source tree
    where = subprocess.run([str(py), "-c", "import tiny.paths as p; print(p.FIRMWARE)"], capture_output=True,
                           text=True, cwd=tmp_path, env=env).stdout.strip()
    assert str(venv) in where and (tmp_path / "lib" / "include" / "tiny_model.h").exists()
