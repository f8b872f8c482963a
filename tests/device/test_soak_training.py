"""Training fault soak: on-device SGD on qemu-m4-256k with the emulator killed at random points
(between steps, or in the middle of a request from another thread) and the run resumed from its
last checkpoint. The final weights must equal an uninterrupted run's (the numpy training oracle,
bit-exact with the board, tests/train/test_device_vs_oracle.py) bit for bit, and the host must
account for every step it lost and redid.

Why no step can be silently lost: the firmware numbers its steps and refuses a TRAIN_STEP whose
number is not its own counter (a resent step is answered from its record), so a board that
restarted with its flashed weights cannot be stepped on as if nothing happened.

With `hangs`, the board is also made to hang inside a TRAIN_STEP (WATCHDOG_TEST): its watchdog
resets it, the host gets BoardReset at once (the RESET notice) and resumes over the same session.
The default run has test_watchdog_resume (a 500 ms watchdog build, two hangs).

Slow run only (the default run has tests/train/test_device_vs_oracle.py::test_resume_after_qemu_is_killed):
60 steps with 2 kills, and TINY_SOAK_STEPS (default 2,000) steps with one kill per 200 steps.
`python -m tests.device.test_soak_training STEPS` prints the figures for README."""
from __future__ import annotations

import os
import random
import sys
import threading
import time

import pytest

from tests.train.conftest import assert_same_as_oracle
from tiny.device.protocol import BoardReset, DeviceError
from tiny.pipeline import load_model
from tiny.train import data as tdata
from tiny.train.api import compile_train, oracle_for
from tiny.train.config import load_config
from tiny.train.device import TRAIN_STEP, TrainDevice
from tiny.train.run import sample_index
from tiny.workflow import open_session

BOARD = "qemu-m4-256k"


def soak(steps: int, kills: int, seed: int = 0, checkpoint_every: int = 25, lr: float = 0.03,
         hangs: int = 0) -> dict:
    rng = random.Random(seed)
    g = load_model(tdata.base_model())
    t = g.tensors[g.inputs[0]]
    xtr, ytr, _, _ = tdata.load("digits-transfer", t.shape, t.quant.s(), t.quant.zp(), 10)
    tc = compile_train(g, BOARD, load_config("sparse", lr=lr, momentum=0.9))
    kill_at = sorted(rng.sample(range(1, steps), kills))
    hang_at = sorted(rng.sample(sorted(set(range(1, steps)) - set(kill_at)), hangs))
    t0 = time.time()
    sess = open_session(tc, BOARD)
    dev = TrainDevice(sess, len(tc.param_names))
    dev.set_hparams(tc.lr, tc.momentum, tc.qas)
    ck = dev.checkpoint()
    events: list[dict] = []
    lost: list[int] = []
    step = 0
    try:
        while step < steps:
            try:
                if kill_at and step == kill_at[0]:
                    kill_at.pop(0)
                    q = sess.transport.qemu.proc
                    if rng.random() < 0.5:
                        q.kill()                                   # between two steps
                    else:                                          # in the middle of this step's request
                        threading.Timer(rng.uniform(0.0, 0.05), q.kill).start()
                if hang_at and step == hang_at[0]:
                    hang_at.pop(0)
                    sess.watchdog_test(TRAIN_STEP)                 # this step's TRAIN_STEP hangs
                i = sample_index(step, len(xtr))
                r = dev.step(xtr[i:i + 1], int(ytr[i]), step)
                if r["steps"] != step + 1:
                    raise DeviceError(f"board step counter {r['steps']} after step {step}")
                step += 1
                if step % checkpoint_every == 0 or step == steps:
                    ck = dev.checkpoint()
            except BoardReset as e:
                # the watchdog reset the board: same session, the checkpoint back on it
                events.append({"lost_at": step, "resume_from": ck.steps, "watchdog": True,
                               "error": str(e).splitlines()[0][:120]})
                lost += list(range(ck.steps, step))
                dev.set_hparams(tc.lr, tc.momentum, tc.qas)
                dev.restore(ck)
                step = ck.steps
            except DeviceError as e:
                # what the host reports: where the board was lost, what is redone
                events.append({"lost_at": step, "resume_from": ck.steps, "error": str(e).splitlines()[0][:120]})
                lost += list(range(ck.steps, step))
                sess.close()
                sess = open_session(tc, BOARD)
                dev = TrainDevice(sess, len(tc.param_names))
                dev.set_hparams(tc.lr, tc.momentum, tc.qas)
                dev.restore(ck)
                step = ck.steps
        final = dev.checkpoint()
    finally:
        sess.close()
    wall = time.time() - t0
    oracle = oracle_for(tc)
    for s in range(steps):
        i = sample_index(s, len(xtr))
        oracle.step(xtr[i:i + 1], int(ytr[i]))
    assert final.steps == steps
    assert_same_as_oracle(tc, final, oracle)     # bit for bit, momentum included
    return {"steps": steps, "kills": kills, "hangs": hangs, "resumes": len(events),
            "watchdog_resets": sum(1 for e in events if e.get("watchdog")), "steps_redone": len(lost),
            "events": events, "wall_s": round(wall, 1)}


@pytest.mark.slow
@pytest.mark.qemu
def test_soak_short():
    r = soak(60, kills=2, seed=1, checkpoint_every=20)
    assert r["resumes"] >= 2
    assert r["steps_redone"] == sum(e["lost_at"] - e["resume_from"] for e in r["events"])


@pytest.mark.qemu
def test_watchdog_resume(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two TRAIN_STEPs hang; the watchdog (2.5 s build: shorter ones fire on their own on a loaded
    host, whose emulator misses its feeds) resets the board each time; the run
    resumes from its checkpoint over the same session and ends bit-exact with the oracle."""
    monkeypatch.setenv("TINY_WATCHDOG_MS", "2500")
    r = soak(16, kills=0, seed=3, checkpoint_every=5, hangs=2)
    assert r["watchdog_resets"] == r["resumes"] == 2
    assert all("reset by its watchdog during TRAIN_STEP" in e["error"] for e in r["events"])


@pytest.mark.slow
@pytest.mark.qemu
def test_soak_long():
    n = int(os.environ.get("TINY_SOAK_STEPS", "2000"))
    r = soak(n, kills=max(2, n // 200), seed=2, checkpoint_every=50, hangs=max(1, n // 400))
    assert r["resumes"] >= max(2, n // 200) + max(1, n // 400)


if __name__ == "__main__":
    import json
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    os.environ.setdefault("TINY_WATCHDOG_MS", "2000")   # QEMU's default (8 s) would make each hang slow
    print(json.dumps(soak(n, kills=max(2, n // 200), seed=2, checkpoint_every=50, hangs=max(1, n // 400)), indent=1))
