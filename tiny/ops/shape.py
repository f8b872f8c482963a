"""SHAPE: the static shape of its input, folded into a constant at load time (tiny/passes/fold.py)."""
from __future__ import annotations

from typing import Any

import numpy as np

from tiny.ir import Op
from tiny.ops.base import OpDef


def fold(op: Op, ins: list[Any]) -> np.ndarray:
    return np.asarray(ins[0].shape, dtype=np.int32)


# Needs only the input's shape, not its values.
SHAPE = OpDef(name="SHAPE", fold=fold, fold_needs_values=False)
DEFS = [SHAPE]
