"""Whole models, end to end on the host board: generated C vs TFLite Micro vs the numpy reference.

Every tensor of the reference is compared with TFLM's; the device's outputs are compared with
TFLM's; a deliberately corrupted layer is found by per-layer bisection over the protocol."""
from __future__ import annotations

import re

import numpy as np
import pytest

from tests import models
from tiny.compare import validate
from tiny.pipeline import load_model
from tiny.workflow import compile_for, open_session, project_dir_for, write_project

MODELS = {
    "tiny-cnn": models.tiny_cnn,
    "custom-cnn": models.custom_cnn,
    "mbv2-0.35-96": models.mobilenet_v2,
    "mbv2-0.35-75x61": lambda: models.mobilenet_v2(0.35, 75, 61),
    "mbv3-small-96": models.mobilenet_v3_small,
}


@pytest.mark.parametrize("name", list(MODELS))
def test_bit_exact_on_host(name: str) -> None:
    g = load_model(MODELS[name]())
    c = compile_for(g, "host")
    with open_session(c, "host") as s:
        res = validate(g, s, "host", samples=3)
    assert res.samples == 3
    assert res.reference.mismatched == 0, res.reference_first_mismatch
    assert res.device.mismatched == 0, res.first_mismatch
    assert res.bit_exact


def test_outputs_depend_on_inputs() -> None:
    """Guards the comparison itself: different inputs give different outputs on the device."""
    g = load_model(models.mobilenet_v2())
    c = compile_for(g, "host")
    from tiny.compare import random_inputs
    with open_session(c, "host") as s:
        outs = {s.run(random_inputs(g, seed))[0] for seed in range(4)}
    assert len(outs) == 4


def test_bisection_names_the_corrupted_layer(tmp_path) -> None:
    g = load_model(models.custom_cnn())
    c = compile_for(g, "host")
    target = next(op.index for op in g.ops if op.type == "CONV_2D" and op.index > 2)
    # Change one requantization multiplier of that layer in the generated C.
    text = c.files["model.c"]
    m = re.search(rf"static const int32_t l{target}_multiplier\[\d+\] TINY_ALIGNED = {{\s*(-?\d+)", text)
    assert m
    bad = str(int(m.group(1)) // 2)
    c.files["model.c"] = text[:m.start(1)] + bad + text[m.end(1):]
    with open_session(c, "host", project=tmp_path / "p") as s:
        res = validate(g, s, "host", samples=1)
    assert not res.bit_exact
    assert res.first_mismatch["layer"] == target
    assert res.first_mismatch["source"] == "device"
    assert res.first_mismatch["tensor"] == g.tensors[g.ops[target].outputs[0]].name


def test_sanitized_build_is_bit_exact(tmp_path) -> None:
    """The generated model + kernels under AddressSanitizer and UBSan."""
    from tiny.build.host import build_host
    from tiny.device.session import host_session
    g = load_model(models.custom_cnn())
    c = compile_for(g, "host")
    d = write_project(c, "host", tmp_path / "san")
    with host_session(build_host(d, sanitize=True), timeout=30) as s:
        s.check_model(c.hash)
        res = validate(g, s, "host", samples=2)
    assert res.bit_exact
