"""Keras 3's UpSampling2D (EXPAND_DIMS -> TILE -> RESHAPE per axis, the RESHAPE's target computed at
run time) is loaded as one RESIZE_NEAREST_NEIGHBOR (tiny/frontend/upsample.py). Oracles: TFLite
(LiteRT) running the user's original file against the rewritten one, TFLite Micro against tiny on
the rewritten one, TF autodiff for the training backward through it."""
from __future__ import annotations

import numpy as np
import pytest

from tests import models
from tiny.frontend import flatbuf
from tiny.ir import IRError, TinyError
from tiny.pipeline import load_model


def _kinds(buf: bytes) -> list[str]:
    m = flatbuf.read_model(buf)
    names = flatbuf.opnames()
    return [names[max(m.operatorCodes[o.opcodeIndex].builtinCode, m.operatorCodes[o.opcodeIndex].deprecatedBuiltinCode)]
            for o in m.subgraphs[0].operators]


def _litert(buf: bytes, x: np.ndarray) -> list[np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    it = Interpreter(model_content=buf, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return [it.get_tensor(d["index"]).copy() for d in it.get_output_details()]


def _inputs(g, n: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(4)
    shape = g.tensors[g.inputs[0]].shape
    return [rng.integers(-128, 128, shape).astype(np.int8) for _ in range(n)]


@pytest.mark.parametrize("kind,hw", [("unet", ((4, 4), (8, 8))), ("strided", ((4, 6), (12, 12)))])
def test_upsampling_loads_as_one_resize_equal_to_tflite(kind: str, hw) -> None:
    from tiny import oracle
    from tiny.interpreter import run
    path = models.keras_upsampling(kind)
    original = path.read_bytes()
    assert _kinds(original).count("TILE") == 2 and "SHAPE" in _kinds(original)
    g = load_model(str(path))
    types = [op.type for op in g.ops]
    assert types.count("RESIZE_NEAREST_NEIGHBOR") == 1
    assert not {"TILE", "EXPAND_DIMS", "SHAPE", "STRIDED_SLICE"} & set(types)
    op = g.ops[types.index("RESIZE_NEAREST_NEIGHBOR")]
    assert (g.tensors[op.inputs[0]].shape[1:3], g.tensors[op.outputs[0]].shape[1:3]) == hw
    kinds = _kinds(original)
    first, last = kinds.index("EXPAND_DIMS"), len(kinds) - 1 - kinds[::-1].index("RESHAPE")
    assert g.meta["lowered"] == [f"ops #{first}..#{last} of the file (UpSampling2D's EXPAND_DIMS/TILE/RESHAPE) -> "
                                 f"RESIZE_NEAREST_NEIGHBOR {hw[0][0]}x{hw[0][1]} -> {hw[1][0]}x{hw[1][1]}"]
    # every tensor has its run-time shape: the converter's [1, 1, 12, 5] would not compile
    assert all(g.tensors[t].shape[1:3] == hw[1] for t in g.outputs)
    for x in _inputs(g):
        # the rewrite computes what the user's file computes, by TFLite's own kernels (its optimized
        # conv differs from TFLM's reference by 1 LSB at times, so each runtime is compared with itself)
        want = _litert(original, x)
        assert [np.array_equal(a, b) for a, b in zip(_litert(g.meta["tflite"], x), want)] == [True]
        # and tiny computes what TFLM computes on the rewritten file
        np.testing.assert_array_equal(run(g, [x])[0], oracle.run(g, [x])[0])


def test_upsampling1d_resizes_the_expanded_sequence() -> None:
    """[1, 10, 4] -> EXPAND_DIMS [1, 10, 1, 4] -> RESIZE [1, 20, 1, 4] -> RESHAPE (now to a constant
    shape) [1, 20, 4]; the same checks as UpSampling2D's."""
    from tiny import oracle
    from tiny.interpreter import run
    path = models.keras_upsampling("seq")
    original = path.read_bytes()
    assert _kinds(original).count("TILE") == 1
    g = load_model(str(path))
    types = [op.type for op in g.ops]
    k = types.index("RESIZE_NEAREST_NEIGHBOR")
    assert "TILE" not in types and "SHAPE" not in types and types[k - 1:k + 2] == ["EXPAND_DIMS", "RESIZE_NEAREST_NEIGHBOR",
                                                                                  "RESHAPE"]
    assert [g.tensors[t].shape for t in (g.ops[k].inputs[0], g.ops[k].outputs[0], g.ops[k + 1].outputs[0])] == \
        [(1, 10, 1, 4), (1, 20, 1, 4), (1, 20, 4)]
    assert "RESIZE_NEAREST_NEIGHBOR 10x1 -> 20x1" in g.meta["lowered"][0]
    for x in _inputs(g):
        assert np.array_equal(_litert(g.meta["tflite"], x)[0], _litert(original, x)[0])
        np.testing.assert_array_equal(run(g, [x])[0], oracle.run(g, [x])[0])


@pytest.mark.parametrize("kind", ["unet", "seq"])
def test_without_the_object_api_only_the_records_are_lowered(monkeypatch, kind: str) -> None:
    """Core install (no tflite-micro): tiny still loads and runs the model; its bytes stay the user's."""
    from tiny.interpreter import run
    path = models.keras_upsampling(kind)
    full = load_model(str(path))

    def missing():
        raise TinyError("no object API")
    monkeypatch.setattr(flatbuf, "object_schema", missing)
    core = load_model(str(path))
    assert core.meta["tflite"] == path.read_bytes() and core.meta["lowered"] == full.meta["lowered"]
    assert [(o.type, [core.tensors[t].shape for t in o.outputs]) for o in core.ops] == \
        [(o.type, [full.tensors[t].shape for t in o.outputs]) for o in full.ops]
    from tiny import oracle
    for x in _inputs(core, 2):
        np.testing.assert_array_equal(run(core, [x])[0], oracle.run(full, [x])[0])


def test_other_tiles_are_refused_with_the_reason(tmp_path) -> None:
    import tensorflow as tf
    from tiny.frontend.keras import quantize
    tf.keras.utils.set_random_seed(3)
    inp = tf.keras.Input((4, 4, 3))
    x = tf.keras.layers.Conv2D(4, 1)(inp)
    m = tf.keras.Model(inp, tf.keras.layers.Lambda(lambda t: tf.tile(t, [1, 2, 2, 1]))(x))
    p = tmp_path / "tiled.tflite"
    p.write_bytes(quantize(m, np.random.default_rng(0).uniform(-1, 1, (8, 4, 4, 3)).astype(np.float32)))
    assert "TILE" in _kinds(p.read_bytes())
    with pytest.raises(IRError, match=r"op #1 TILE .*UpSampling2D.*it tiles by \[1, 2, 2, 1\], not the repeat"):
        load_model(str(p))


def test_training_runs_through_upsampling() -> None:
    """Nothing below the upsampling is frozen, and the oracle's gradients match TF autodiff."""
    from tests.train.conftest import gradients_match_tf
    from tiny.train.layers import frozen_by_ops, trainable_layers
    g = load_model(str(models.keras_upsampling("classifier")))
    assert "RESIZE_NEAREST_NEIGHBOR" in [op.type for op in g.ops]
    assert frozen_by_ops(g) == {} and trainable_layers(g)[0] == 0
    gradients_match_tf(g)


@pytest.mark.qemu
def test_unet_upsampling_on_qemu() -> None:
    from tiny.compare import validate
    from tiny.workflow import compile_for, open_session
    g = load_model(str(models.keras_upsampling("unet")))
    c = compile_for(g, "qemu-m4-256k", "layer")
    with open_session(c, "qemu-m4-256k") as s:
        res = validate(g, s, "qemu-m4-256k", samples=2, readable=c.readable_ops)
    assert res.samples == 2 and res.bit_exact, res.as_json()
