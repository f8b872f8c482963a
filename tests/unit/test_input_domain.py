"""The model's input quantization defines how user data is mapped (tiny/input_domain.py)."""
from __future__ import annotations

import numpy as np
import pytest

from tiny.input_domain import (InputDomain, check_images, model_input_domain, parse_input_range,
                               quantize_input, to_model_float)
from tiny.ir import Graph, Quant, Tensor, TinyError


def _graph(scale: float, zp: int, dtype: str = "int8") -> Graph:
    t = Tensor(id=0, name="image", shape=(1, 4, 4, 1), dtype=dtype,
               quant=Quant(np.array([scale], np.float32), np.array([zp], np.int64)))
    return Graph(tensors={0: t}, ops=[], inputs=[0], outputs=[0])


def test_domain_of_a_raw_pixel_model_is_0_255() -> None:
    # A Keras model with Rescaling(1/255) inside, calibrated on 0..255 pixels: scale 1, zp -128.
    d = model_input_domain(_graph(1.0, -128))
    assert (d.lo, d.hi, d.source) == (0.0, 255.0, "quantization")


def test_calibrated_range_snaps_to_the_common_one() -> None:
    # Calibrated on [-1, 0.99]: scale 1.99/255, zero point 0 -> [-0.9989, 0.9911], snapped to [-1, 1].
    d = model_input_domain(_graph(1.99 / 255, 0))
    assert (d.lo, d.hi) == (-1.0, 1.0)
    assert "snapped" in d.source


def test_input_range_overrides_and_is_parsed() -> None:
    d = model_input_domain(_graph(1.0, -128), input_range=parse_input_range("-1, 1"))
    assert (d.lo, d.hi, d.source) == (-1.0, 1.0, "--input-range")
    for bad in ("1", "a,b", "2,1", "0,inf"):
        with pytest.raises(TinyError, match="--input-range"):
            parse_input_range(bad)


def test_uint8_images_map_onto_the_domain() -> None:
    d = InputDomain(-1.0, 1.0, 1 / 128, 0, "quantization")
    x = np.array([0, 64, 128, 255], np.uint8)
    # hand-computed: -1 + v * 2/255, then round(x * 128) half away from zero
    np.testing.assert_allclose(to_model_float(x, d), [-1.0, -0.4980392, 0.0039216, 1.0], atol=1e-6)
    np.testing.assert_array_equal(quantize_input(x, d), [-128, -64, 1, 127])
    raw = InputDomain(0.0, 255.0, 1.0, -128, "quantization")
    np.testing.assert_array_equal(quantize_input(x, raw), [-128, -64, 0, 127])


def test_rounding_is_half_away_from_zero() -> None:
    d = InputDomain(-256.0, 254.0, 2.0, 0, "quantization")
    np.testing.assert_array_equal(quantize_input(np.array([1.0, -1.0, 3.0, -3.0, 2.9], np.float32), d, warn=None),
                                  [1, -1, 2, -2, 1])


def test_saturating_data_is_refused_with_numbers() -> None:
    d = InputDomain(-1.0, 1.0, 1 / 128, 0, "quantization")
    x = np.linspace(0, 255, 100).astype(np.float32)     # raw pixels as floats into a [-1, 1] model
    with pytest.raises(TinyError, match=r"fall outside the model's input range \[-1, 1\].*\[0, 255\]"):
        quantize_input(x, d, name="x_train")


def test_a_sliver_of_the_range_warns() -> None:
    d = InputDomain(0.0, 255.0, 1.0, -128, "quantization")
    msgs: list[str] = []
    q = quantize_input(np.linspace(0, 1, 50).astype(np.float32), d, name="x_test", warn=msgs.append)
    assert set(np.unique(q)) == {-128, -127}
    assert len(msgs) == 1 and "x_test uses only 2 of the 256" in msgs[0]


def test_nan_and_bad_shapes_are_named() -> None:
    d = InputDomain(-1.0, 1.0, 1 / 128, 0, "quantization")
    x = np.zeros((2, 3), np.float32)
    x[1, 2] = np.nan
    with pytest.raises(TinyError, match=r"x_val: 1 of 6 values are NaN or infinite \(first at index \(1, 2\)\)"):
        to_model_float(x, d, "x_val")
    assert check_images(np.zeros((5, 4, 4), np.uint8), (1, 4, 4, 1)).shape == (5, 4, 4, 1)
    with pytest.raises(TinyError, match="rank 2"):
        check_images(np.zeros((5, 16)), (1, 4, 4, 1))
    with pytest.raises(TinyError, match=r"\(8, 8, 1\), the model's input is \(4, 4, 1\)"):
        check_images(np.zeros((5, 8, 8, 1)), (1, 4, 4, 1))
    with pytest.raises(TinyError, match="not quantized"):
        model_input_domain(_graph(1.0, 0, dtype="float32"))


def test_a_float32_input_quantized_by_the_model_has_its_quantize_ops_domain() -> None:
    """Converted models keep float32 I/O around the int8 core (TF's converter by default, PyTorch
    exports). The domain is the QUANTIZE op's int8 output, and model_values gives float32 inputs that
    TFLM's QUANTIZE maps back to exactly the intended codes, every one of the 256."""
    from tests import models
    from tiny import oracle
    from tiny.pipeline import load_model
    g = load_model(str(models.pytorch_style()))
    q_op = g.ops[0]
    assert g.tensors[g.inputs[0]].dtype == "float32" and q_op.type == "QUANTIZE"
    d = model_input_domain(g)
    t = g.tensors[q_op.outputs[0]]
    assert d.quantize_op == 0 and (d.scale, d.zero_point) == (t.quant.s(), t.quant.zp())
    assert "QUANTIZE op #0" in d.describe()
    shape = g.tensors[g.inputs[0]].shape
    codes = np.resize(np.arange(-128, 128, dtype=np.int8), shape)
    x = d.model_values(codes)
    assert x.dtype == np.float32
    got = oracle.run_all(g, [x])[q_op.outputs[0]]
    np.testing.assert_array_equal(got.reshape(shape), codes)
    # an int8 model's codes pass as they are
    assert model_input_domain(_graph(1.0, -128)).model_values(codes) is codes


def test_a_float32_input_without_quantize_is_refused() -> None:
    t = Tensor(id=0, name="x", shape=(1, 4), dtype="float32", quant=None)
    with pytest.raises(TinyError, match="input 'x' \\(float32\\) is not quantized.*QUANTIZE"):
        model_input_domain(Graph(tensors={0: t}, ops=[], inputs=[0], outputs=[0]))
