"""Models with uint8 input and output, as TF's converter writes them with inference_input_type /
inference_output_type = tf.uint8 (tutorials, Coral-style pipelines): a uint8 input, QUANTIZE uint8 ->
int8 first, the int8 core, QUANTIZE int8 -> uint8 last. tiny refused them at load ("uint8 ... -> int8
is not supported"). Oracle: TFLite Micro running the file as it is."""
from __future__ import annotations

import numpy as np
import pytest

from tests import models


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
