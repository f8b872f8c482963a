"""STRIDED_SLICE of a 1-D constant (Keras' dynamic-batch shape arithmetic), folded at load time."""
from __future__ import annotations

from typing import Any

import numpy as np

from tiny.ir import IRError, Op
from tiny.ops.base import OpDef


def options(opt: Any) -> dict[str, Any]:
    if opt is None:
        return {}
    return dict(begin_mask=opt.beginMask, end_mask=opt.endMask, ellipsis_mask=opt.ellipsisMask,
                new_axis_mask=opt.newAxisMask, shrink_axis_mask=opt.shrinkAxisMask)


def fold(op: Op, ins: list[Any]) -> np.ndarray:
    x, begin, end, strides = (t.data for t in ins)
    a = op.attrs
    if x.ndim != 1 or a.get("ellipsis_mask") or a.get("new_axis_mask"):
        raise IRError(f"op #{op.index} {op.type}: only 1-D constant slices can be folded")
    b = None if a.get("begin_mask", 0) & 1 else int(begin[0])
    e = None if a.get("end_mask", 0) & 1 else int(end[0])
    if a.get("shrink_axis_mask", 0) & 1:
        return np.asarray(x[int(begin[0])])
    return x[b:e:int(strides[0])]


STRIDED_SLICE = OpDef(name="STRIDED_SLICE", fb_options="StridedSliceOptions", options=options, fold=fold)
DEFS = [STRIDED_SLICE]
