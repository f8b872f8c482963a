"""Training through GELU (both forms) and ELU (tests/models.py `lut_act_cnn`: Keras' activation="gelu"
/ "elu" after a conv and in a hidden Dense layer): the backward reads the derivative at each saved
int8 input from a 256-float table (kind "dtable"). Checked: every layer trains, the oracle's
gradients against TF autodiff of tf.nn.gelu / tf.nn.elu, the C runtime bit-exact with the oracle on
the host and on qemu, the float twin's forward against the int8 reference, and GELU's table against
TF's derivative."""
from __future__ import annotations

import numpy as np
import pytest

from tests import models
from tests.train.conftest import digits_for, full_training_learns_bit_exact, gradients_match_tf
from tiny.pipeline import load_model
from tiny.train.api import training_plan
from tiny.train.config import load_config
from tiny.train.layers import frozen_by_ops, trainable_layers

FORMS = ["gelu", "gelu_tanh", "elu"]


@pytest.fixture(scope="module", params=FORMS)
def graph(request):
    return load_model(str(models.lut_act_cnn(request.param)))


def _act(graph) -> str:
    return "ELU" if "ELU" in [op.type for op in graph.ops] else "GELU"


def test_every_layer_trains_through_the_activation(graph) -> None:
    types = [op.type for op in graph.ops]
    assert types.count(_act(graph)) == 2
    assert trainable_layers(graph) == [0, 2, 4, 6] and frozen_by_ops(graph) == {}
    plan = training_plan(graph, load_config("full"))
    assert [s.kind for s in plan.steps].count("dtable") == 2
    # the int8 input of each activation is saved for its derivative
    saved = {c.tensor for c in plan.captures if c.kind == "copy"}
    assert all(op.inputs[0] in saved for op in graph.ops if op.type == _act(graph))


def test_gradients_match_tf(graph) -> None:
    gradients_match_tf(graph)


@pytest.mark.parametrize("board", ["host", pytest.param("qemu-m4-256k", marks=pytest.mark.qemu)])
def test_training_bit_exact(graph, board: str) -> None:
    full_training_learns_bit_exact(graph, board, (0, 2))


def test_derivative_tables_are_tfs() -> None:
    """The 256 derivatives against TF's gradient of tf.nn.gelu (both forms) and tf.nn.elu at the same
    real inputs."""
    tf = pytest.importorskip("tensorflow")
    from tiny.ops import elu, gelu
    from tiny.ops.base import lut_inputs
    rng = np.random.default_rng(5)
    for approximate in (False, True):
        for _ in range(20):
            p = gelu.GeluParams(input_scale=float(np.float32(np.exp(rng.uniform(-6, 0)))),
                                input_zero_point=int(rng.integers(-128, 128)), output_scale=0.02,
                                output_zero_point=0, approximate=approximate, out_shape=(256,))
            x = tf.constant(lut_inputs(p.input_scale, p.input_zero_point))
            with tf.GradientTape() as t:
                t.watch(x)
                y = tf.nn.gelu(x, approximate=approximate)
            want = t.gradient(y, x).numpy()
            # (the table is evaluated in float64: TF's float32 autodiff loses ~1e-6 absolute in the tails)
            np.testing.assert_allclose(gelu.derivative_table(p), want, rtol=2e-6, atol=1e-5)
    for _ in range(20):
        p = elu.EluParams(input_scale=float(np.float32(np.exp(rng.uniform(-6, 0)))),
                          input_zero_point=int(rng.integers(-128, 128)), output_scale=0.02, output_zero_point=0,
                          out_shape=(256,))
        x = tf.constant(lut_inputs(p.input_scale, p.input_zero_point))
        with tf.GradientTape() as t:
            t.watch(x)
            y = tf.nn.elu(x)
        np.testing.assert_allclose(elu.derivative_table(p), t.gradient(y, x).numpy(), rtol=2e-6, atol=1e-7)


def test_float_twin_runs_the_activation(graph) -> None:
    from tests.train.conftest import twin_and_int8_logits
    from tiny.train.float_ref import unsupported
    from tiny.train.layers import logits_tensor
    assert unsupported(graph, logits_tensor(graph)) is None
    _, _, xte, _ = digits_for(graph)
    f, real, s = twin_and_int8_logits(graph, xte[:64], int8_activations=True)
    assert np.abs(f - real).mean() < 2 * s
    assert np.mean(f.argmax(1) == real.argmax(1)) >= 0.9
