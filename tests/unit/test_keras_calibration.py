"""A Keras model that takes raw pixels (a Rescaling layer inside) is calibrated on 0..255."""
from __future__ import annotations


def test_rescaling_model_gets_a_0_255_input_quantization(tmp_path) -> None:
    import tensorflow as tf

    from tiny.frontend.keras import expected_input_range
    from tiny.input_domain import model_input_domain
    from tiny.pipeline import load_model

    L = tf.keras.layers
    raw = tf.keras.Sequential([tf.keras.Input((8, 8, 3)), L.Rescaling(1 / 127.5, offset=-1.0),
                               L.Conv2D(4, 3), L.GlobalAveragePooling2D(), L.Dense(2)])
    plain = tf.keras.Sequential([tf.keras.Input((8, 8, 3)), L.Conv2D(4, 3), L.GlobalAveragePooling2D(),
                                 L.Dense(2)])
    assert expected_input_range(raw) == (0.0, 255.0)
    assert expected_input_range(plain) == (-1.0, 1.0)
    odd = tf.keras.Sequential([tf.keras.Input((8, 8, 3)), L.Rescaling(0.5, offset=1.0), L.Dense(2)])
    assert expected_input_range(odd) == (-4.0, 0.0)      # preimage of [-1, 1] under y = 0.5 x + 1

    p = tmp_path / "raw.keras"
    raw.save(p)
    g = load_model(p)
    # uniform 0..255 calibration noise: the input's float range spans (almost all of) 0..255
    d = model_input_domain(g)
    assert d.lo == 0.0 and d.hi == 255.0, d
    q = g.tensors[g.inputs[0]].quant
    assert 0.95 < float(q.scale[0]) < 1.01 and int(q.zero_point[0]) in (-128, -127)
