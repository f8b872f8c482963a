"""Generated code under AddressSanitizer + UBSan (`-fsanitize=address,undefined
-fno-sanitize-recover=all`): every model the suite builds, layer-based, patch-based and as training
firmware, runs once as a sanitized host build, bit-exact against TFLM (inference) or the numpy
training oracle (training), with no sanitizer report.

Default run: a representative subset (a patch schedule and a sparse-update training firmware;
test_models_host.py covers a layer-based CNN). Slow run: every model and variant below."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests import models
from tiny.boards import get_board
from tiny.compare import validate
from tiny.device.connect import open_session as connect
from tiny.pipeline import load_model
from tiny.workflow import compile_for, write_project

SAN_REPORT = re.compile(r"AddressSanitizer|UndefinedBehaviorSanitizer|runtime error:|LeakSanitizer")

MODELS = {
    "tiny-cnn": models.tiny_cnn,
    "custom-cnn": models.custom_cnn,
    "mbv2-0.35-96": models.mobilenet_v2,
    "mbv2-0.35-75x61": lambda: models.mobilenet_v2(0.35, 75, 61),
    "mbv3-small-96": models.mobilenet_v3_small,
    "mbv2-0.35-144": lambda: models.mobilenet_v2(0.35, 144, 144),
}


def _sanitized(c, tmp: Path):
    d = write_project(c, "host", tmp / "san")
    s = connect(get_board("host"), d, timeout=60, sanitize=True)
    exe = [p for p in (d / ".build" / "host-san").iterdir() if p.is_file() and p.stat().st_mode & 0o111]
    assert exe and all(b"__asan_init" in p.read_bytes() for p in exe)   # really instrumented
    return s


def _no_report(s) -> None:
    diag = s.transport.diagnostics()
    assert not SAN_REPORT.search(diag), diag[-2000:]


def _inference(name: str, schedule: str, tmp: Path) -> None:
    g = load_model(MODELS[name]())
    c = compile_for(g, "host", schedule)
    s = _sanitized(c, tmp)
    try:
        s.check_model(c.hash)
        res = validate(g, s, "host", samples=2, readable=c.readable_ops)
        _no_report(s)
    finally:
        s.close()
    _no_report(s)      # also what it printed on exit
    assert res.samples == 2 and res.bit_exact, (res.first_mismatch, res.reference_first_mismatch)


def sanitized_lockstep(tc, xtr, ytr, steps: int, tmp: Path) -> None:
    """`steps` TRAIN_STEPs of a sanitized host build beside the oracle (same predictions), no
    sanitizer report, then the checkpoint equals the oracle's state."""
    from tests.train.conftest import assert_same_as_oracle
    from tiny.train.api import oracle_for
    from tiny.train.device import TrainDevice
    oracle = oracle_for(tc)
    s = _sanitized(tc, tmp)
    try:
        dev = TrainDevice(s, len(tc.param_names))
        for i in range(steps):
            r = dev.step(xtr[i:i + 1], int(ytr[i]), i)
            ro = oracle.step(xtr[i:i + 1], int(ytr[i]))
            assert r["pred"] == ro["pred"], i
        ck = dev.checkpoint()
        _no_report(s)
    finally:
        s.close()
    _no_report(s)
    assert_same_as_oracle(tc, ck, oracle)


def _training(recipe: str, steps: int, tmp: Path, **kw) -> None:
    from tiny.train import data as tdata
    from tiny.train.api import compile_train
    from tiny.train.config import load_config
    g = load_model(tdata.base_model("irb" if recipe == "mobiletl" else "v1"))
    t = g.tensors[g.inputs[0]]
    xtr, ytr, _, _ = tdata.load("digits-transfer", t.shape, t.quant.s(), t.quant.zp(), 10)
    sanitized_lockstep(compile_train(g, "host", load_config(recipe, **kw)), xtr, ytr, steps, tmp)


def test_patch_schedule_sanitized(tmp_path: Path) -> None:
    _inference("tiny-cnn", "patch", tmp_path)


def test_sparse_training_sanitized(tmp_path: Path) -> None:
    _training("sparse", 4, tmp_path, momentum=0.9)


def test_head_training_with_shadow_and_headroom_sanitized(tmp_path: Path) -> None:
    _training("head", 4, tmp_path)      # the head recipe's defaults: 4x headroom, weight shadow


@pytest.mark.slow
@pytest.mark.parametrize("schedule", ["layer", "patch"])
@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_sanitized(name: str, schedule: str, tmp_path: Path) -> None:
    _inference(name, schedule, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("recipe,kw", [("sparse", {}), ("bias", {}), ("full", {}), ("head", {}),
                                       ("mobiletl", {}), ("sparse", {"qas": False, "lr": 1000.0}),
                                       ("full", {"shadow": True, "momentum": 0.9, "headroom": 2.0})])
def test_every_training_recipe_sanitized(recipe: str, kw: dict, tmp_path: Path) -> None:
    _training(recipe, 20, tmp_path, **kw)
