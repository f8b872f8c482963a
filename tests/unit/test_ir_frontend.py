"""IR verifier and .tflite frontend: structure, and clear errors on bad input."""
from __future__ import annotations

import numpy as np
import pytest

from tests import models
from tiny.frontend.tflite import load, load_bytes
from tiny.ir import Graph, IRError, Op, Quant, Tensor, TinyError, verify


def _tiny_graph() -> Graph:
    q = Quant(np.array([0.1], np.float32), np.array([0]))
    t = {0: Tensor(0, "x", (1, 4), "int8", q), 1: Tensor(1, "y", (1, 4), "int8", q),
         2: Tensor(2, "z", (1, 4), "int8", q)}
    return Graph(t, [Op(0, "ADD", [0, 0], [1]), Op(1, "ADD", [1, 0], [2])], [0], [2])


def test_verify_accepts_wellformed() -> None:
    verify(_tiny_graph())


def test_verify_rejects_use_before_definition() -> None:
    g = _tiny_graph()
    g.ops[0].inputs = [2, 0]
    with pytest.raises(IRError, match=r"op 0:ADD: input tensor 2 'z' is used before it is produced"):
        verify(g)


def test_verify_rejects_double_write_and_missing_output() -> None:
    g = _tiny_graph()
    g.ops[1].outputs = [1]
    with pytest.raises(IRError, match="written twice"):
        verify(g)
    g = _tiny_graph()
    g.outputs = [3]
    with pytest.raises(IRError):
        verify(g)


def test_load_tiny_cnn_structure() -> None:
    g = load(models.tiny_cnn())
    assert [op.type for op in g.ops] == ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "MEAN", "FULLY_CONNECTED"]
    conv = g.ops[0]
    assert conv.attrs["stride_h"] == 2 and conv.attrs["padding"] == "SAME" and conv.attrs["activation"] == "RELU6"
    w = g.tensors[conv.inputs[1]]
    assert w.shape == (8, 3, 3, 3) and w.dtype == "int8" and w.quant.scale.size == 8
    assert g.tensors[g.inputs[0]].shape == (1, 16, 16, 3)


def test_not_a_flatbuffer_is_a_clear_error(tmp_path) -> None:
    p = tmp_path / "x.tflite"
    p.write_bytes(b"hello world, not a model")
    with pytest.raises(TinyError, match="not a TFLite flatbuffer"):
        load(p)


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.9])
def test_truncated_file_is_a_clear_error(cut: float) -> None:
    buf = models.tiny_cnn().read_bytes()
    with pytest.raises(TinyError):
        load_bytes(buf[: int(len(buf) * cut)], "cut.tflite")


def test_missing_file(tmp_path) -> None:
    with pytest.raises(TinyError, match="no such file"):
        load(tmp_path / "nope.tflite")
