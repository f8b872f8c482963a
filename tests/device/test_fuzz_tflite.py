"""Mutation fuzzing of the .tflite importer: byte and bit flips, truncations, splices of two models,
oversized or negative dimensions, hostile integers at aligned offsets.

The rule: a damaged model ends in a TinyError (CLI: exit 1 or 2 with a one-line message), never in
another exception, a traceback, a signal, a hang, or a file written.

The default run checks a few hundred mutants in-process (loader + compile, the first steps of
`compile` and `report`) through hypothesis, and a few through the CLI; the slow run checks 10,000
in-process and a CLI sample. `python -m tests.device.test_fuzz_tflite N` runs N in-process and
prints the counts and the time (README, robustness).
"""
from __future__ import annotations

import os
import random
import struct
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests import models
from tiny.ir import TinyError

ROOT = Path(__file__).resolve().parents[2]
INTERESTING = [0, 1, 2, 3, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000,
               0xFFFFFFFF, 0xFFFFFFFE, 1 << 20, 1 << 30]
KINDS = ["bytes", "bits", "truncate", "splice", "dims", "int32", "zero_run"]


def _shape_offsets(buf: bytes) -> list[int]:
    """File offsets of every tensor-shape element (for the 'dims' mutation)."""
    from tiny.frontend.flatbuf import schema
    s = schema()
    m = s.Model.GetRootAs(buf, 0)
    sg = m.Subgraphs(0)
    offs = []
    for i in range(sg.TensorsLength()):
        t = sg.Tensors(i)
        o = t._tab.Offset(4)          # field 0 of Tensor: shape
        if o:
            pos = t._tab.Vector(o)
            offs += [pos + 4 * j for j in range(t.ShapeLength())]
    return offs


def mutate(rng: random.Random, a: bytes, b: bytes, kind: str | None = None) -> tuple[str, bytes]:
    """One mutant of model `a` (`b` is the second parent of splices)."""
    kind = kind or rng.choice(KINDS)
    x = bytearray(a)
    if kind == "bytes":
        for _ in range(rng.randint(1, 16)):
            x[rng.randrange(len(x))] = rng.randrange(256)
    elif kind == "bits":
        for _ in range(rng.randint(1, 8)):
            x[rng.randrange(len(x))] ^= 1 << rng.randrange(8)
    elif kind == "truncate":
        x = x[:rng.randrange(len(x))]
    elif kind == "splice":
        i, j = rng.randrange(len(a)), rng.randrange(len(b))
        x = bytearray(a[:i] + b[j:]) if rng.random() < 0.5 else bytearray(b[:j] + a[i:])
    elif kind == "dims":
        offs = _shape_offsets(a)
        for _ in range(rng.randint(1, 3)):
            v = rng.choice([0, -1, -7, 1 << 16, 1 << 20, 1 << 30, 0x7FFFFFFF, rng.randrange(1, 100)])
            struct.pack_into("<i", x, rng.choice(offs), v)
    elif kind == "int32":  # a hostile integer where a field, offset or length may sit
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(0, len(x) - 4) & ~3
            struct.pack_into("<I", x, pos, rng.choice(INTERESTING))
    elif kind == "zero_run":
        i = rng.randrange(len(x))
        n = rng.randint(1, 64)
        x[i:i + n] = bytes(len(x[i:i + n]))
    return kind, bytes(x)


def probe(buf: bytes) -> str:
    """Load and compile in-process; 'ok', 'rejected', or raise the unexpected exception."""
    from tiny.frontend.tflite import load_bytes
    from tiny.workflow import compile_for
    try:
        g = load_bytes(buf, name="mutant.tflite")
        compile_for(g, "host", "layer")
    except TinyError as e:
        msg = str(e)
        assert "\n" not in msg.strip() and len(msg) < 2000, msg[:300]
        return "rejected"
    return "ok"


def _parents() -> list[bytes]:
    return [models.tiny_cnn().read_bytes(), models.custom_cnn().read_bytes()]


def run(n: int, seed: int = 0) -> dict:
    """n mutants in-process; counts per outcome and kind, failures (kind, exception) listed."""
    ps = _parents()
    rng = random.Random(seed)
    counts: Counter = Counter()
    failures = []
    t0 = time.time()
    for i in range(n):
        a, b = rng.sample(ps, 2) if rng.random() < 0.3 else (rng.choice(ps),) * 2
        kind, buf = mutate(rng, a, b)
        try:
            counts[probe(buf)] += 1
        except Exception as e:  # the defect this test exists to find
            counts["unexpected"] += 1
            failures.append((i, kind, f"{type(e).__name__}: {str(e)[:160]}"))
    return {"cases": n, "counts": dict(counts), "failures": failures, "seconds": round(time.time() - t0, 1)}


def test_mutants_in_process_hypothesis():
    """A few hundred mutants, shrunk to the smallest failing mutation by hypothesis if one fails."""
    from hypothesis import HealthCheck, given, settings, strategies as st
    ps = _parents()

    @settings(max_examples=250, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(seed=st.integers(0, 2**32 - 1), kind=st.sampled_from(KINDS), pa=st.integers(0, 1), pb=st.integers(0, 1))
    def one(seed: int, kind: str, pa: int, pb: int) -> None:
        _, buf = mutate(random.Random(seed), ps[pa], ps[pb], kind)
        probe(buf)

    one()


def test_unmutated_models_still_load():
    for buf in _parents():
        assert probe(buf) == "ok"


def _cli(tmp: Path, buf: bytes, cmd: str) -> tuple[subprocess.CompletedProcess, Path]:
    m = tmp / "m.tflite"
    m.write_bytes(buf)
    out = tmp / "out"
    argv = [sys.executable, "-m", "tiny.cli", cmd, str(m), "--board", "host"]
    argv += ["-o", str(out)] if cmd == "compile" else ["--json"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(argv, cwd=tmp, env=env, capture_output=True, text=True, timeout=120), out


def _check_cli(tmp: Path, buf: bytes, cmd: str) -> str:
    r, out = _cli(tmp, buf, cmd)
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    assert r.returncode in (0, 1, 2), (r.returncode, r.stderr[-500:])
    if r.returncode != 0:
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert lines and lines[-1].startswith("tiny: error:") and len(lines[-1]) < 2000, r.stderr[-500:]
        assert not out.exists(), f"{cmd} wrote {out} for a rejected model"
        return "rejected"
    return "ok"


def _cli_sample(tmp_path: Path, n: int, seed: int) -> Counter:
    ps = _parents()
    rng = random.Random(seed)
    c: Counter = Counter()
    for i in range(n):
        kind, buf = mutate(rng, ps[1], ps[0], KINDS[i % len(KINDS)])
        d = tmp_path / f"c{i}"
        d.mkdir()
        c[_check_cli(d, buf, "compile" if i % 2 == 0 else "report")] += 1
    return c


def test_mutants_cli():
    """Through the CLI as a user runs it: the issue's UnicodeDecodeError / TFLM-allocation cases."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        c = _cli_sample(Path(d), 4, seed=15)
    assert sum(c.values()) == 4


@pytest.mark.slow
def test_mutants_in_process_10k():
    r = run(10_000, seed=1)
    assert not r["failures"], r["failures"][:20]
    assert r["counts"].get("rejected", 0) > 5000


@pytest.mark.slow
def test_mutants_cli_sample(tmp_path: Path):
    c = _cli_sample(tmp_path, 100, seed=2)
    assert sum(c.values()) == 100


if __name__ == "__main__":
    import json
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000,
                         int(sys.argv[2]) if len(sys.argv) > 2 else 1), indent=1))
