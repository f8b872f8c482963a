"""Models with uint8 input and output, as TF's converter writes them with inference_input_type /
inference_output_type = tf.uint8 (tutorials, Coral-style pipelines): a uint8 input, QUANTIZE uint8 ->
int8 first, the int8 core, QUANTIZE int8 -> uint8 last. tiny refused them at load ("uint8 ... -> int8
is not supported"). Oracle: TFLite Micro running the file as it is."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests import models
from tiny.pipeline import load_model


def _tflm(buf: bytes, x: np.ndarray) -> np.ndarray:
    from tflite_micro.python.tflite_micro import runtime
    it = runtime.Interpreter.from_bytes(buf, arena_size=16 * 1024)
    it.set_input(x, 0)
    it.invoke()
    return np.array(it.get_output(0))


def _quantizations(rng: np.random.Generator, n: int, kind: str):
    """(s_in, z_in, s_out, z_out): a third with one scale and zero points 128 apart (what TF's
    converter writes; TFLM's x ^ 0x80 fast path), a third with one scale and other zero points (the
    clamps), a third with unequal scales (ratios 1/300 .. 300)."""
    for i in range(n):
        s_in = float(np.float32(np.exp(rng.uniform(np.log(1e-3), np.log(2.0)))))
        z_u8, z_s8 = int(rng.integers(0, 256)), int(rng.integers(-128, 128))
        if i % 3 == 0:
            s_out = s_in
            z_u8 = z_s8 + 128
        elif i % 3 == 1:
            s_out = s_in
        else:
            s_out = float(np.float32(s_in * np.exp(rng.uniform(-np.log(300), np.log(300)))))
        yield (s_in, z_u8, s_out, z_s8) if kind == "u8_s8" else (s_in, z_s8, s_out, z_u8)


@pytest.mark.parametrize("kind", ["u8_s8", "s8_u8"])
def test_requantize_equals_tflm_on_all_256_inputs(kind: str) -> None:
    """The numpy reference (and the C kernel, tests/kernels/test_quantize.py) against TFLM: every
    input of 150 random quantizations of each direction."""
    from tiny import interpreter
    from tiny.frontend.tflite import load_bytes
    dts = ("uint8", "int8") if kind == "u8_s8" else ("int8", "uint8")
    x = np.arange(256).astype(np.uint8).view(np.dtype(dts[0])).reshape(1, 256)
    for s_in, z_in, s_out, z_out in _quantizations(np.random.default_rng(5), 150, kind):
        buf = models.quantize_op_model(*dts, s_in, z_in, s_out, z_out)
        g = load_bytes(buf, "quantize")
        assert g.ops[0].type == "QUANTIZE" and g.tensors[g.outputs[0]].dtype == dts[1]
        got = interpreter.run_graph(g, [x], interpreter.prepare_all(g))[g.outputs[0]]
        want = _tflm(buf, x)
        assert got.dtype == want.dtype == np.dtype(dts[1])
        np.testing.assert_array_equal(got, want, err_msg=f"s_in {s_in} z_in {z_in} s_out {s_out} z_out {z_out}")


def test_other_type_pairs_are_refused_with_the_supported_list() -> None:
    from tiny.frontend.tflite import load_bytes
    from tiny.ir import TinyError
    with pytest.raises(TinyError, match=r"op #0 QUANTIZE .*uint8 'x' -> uint8 is not supported \(only "
                                        r"float32->int8, int8->int8, uint8->int8, int8->uint8\)"):
        load_bytes(models.quantize_op_model("uint8", "uint8", 0.5, 3, 0.5, 7), "q")


@pytest.fixture(scope="module")
def graph():
    return load_model(str(models.uint8_io_cnn()))


def test_the_model_as_tfs_converter_writes_it(graph) -> None:
    from tiny.train.layers import logits_tensor
    ops = [op.type for op in graph.ops]
    assert ops[0] == "QUANTIZE" and ops[-2:] == ["SOFTMAX", "QUANTIZE"]
    x, y = graph.tensors[graph.inputs[0]], graph.tensors[graph.outputs[0]]
    assert (x.dtype, y.dtype) == ("uint8", "uint8")
    q = graph.tensors[graph.ops[0].outputs[0]].quant
    assert (x.quant.s(), x.quant.zp()) == (q.s(), q.zp() + 128)   # the x ^ 0x80 case
    # the loss reads the int8 logits: before the SOFTMAX and the uint8 QUANTIZE
    assert graph.producer(logits_tensor(graph)).type == "FULLY_CONNECTED"


def test_input_domain_is_the_quantize_ops_and_images_reach_it_exactly(graph) -> None:
    """Like a float32 input: the domain is the first QUANTIZE's int8 output ([0, 255] here: the model
    rescales raw pixels), and model_values gives the uint8 codes TFLM's QUANTIZE maps back to exactly
    the intended int8 codes, every one of the 256; uint8 images pass through unchanged."""
    from tiny import oracle
    from tiny.input_domain import model_input_domain, quantize_input
    d = model_input_domain(graph)
    assert d.quantize_op == 0 and d.input_dtype == "uint8" and (d.lo, d.hi) == (0.0, 255.0)
    assert "the uint8 input's QUANTIZE op #0" in d.describe()
    shape = graph.tensors[graph.inputs[0]].shape
    codes = np.resize(np.arange(-128, 128, dtype=np.int8), shape)
    u = d.model_values(codes)
    assert u.dtype == np.uint8
    np.testing.assert_array_equal(oracle.run_all(graph, [u])[graph.ops[0].outputs[0]], codes)
    img = np.resize(np.arange(256, dtype=np.uint8), shape)
    np.testing.assert_array_equal(d.model_values(quantize_input(img, d, warn=None)), img)


def test_input_domain_with_unequal_scales() -> None:
    """A uint8 input quantized onto a finer int8 grid: not every int8 code has a uint8 preimage; each
    code that has one gets it, the others the nearest."""
    from tiny import interpreter
    from tiny.frontend.tflite import load_bytes
    from tiny.input_domain import model_input_domain
    g = load_bytes(models.quantize_op_model("uint8", "int8", 0.02, 10, 0.0125, -100), "q")
    d = model_input_domain(g)
    assert d.quantize_op == 0 and (d.scale, d.zero_point) == (np.float32(0.0125), -100)
    codes = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    got = interpreter.run_graph(g, [d.model_values(codes)], interpreter.prepare_all(g))[g.outputs[0]][0]
    image = interpreter.run_graph(g, [np.arange(256, dtype=np.uint8).reshape(1, 256)],
                                  interpreter.prepare_all(g))[g.outputs[0]][0]
    reachable = np.isin(codes[0], image)
    assert 100 < reachable.sum() < 256
    np.testing.assert_array_equal(got[reachable], codes[0][reachable])
    nearest = np.abs(image[None, :].astype(int) - codes[0][:, None]).min(1)
    np.testing.assert_array_equal(np.abs(got.astype(int) - codes[0]), nearest)


@pytest.mark.parametrize("board", ["host", pytest.param("qemu-m4-256k", marks=pytest.mark.qemu)])
def test_validate_on_the_board(board: str, capsys) -> None:
    from tiny.cli import main
    capsys.readouterr()
    assert main(["validate", str(models.uint8_io_cnn()), "--board", board, "--samples", "3", "--json"]) == 0
    out = capsys.readouterr().out
    d = json.loads(out[out.index("{"):])
    assert d["bit_exact"] and d["samples"] == 3 and d["mismatched_elements"] == 0 and d["oracle"] == "tflm"


def test_validate_uint8_images(tmp_path, capsys) -> None:
    """--data with the user's uint8 images (the classes the model was trained on): bit-exact on every
    sample, and the board's accuracy is the float model's."""
    from tiny.cli import main
    _, _, xte, yte = models.user_digits(32)
    keep = yte < 4
    np.savez(tmp_path / "d.npz", x=xte[keep], y=yte[keep])
    capsys.readouterr()
    assert main(["validate", str(models.uint8_io_cnn()), "--board", "host", "--data", str(tmp_path / "d.npz"),
                 "--json"]) == 0
    out = capsys.readouterr().out
    d = json.loads(out[out.index("{"):])
    assert d["bit_exact"] and d["bit_exact_samples"] == d["samples"] == int(keep.sum())
    assert d["tflm_agreement"] == 1.0 and d["accuracy"] >= 0.9     # measured 97.7 %
    assert (d["input_domain"]["lo"], d["input_domain"]["hi"]) == (0.0, 255.0)


def test_report_names_the_kernels(capsys) -> None:
    from tiny.cli import main
    capsys.readouterr()
    assert main(["report", str(models.uint8_io_cnn()), "--board", "host", "--json"]) == 0
    out = capsys.readouterr().out
    layers = json.loads(out[out.index("{"):])["layers"]
    assert layers[0]["kernel"] == "tiny_requantize_u8_s8" and layers[-1]["kernel"] == "tiny_requantize_s8_u8"


def test_exported_library_takes_and_gives_uint8(graph, tmp_path) -> None:
    from tests.export.test_export import _expected_bytes, _run_host
    from tiny.compare import random_inputs
    from tiny.export import export_model
    e = export_model(graph, "host", tmp_path / "lib")
    text = (e.out / "include" / "tiny_model.h").read_text()
    assert "int tiny_model_invoke(const uint8_t *input, uint8_t *output);" in text
    samples = [random_inputs(graph, seed) for seed in range(4)]
    assert all(xs[0].dtype == np.uint8 for xs in samples)
    assert _run_host(e.out, tmp_path, samples) == _expected_bytes(graph, samples)
