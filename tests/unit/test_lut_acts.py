"""Activations whose int8 kernel is a 256-entry table filled in float32 (tiny.ops.base.lut_populate).

GELU (tiny/ops/gelu.py): TFLite Micro has no int8 kernel for it. Oracles: TFLite (LiteRT, builtin
kernels) on one-op models for the table, over random quantizations of both forms; TFLite Micro on
the whole model with each GELU replaced by a lookup of LiteRT's table (tiny/oracle_tables.py), which
owes nothing to tiny's own table. ELU (tiny/ops/elu.py): TFLite Micro itself, on one-op models over
random quantizations and on a whole Keras model."""
from __future__ import annotations

import ctypes
import json

import numpy as np
import pytest

from tests import models
from tests.kernels.cbuild import build_lib
from tiny.pipeline import load_model

I8 = ctypes.POINTER(ctypes.c_int8)


def _one_op_model(act: str) -> bytes:
    """A Keras activation on a [256] vector, converted to int8 by TF's converter (an int8 ELU: the
    converter's GELU op made an ELU, as exporters that quantize ELU write it)."""
    import tensorflow as tf
    from tests.models import _swap_ops
    from tiny.frontend.keras import quantize
    f = {"gelu": "gelu", "gelu_tanh": lambda t: tf.nn.gelu(t, approximate=True), "elu": "gelu"}[act]
    inp = tf.keras.Input((256,))
    m = tf.keras.Model(inp, tf.keras.layers.Activation(f)(inp))
    buf = quantize(m, np.random.default_rng(0).uniform(-3, 3, (8, 256)).astype(np.float32))
    return _swap_ops(buf, "GELU", "ELU") if act == "elu" else buf


def _litert(buf: bytes, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    it = Interpreter(model_content=buf, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])


def _tflm(buf: bytes, x: np.ndarray) -> np.ndarray:
    from tflite_micro.python.tflite_micro import runtime
    it = runtime.Interpreter.from_bytes(buf, arena_size=64 * 1024)
    it.set_input(x, 0)
    it.invoke()
    return np.array(it.get_output(0))


def requantized(m, ti: int, to: int, seed: int, n: int = 300):
    """n copies of the flatbuffer object model m, each with a random (scale, zero point) on tensors ti
    and to (scales log-uniform in [1e-3, 0.5]): yields (s_in, zp_in, s_out, zp_out, model bytes)."""
    import flatbuffers
    rng = np.random.default_rng(seed)
    for _ in range(n):
        si, so = (float(np.float32(np.exp(rng.uniform(np.log(1e-3), np.log(0.5))))) for _ in range(2))
        zi, zo = (int(rng.integers(-128, 128)) for _ in range(2))
        m.subgraphs[0].tensors[ti].quantization.scale, m.subgraphs[0].tensors[ti].quantization.zeroPoint = [si], [zi]
        m.subgraphs[0].tensors[to].quantization.scale, m.subgraphs[0].tensors[to].quantization.zeroPoint = [so], [zo]
        b = flatbuffers.Builder(1024)
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
        yield si, zi, so, zo, bytes(b.Output())


@pytest.mark.parametrize("act", ["gelu", "gelu_tanh", "elu"])
def test_table_equals_the_oracles(act: str) -> None:
    """All 256 outputs of 300 random (scale, zero point) pairs on both sides against TFLite's GELU
    kernel (LiteRT) or TFLite Micro's ELU kernel."""
    from tiny.frontend import flatbuf
    from tiny.ops import elu, gelu
    s = flatbuf.object_schema()
    m = s.ModelT.InitFromObj(s.Model.GetRootAs(_one_op_model(act), 0))
    sg = m.subgraphs[0]
    code = m.operatorCodes[sg.operators[0].opcodeIndex]
    assert len(sg.operators) == 1 and max(code.builtinCode, code.deprecatedBuiltinCode) == (111 if act == "elu" else 150)
    ti, to = sg.operators[0].inputs[0], sg.operators[0].outputs[0]
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    for si, zi, so, zo, buf in requantized(m, ti, to, ["gelu", "gelu_tanh", "elu"].index(act) + 7):
        if act == "elu":
            want = _tflm(buf, x).reshape(-1)
            got = elu.table(elu.EluParams(input_scale=si, input_zero_point=zi, output_scale=so,
                                          output_zero_point=zo, out_shape=(256,)))
        else:
            want = _litert(buf, x).reshape(-1)
            got = gelu.table(gelu.GeluParams(input_scale=si, input_zero_point=zi, output_scale=so,
                                             output_zero_point=zo, approximate=act == "gelu_tanh", out_shape=(256,)))
        np.testing.assert_array_equal(got, want, err_msg=f"s_in {si} zp_in {zi} s_out {so} zp_out {zo}")


def test_portable_kernel_looks_the_table_up() -> None:
    from tiny.ops import gelu
    from tiny.ops.base import lut_table
    lib = build_lib(["kernels/ref/lookup_s8.c"])
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, 1000).astype(np.int8)
    for approximate in (False, True):
        p = gelu.GeluParams(input_scale=0.03, input_zero_point=-5, output_scale=0.02, output_zero_point=-60,
                            approximate=approximate, out_shape=(1000,))
        out = np.zeros(1000, np.int8)
        assert lib.tiny_lookup_s8(lut_table(gelu.table, p).ctypes.data_as(I8), 1000, x.ctypes.data_as(I8),
                                out.ctypes.data_as(I8)) == 0
        np.testing.assert_array_equal(out, gelu.run(p, [x]))
        y = x.copy()                                     # in place
        assert lib.tiny_lookup_s8(lut_table(gelu.table, p).ctypes.data_as(I8), 1000, y.ctypes.data_as(I8),
                                y.ctypes.data_as(I8)) == 0
        np.testing.assert_array_equal(y, out)


@pytest.fixture(scope="module", params=["gelu", "gelu_tanh", "elu"])
def graph(request):
    return load_model(str(models.lut_act_cnn(request.param)))


def test_reference_equals_the_oracle_on_every_tensor(graph) -> None:
    from tiny import oracle
    act = "ELU" if "ELU" in [op.type for op in graph.ops] else "GELU"
    assert [op.type for op in graph.ops].count(act) == 2
    assert oracle.name(graph) == ("TFLite Micro" if act == "ELU" else
                                  "TFLite Micro, with TFLite's own GELU (TFLM has no int8 GELU)")
    reference_equals_oracle(graph, 12)


def reference_equals_oracle(g, samples: int) -> None:
    """tiny's numpy reference equals the oracle on every op's output for random inputs."""
    from tiny import oracle
    from tiny.compare import random_inputs
    from tiny.interpreter import prepare_all, run_graph
    params = prepare_all(g)
    for seed in range(samples):
        xs = random_inputs(g, seed)
        ref, want = run_graph(g, xs, params), oracle.run_all(g, xs)
        for op in g.ops:
            np.testing.assert_array_equal(ref[op.outputs[0]], want[op.outputs[0]], err_msg=f"op #{op.index} {op.type}")


def test_the_oracle_owes_nothing_to_tinys_table(monkeypatch) -> None:
    """A wrong entry in tiny's table is caught: the oracle's table is LiteRT's."""
    from tiny import oracle
    from tiny.compare import validate
    from tiny.ops import gelu
    g = load_model(str(models.lut_act_cnn()))
    real = gelu.table

    def off_by_one(p):
        t = real(p).copy()
        t[128 + p.input_zero_point // 2] += 1           # one input near the middle of the range
        return t
    monkeypatch.setattr(gelu, "table", off_by_one)
    res = validate(g, None, "host", 6)
    assert not res.bit_exact and res.reference_first_mismatch["op"] == "GELU"
    assert oracle.name(g).startswith("TFLite Micro")


def test_arena_report_says_why_there_is_no_tflm_figure() -> None:
    from tiny.report import report
    d, text = report(str(models.lut_act_cnn()), "host", "layer")
    assert "TFLite Micro arena not measured (TFLite Micro has no kernel for op(s) GELU" in text
    assert d["tflm_arena_bytes"] is None and "no kernel for op(s) GELU" in d["tflm_error"]


@pytest.mark.parametrize("board", ["host", pytest.param("qemu-m4-256k", marks=pytest.mark.qemu)])
def test_validate_on_the_board(board: str, capsys) -> None:
    """The portable kernel (host) and the DSP boards' tiny_lut_s8 (qemu-m4-256k), end to end; ELU
    against TFLM's own kernel."""
    from tiny.cli import main
    path = models.lut_act_cnn("gelu_tanh" if board == "host" else "gelu")
    capsys.readouterr()
    assert main(["validate", str(models.lut_act_cnn("elu")), "--board", board, "--samples", "2"]) == 0
    assert "BIT-EXACT vs TFLite Micro\n" in capsys.readouterr().out
    capsys.readouterr()
    assert main(["validate", str(path), "--board", board, "--samples", "3", "--json"]) == 0
    out = capsys.readouterr().out
    d = json.loads(out[out.index("{\n"):])
    assert d["bit_exact"] and d["oracle"] == "tflm" and d["samples"] == 3
    assert main(["validate", str(path), "--board", board, "--samples", "1"]) == 0
    assert "BIT-EXACT vs TFLite Micro, with TFLite's own GELU (TFLM has no int8 GELU)" in capsys.readouterr().out
