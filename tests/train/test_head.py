"""A new classifier head for the user's classes: the resized model is consistent and bit-exact."""
from __future__ import annotations

import numpy as np
import pytest

from tests import models
from tiny.compare import validate
from tiny.frontend.tflite import load_bytes
from tiny.ir import TinyError
from tiny.train.head import n_classes, replace_head


@pytest.mark.parametrize("name", ["custom", "tiny", "mbv3"])
@pytest.mark.parametrize("n", [3, 17])
def test_replaced_head_is_bit_exact_with_tflm(name: str, n: int) -> None:
    path = {"custom": models.custom_cnn, "tiny": models.tiny_cnn, "mbv3": models.mobilenet_v3_small}[name]()
    g = load_bytes(replace_head(path.read_bytes(), n), "h")
    assert n_classes(g) == n and g.tensors[g.outputs[0]].shape[-1] == n
    head = [op for op in g.ops if op.type in ("FULLY_CONNECTED", "CONV_2D")][-1]
    w = g.tensors[head.inputs[1]]
    assert w.shape[0] == n and w.quant.scale.size == n
    assert np.abs(w.data.reshape(n, -1)).max(axis=1).min() == 127   # each channel uses the full range
    res = validate(g, None, "none", samples=2)
    assert res.reference.mismatched == 0


def test_head_needs_two_classes() -> None:
    with pytest.raises(TinyError, match="at least 2 classes"):
        replace_head(models.tiny_cnn().read_bytes(), 1)


def test_user_data_with_fewer_classes_gets_a_new_head_and_learns(tmp_path) -> None:
    """The flow of the README: own .npz (uint8 HW images, 4 classes) on a 10-class model."""
    from tiny import data
    from tiny.frontend.tflite import load
    from tiny.train import data as tdata
    from tiny.train.run import run_training
    xtr, ytr, xte, yte = data.digits(size=16)
    a, b = ytr < 4, yte < 4
    npz = tmp_path / "four.npz"
    np.savez(npz, x_train=((xtr[a] + 1) * 127.5).astype(np.uint8)[..., 0], y_train=ytr[a],
             x_test=((xte[b] + 1) * 127.5).astype(np.uint8)[..., 0], y_test=yte[b])
    res = run_training(str(tdata.base_model()), "host", "sparse", str(npz), steps=300, out=tmp_path / "out",
                       eval_samples=120, log=lambda m: None)
    d = res.data
    assert d["accuracy_after"] > d["accuracy_before"] + 0.2
    tuned = load(d["output"])
    assert tuned.tensors[tuned.outputs[0]].shape[-1] == 4


def test_head_trains_with_weight_headroom_and_the_written_model_is_what_the_board_trained(tmp_path) -> None:
    """`--recipe head` requantizes the head with 4x its scale (room to grow); the fine-tuned .tflite
    carries those scales, validates bit-exact with TFLM and classifies exactly as the board did."""
    from tiny.frontend.tflite import load
    from tiny.interpreter import prepare_all, run_graph
    from tiny.train import data as tdata
    from tiny.train.run import run_training
    res = run_training(None, "host", "head", steps=150, eval_samples=100, out=tmp_path, log=lambda m: None,
                       float_reference=False, early_stop=False)
    d = res.data
    assert d["weight_headroom"]["factor"] == 4.0 and len(d["weight_headroom"]["layers"]) == 1
    g, base = load(d["output"]), load(tdata.base_model())
    head = g.ops[int(d["weight_headroom"]["layers"][0].split()[0][1:])]
    w, w0 = g.tensors[head.inputs[1]], base.tensors[head.inputs[1]]
    np.testing.assert_array_equal(w.quant.scale, (w0.quant.scale * np.float32(4)).astype(np.float32))
    assert np.abs(w.data.astype(int)).max() > 127 // 4 + 1      # it grew past the requantized range
    assert validate(g, None, "none", samples=2).reference.mismatched == 0
    t = g.tensors[g.inputs[0]]
    _, _, xte, yte = tdata.load("digits-transfer", t.shape, t.quant.s(), t.quant.zp(), 10)
    params = prepare_all(g)
    acc = np.mean([np.argmax(run_graph(g, [xte[i:i + 1]], params)[g.outputs[0]]) == yte[i] for i in range(100)])
    assert acc == d["accuracy_after"]


def test_with_headroom_requantizes_only_the_training_channels() -> None:
    from tiny.frontend.tflite import load
    from tiny.train.headroom import with_headroom
    g = load(models.custom_cnn())
    conv = next(op for op in g.ops if op.type == "CONV_2D")
    w, b = g.tensors[conv.inputs[1]], g.tensors[conv.inputs[2]]
    n = w.shape[0] // 2
    h = with_headroom(g, {conv.index: n}, 4.0)
    hw, hb = h.tensors[w.id], h.tensors[b.id]
    np.testing.assert_array_equal(hw.data[n:], w.data[n:])            # frozen channels keep full precision
    np.testing.assert_array_equal(hw.quant.scale[n:], w.quant.scale[n:])
    np.testing.assert_array_equal(hw.data[:n], np.round(w.data[:n] / 4.0).astype(np.int8))
    np.testing.assert_array_equal(hw.quant.scale[:n], w.quant.scale[:n] * np.float32(4))
    np.testing.assert_array_equal(hb.data[:n], np.round(b.data[:n] / 4.0).astype(np.int32))
    real, real0 = hw.data[:n] * hw.quant.scale[:n, None, None, None], w.data[:n] * w.quant.scale[:n, None, None, None]
    assert (np.abs(real - real0) <= 2.0 * w.quant.scale[:n, None, None, None] * (1 + 1e-5)).all()   # half a coarse step
    assert g.tensors[w.id] is w and np.abs(w.data).max() == 127             # the original is untouched
    assert with_headroom(h, {conv.index: n}, 4.0) is h                      # idempotent
    # the layers below the classifier can get their own factor (sparse: 2x)
    fc = [op for op in g.ops if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")][-1]
    h2 = with_headroom(g, {conv.index: n, fc.index: 1}, 4.0, body=2.0)
    np.testing.assert_array_equal(h2.tensors[w.id].data[:n], np.round(w.data[:n] / 2.0).astype(np.int8))
    # the classifier's output (the logits, before the softmax) moves to a 2x coarser grid, its weights
    # to a 4x one: its requantization multiplier doubles exactly; its frozen channels too move
    logits = fc.outputs[0]
    assert g.ops[fc.index + 1].type == "SOFTMAX"
    assert h2.meta["weight_headroom"] == {"factors": {conv.index: 2.0, fc.index: 4.0}, "logits": logits, "tensors": sorted(
        [w.id, b.id, fc.inputs[1], fc.inputs[2], logits])}
    np.testing.assert_array_equal(h2.tensors[logits].quant.scale, g.tensors[logits].quant.scale * np.float32(2))
    assert h2.tensors[logits].quant.zero_point == g.tensors[logits].quant.zero_point
    fw = g.tensors[fc.inputs[1]]
    np.testing.assert_array_equal(h2.tensors[fw.id].data, np.round(fw.data / 4.0).astype(np.int8))
    from tiny.interpreter import prepare_all
    p0, p1 = prepare_all(g)[fc.index], prepare_all(h2)[fc.index]
    np.testing.assert_array_equal(p1.multiplier, p0.multiplier)
    np.testing.assert_array_equal(p1.shift, p0.shift + 1)
    assert with_headroom(g, {conv.index: n}, 4.0, body=1.0) is g            # nothing to requantize


def test_headroom_setting_errors(tmp_path) -> None:
    from tiny.train.config import load_config
    p = tmp_path / "t.toml"
    p.write_text("recipe = 'head'\nheadroom = 0.5\n")
    with pytest.raises(TinyError, match=r"weight headroom 0.5 must be in \[1, 64\]"):
        load_config(p)
    p.write_text("recipe = 'head'\nheadroom = 2\n")
    # keys a TOML config leaves out take the recipe's defaults (head: shadow on, 3 epochs, lr 0.01)
    c = load_config(p)
    assert (c.headroom, c.shadow, c.epochs, c.lr, c.momentum) == (2.0, True, 3, 0.01, 0.9)
    assert c.lr_default      # the recipe's rate: `tiny train` probes it (a TOML's own rate is the user's)
    p.write_text("recipe = 'head'\nlr = 0.01\n")
    assert not load_config(p).lr_default
    p.write_text("recipe = 'head'\nshadow = false\nepochs = 1\n")
    assert (load_config(p).shadow, load_config(p).epochs, load_config(p).headroom) == (False, 1, 4.0)
    assert (load_config("head").headroom, load_config("head").shadow) == (4.0, True)
    # memory-lean: the shadow only when the training fits the budget with it (tiny.train.api.compile_train)
    assert (load_config("sparse").headroom, load_config("sparse").shadow) == (4.0, None)
    p.write_text("recipe = 'sparse'\nshadow = 'auto'\n")
    assert load_config(p).shadow is None
    p.write_text("recipe = 'sparse'\nshadow = 'yes'\n")
    with pytest.raises(TinyError, match=r"shadow = 'yes': true, false or \"auto\""):
        load_config(p)
    assert load_config("bias").headroom == 1.0


def test_with_headroom_on_per_tensor_weights_requantizes_the_whole_layer() -> None:
    """A layer quantized per tensor (common in PyTorch-converted models) has one scale: all of it
    moves to the coarser grid, even when only some channels train."""
    from tiny.frontend.tflite import load
    from tiny.train.headroom import with_headroom
    g = load(models.svdf_kws())
    fc = next(op for op in g.ops if op.type == "FULLY_CONNECTED")
    w, b = g.tensors[fc.inputs[1]], g.tensors[fc.inputs[2]]
    assert w.quant.scale.size == 1
    h = with_headroom(g, {fc.index: 1}, 2.0)
    hw, hb = h.tensors[w.id], h.tensors[b.id]
    np.testing.assert_array_equal(hw.data, np.round(w.data / 2.0).astype(np.int8))
    np.testing.assert_array_equal(hb.data, np.round(b.data / 2.0).astype(np.int32))
    assert hw.quant.scale.size == 1 and hw.quant.scale[0] == np.float32(w.quant.scale[0] * np.float32(2))
    hm = h.meta["weight_headroom"]
    assert hm["factors"] == {fc.index: 2.0} and {w.id, b.id} <= set(hm["tensors"])


def test_headroom_is_part_of_the_firmware_identity() -> None:
    """Two headroom settings give different int8 weights from the same .tflite: their firmware must
    not share a project directory or pass each other's model check (two runs side by side once
    trained each other's firmware)."""
    from tiny.pipeline import load_model
    from tiny.train import data as tdata
    from tiny.train.api import compile_train
    from tiny.train.config import load_config
    from tiny.workflow import project_dir_for
    g = load_model(str(tdata.base_model()))
    a = compile_train(g, "host", load_config("sparse", headroom=2.0))
    b = compile_train(g, "host", load_config("sparse", headroom=4.0))
    assert a.files["model.c"] != b.files["model.c"]
    assert a.hash != b.hash and project_dir_for(a, "host") != project_dir_for(b, "host")


def test_written_tflite_carries_every_tensor_headroom_moved(tmp_path) -> None:
    """A layer whose weights train but whose bias does not: headroom moves both to the coarser grid,
    and the written .tflite must carry the bias too (TFLM adds the int32 bias to an accumulator in
    the filter's new units; the old bias there is twice the real one). With the untrained weights
    written back, TFLM on the written file computes exactly the int8 logits of the board's graph."""
    from tiny import oracle
    from tiny.interpreter import prepare_all, run_graph
    from tiny.pipeline import load_model
    from tiny.train.api import compile_train, oracle_for, training_plan
    from tiny.train.config import load_config
    from tiny.train.device import Checkpoint
    from tiny.train.headroom import trained_weight_channels, with_headroom
    from tiny.train.run import write_tflite
    g = load_model(str(models.pooling_cnn()))
    cfg = load_config("sparse", search=False)
    cfg.bias_last, cfg.weights = 1, {"#2": 0.5, "#7": 1.0}      # conv #2: weights, not its bias
    gh = with_headroom(g, trained_weight_channels(training_plan(g, cfg)), cfg.headroom, cfg.body_headroom)
    conv_b = g.ops[2].inputs[2]
    assert conv_b in gh.meta["weight_headroom"]["tensors"]
    assert not np.array_equal(gh.tensors[conv_b].data, g.tensors[conv_b].data)
    tc = compile_train(gh, "host", cfg)
    assert not any(n.startswith("2.b") for n in tc.param_names)
    state = oracle_for(tc).tensors()
    ck = Checkpoint(steps=0, params=[np.ascontiguousarray(state[n]).tobytes() for n in tc.param_names])
    out = tmp_path / "written.tflite"
    write_tflite(gh, tc, ck, out)
    w = load_model(str(out))
    t = gh.tensors[gh.inputs[0]]
    rng = np.random.default_rng(0)
    params = prepare_all(gh)
    for _ in range(4):
        x = rng.integers(-128, 128, t.shape, dtype=np.int8)
        want = run_graph(gh, [x], params)[gh.outputs[0]]
        np.testing.assert_array_equal(oracle.run(w, [x])[0], want)
