"""TFLM in a child process: same answers as TFLM in-process, and its abort or hang becomes an
OracleError while tiny goes on (report without tflm_arena_bytes, validate against the reference)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests import models
from tiny import oracle
from tiny.compare import random_inputs
from tiny.frontend.tflite import load

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh_worker():
    oracle._worker().stop()
    yield
    oracle._worker().stop()


def test_worker_matches_tflm_in_process(fresh_worker):
    from tflite_micro.python.tflite_micro import runtime as rt
    g = load(models.custom_cnn())
    for seed in range(3):
        xs = random_inputs(g, seed)
        got = oracle.run_all(g, xs)
        interp = rt.Interpreter.from_bytes(g.meta["tflite"], arena_size=oracle._arena_guess(g),
                                           intrepreter_config=rt.InterpreterConfig.kPreserveAllTensors)
        interp.set_input(xs[0], 0)
        interp.invoke()
        for tid in g.activations():
            want = oracle._tensor_value(interp.GetTensor(tid, 0), g.tensors[tid].shape)
            assert np.array_equal(got[tid], want), g.tensors[tid].name
        assert np.array_equal(oracle.run(g, xs)[0], got[g.outputs[0]])
    pid = oracle._worker().proc.pid
    oracle.arena_bytes(g)
    assert oracle._worker().proc.pid == pid          # one worker, reused


def test_abort_becomes_error_and_worker_restarts(fresh_worker, monkeypatch):
    g = load(models.tiny_cnn())
    monkeypatch.setenv("TINY_ORACLE_FAULT", "abort")
    with pytest.raises(oracle.OracleError, match=r"TFLite Micro itself failed on this model: it died of "
                                                 r"signal SIGABRT .*fault injected"):
        oracle.arena_bytes(g)
    monkeypatch.delenv("TINY_ORACLE_FAULT")
    assert oracle.arena_bytes(g) > 0                 # a new worker answers


def test_hang_times_out(fresh_worker, monkeypatch):
    g = load(models.tiny_cnn())
    monkeypatch.setenv("TINY_ORACLE_FAULT", "hang")
    monkeypatch.setenv("TINY_ORACLE_TIMEOUT", "3")
    with pytest.raises(oracle.OracleError, match="no answer within 3 s"):
        oracle.run_all(g, random_inputs(g, 0))


def _cli(*argv: str, fault: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TINY_ORACLE_FAULT": fault}
    return subprocess.run([sys.executable, "-m", "tiny.cli", *argv], env=env, capture_output=True,
                          text=True, timeout=300)


def test_cli_goes_on_without_tflm():
    m = str(models.tiny_cnn())
    r = _cli("report", m, "--board", "host", "--json", fault="abort")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-1000:]
    d = json.loads(r.stdout)
    assert d["tflm_arena_bytes"] is None and "SIGABRT" in d["tflm_error"]
    assert d["peak_sram_bytes"] > 0
    r = _cli("validate", m, "--board", "host", "--samples", "2", fault="abort")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-1000:]
    assert "numpy reference ONLY" in r.stdout and "TFLite Micro itself failed" in r.stdout


def test_validate_json_says_reference_only(fresh_worker, monkeypatch):
    from tiny.compare import validate
    g = load(models.tiny_cnn())
    monkeypatch.setenv("TINY_ORACLE_FAULT", "abort")
    d = validate(g, None, "host", 2).as_json()
    assert d["oracle"] == "reference-only" and "SIGABRT" in d["oracle_error"] and d["samples"] == 2
    monkeypatch.delenv("TINY_ORACLE_FAULT")
    oracle._worker().stop()
    d = validate(g, None, "host", 2).as_json()
    assert d["oracle"] == "tflm" and "oracle_error" not in d and d["bit_exact"]
