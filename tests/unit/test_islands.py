"""Float islands of int8 models folded into int8 tables at load (tiny/frontend/islands.py): Keras'
activation="elu" converts to DEQUANTIZE -> ELU (float32) -> QUANTIZE, which tiny refused as "computes
in float32". Oracle: TFLite Micro running the user's file, island and all, in float32."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests import models
from tiny.pipeline import load_model


def _one_island() -> bytes:
    """Keras' ELU on a [256] vector, int8 by TF's converter: DEQUANTIZE -> ELU -> QUANTIZE inside."""
    import tensorflow as tf
    from tiny.frontend.keras import quantize
    inp = tf.keras.Input((256,))
    return quantize(tf.keras.Model(inp, tf.keras.layers.Activation("elu")(inp)),
                    np.random.default_rng(0).uniform(-3, 3, (8, 256)).astype(np.float32))


def test_island_table_equals_tflm() -> None:
    """All 256 results of 300 random quantizations of the island's input and output against TFLM."""
    from tflite_micro.python.tflite_micro import runtime
    from tiny.frontend import flatbuf
    from tiny.frontend.tflite import load_bytes
    s = flatbuf.object_schema()
    buf = _one_island()
    names = flatbuf.opnames()
    m = s.ModelT.InitFromObj(s.Model.GetRootAs(buf, 0))
    sg = m.subgraphs[0]
    kinds = [names[max(m.operatorCodes[o.opcodeIndex].builtinCode, m.operatorCodes[o.opcodeIndex].deprecatedBuiltinCode)]
             for o in sg.operators]
    assert kinds == ["DEQUANTIZE", "ELU", "QUANTIZE"]
    ti, to = sg.operators[0].inputs[0], sg.operators[2].outputs[0]
    from tests.unit.test_lut_acts import requantized
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    for si, zi, so, zo, one in requantized(m, ti, to, 11):
        it = runtime.Interpreter.from_bytes(one, arena_size=64 * 1024)
        it.set_input(x, 0)
        it.invoke()
        want = np.array(it.get_output(0)).reshape(-1)
        g = load_bytes(one, "island")
        assert [op.type for op in g.ops] == ["TABLE_LOOKUP"]
        np.testing.assert_array_equal(g.ops[0].attrs["table"], want, err_msg=f"s_in {si} zp_in {zi} s_out {so} zp_out {zo}")


@pytest.fixture(scope="module")
def graph():
    return load_model(str(models.elu_cnn()))


def test_keras_elu_loads_as_tables_equal_to_tflm(graph) -> None:
    from tests.unit.test_lut_acts import reference_equals_oracle
    from tiny import oracle
    assert [op.type for op in graph.ops] == ["CONV_2D", "TABLE_LOOKUP", "CONV_2D", "TABLE_LOOKUP", "MEAN",
                                             "FULLY_CONNECTED", "TABLE_LOOKUP", "FULLY_CONNECTED"]
    assert graph.meta["lowered"][0] == ("ops #1..#3 of the file (DEQUANTIZE/ELU/QUANTIZE, ELU in float32) -> "
                                        "TABLE_LOOKUP (the island's 256 int8 results)")
    assert graph.meta["tflite"] == models.elu_cnn().read_bytes()       # the oracle runs the file itself
    assert oracle.name(graph) == "TFLite Micro"
    reference_equals_oracle(graph, 10)


def test_report_lists_the_folded_islands(capsys) -> None:
    from tiny.cli import main
    capsys.readouterr()
    assert main(["report", str(models.elu_cnn()), "--board", "host", "--json"]) == 0
    out = capsys.readouterr().out
    d = json.loads(out[out.index("{"):])
    assert len(d["rewrites"]) == 3 and all("ELU in float32" in r for r in d["rewrites"])


@pytest.mark.parametrize("board", ["host", pytest.param("qemu-m4-256k", marks=pytest.mark.qemu)])
def test_validate_on_the_board(board: str, capsys) -> None:
    from tiny.cli import main
    capsys.readouterr()
    assert main(["validate", str(models.elu_cnn()), "--board", board, "--samples", "3"]) == 0
    assert "BIT-EXACT vs TFLite Micro\n" in capsys.readouterr().out


def test_training_through_the_islands(graph) -> None:
    """Every layer trains; gradients against TF's ELU; the host runtime bit-exact with the oracle."""
    from tests.train.conftest import full_training_learns_bit_exact, gradients_match_tf
    from tiny.train.layers import frozen_by_ops, trainable_layers
    assert trainable_layers(graph) == [0, 2, 5, 7] and frozen_by_ops(graph) == {}
    gradients_match_tf(graph)
    full_training_learns_bit_exact(graph, "host", (0, 2))


def test_float_twin_runs_the_islands(graph) -> None:
    from tests.train.conftest import digits_for, twin_and_int8_logits
    _, _, xte, _ = digits_for(graph)
    f, real, s = twin_and_int8_logits(graph, xte[:64], int8_activations=True)
    assert np.abs(f - real).mean() < 2 * s and np.mean(f.argmax(1) == real.argmax(1)) >= 0.9
