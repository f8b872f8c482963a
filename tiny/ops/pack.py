"""PACK of constants (Keras' dynamic-batch shape arithmetic), folded at load time."""
from __future__ import annotations

from typing import Any

import numpy as np

from tiny.ir import Op
from tiny.ops.base import OpDef


def options(opt: Any) -> dict[str, Any]:
    return {"axis": opt.axis} if opt is not None else {}


def fold(op: Op, ins: list[Any]) -> np.ndarray:
    return np.stack([t.data for t in ins], axis=op.attrs.get("axis", 0))


PACK = OpDef(name="PACK", fb_options="PackOptions", options=options, fold=fold)
DEFS = [PACK]
