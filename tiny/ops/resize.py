"""RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR on int8 NHWC, as TFLM
(micro/kernels/resize_nearest_neighbor.cc, resize_bilinear.cc and the reference_ops they call).

Neither requantizes: TFLM copies (nearest) or interpolates (bilinear) raw int8 values, so a
converted model gives input and output the same scale and zero point.
- nearest: the source index of output x is GetNearestNeighbor: a float32 scale in/out (or
  (in-1)/(out-1) with align_corners), float32 (x + 0.5*half_pixel) * scale, then round half away
  (align_corners) or floor, clamped to [0, in-1]. The C kernel does the same float32 arithmetic.
- bilinear: ResizeBilinearInteger, all in integers: scales in 1/1024 units rounded to nearest,
  weights in Q10 per axis, the four products summed in int64 and divided by 2**20 rounding half away
  from zero (TFLM is built without TFLITE_SINGLE_ROUNDING)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tiny.emit.ctx import EmitCtx
from tiny.ir import Graph, Op
from tiny.ops.base import OpDef, Params, Variant
from tiny.ops.conv2d import int8_tensor, op_error



@dataclass(eq=False)
class ResizeParams(Params):
    op: str
    index: int
    in_shape: tuple[int, int, int, int]
    out_shape: tuple[int, int, int, int]
    align_corners: int
    half_pixel_centers: int


def prepare(g: Graph, op: Op) -> ResizeParams:
    if len(op.inputs) != 2 or len(op.outputs) != 1:
        raise op_error(g, op, "expected inputs (data, size) and one output")
    x = int8_tensor(g, op, op.inputs[0], "input")
    y = int8_tensor(g, op, op.outputs[0], "output")
    size = g.tensors[op.inputs[1]]
    if len(x.shape) != 4 or len(y.shape) != 4:
        raise op_error(g, op, f"input {x.shape} and output {y.shape} must be 4-D (NHWC)")
    if not size.is_const or size.dtype != "int32" or size.size != 2:
        raise op_error(g, op, f"size '{size.name}' must be a constant int32 tensor of 2 values")
    oh, ow = (int(v) for v in np.asarray(size.data).reshape(-1))
    if (x.shape[0], oh, ow, x.shape[3]) != tuple(y.shape) or oh <= 0 or ow <= 0:
        raise op_error(g, op, f"input {x.shape} resized to {oh}x{ow} is not the output {y.shape}")
    if x.quant.s() != y.quant.s() or x.quant.zp() != y.quant.zp():
        raise op_error(g, op, "input and output are quantized differently; TFLM does not requantize here")
    align = bool(op.attrs.get("align_corners", False))
    half = bool(op.attrs.get("half_pixel_centers", False))
    if op.type == "RESIZE_BILINEAR" and align and half:
        raise op_error(g, op, "align_corners and half_pixel_centers are both set (TFLM rejects this)")
    return ResizeParams(op=op.type, index=op.index, in_shape=tuple(x.shape), out_shape=tuple(y.shape),
                        align_corners=int(align), half_pixel_centers=int(half))


def nearest_index(n_out: int, n_in: int, align: bool, half: bool) -> np.ndarray:
    """GetNearestNeighbor for every output index, in float32 as TFLM computes it."""
    f32 = np.float32
    scale = f32(n_in - 1) / f32(n_out - 1) if align and n_out > 1 else f32(n_in) / f32(n_out)
    v = (np.arange(n_out, dtype=np.float32) + f32(0.5 if half else 0.0)) * scale
    fl = np.floor(v)                      # v >= 0 always
    # TfLiteRound (std::round, half away from zero); v - floor(v) is exact in float32.
    idx = (fl + ((v - fl) >= f32(0.5))).astype(np.int64) if align else fl.astype(np.int64)
    idx = np.minimum(idx, n_in - 1)
    return np.maximum(idx, 0) if half else idx


def resize_sources(p: ResizeParams) -> tuple[np.ndarray, np.ndarray]:
    """RESIZE_NEAREST_NEIGHBOR: the input row of each output row and the input column of each output
    column (what the forward copies; the training backward sends each gradient back there)."""
    return (nearest_index(p.out_shape[1], p.in_shape[1], bool(p.align_corners), bool(p.half_pixel_centers)),
            nearest_index(p.out_shape[2], p.in_shape[2], bool(p.align_corners), bool(p.half_pixel_centers)))


def _tdiv(a: np.ndarray, d: int) -> np.ndarray:
    """C integer division (toward zero)."""
    q = np.abs(a) // d
    return np.where(a < 0, -q, q)


def bilinear_axis(n_out: int, n_in: int, align: bool, half: bool) -> tuple[np.ndarray, ...]:
    """(scaled Q10 position, lower index, upper index) per output index: ComputeInterpolationValuesInteger."""
    if align and n_out > 1:
        s10 = ((1 << 10) * (n_in - 1) + (n_out - 1) // 2) // (n_out - 1)
    else:
        s10 = ((1 << 10) * n_in + n_out // 2) // n_out
    v = np.arange(n_out, dtype=np.int64) * s10
    if half:
        v = v + s10 // 2 - (1 << 9)
    lo = np.maximum(_tdiv(v, 1 << 10), 0)
    hi = np.minimum(_tdiv(v + (1 << 10) - 1, 1 << 10), n_in - 1)
    return v, lo, hi


def bilinear_sources(p: ResizeParams) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """RESIZE_BILINEAR: ((rows, row weights), (columns, column weights)). Per output row its two input
    rows (lower, upper: [out_h, 2]) and their weights ((1024 - d) / 1024, d / 1024 with d the Q10
    offset from the lower row), as float32 (exact): the int8 kernel's weights, what its output's
    real value depends on each input by (the training backward's interpolation weights); likewise
    per output column. Where lower == upper the two weights go to the same input (they sum to 1)."""
    align, half = bool(p.align_corners), bool(p.half_pixel_centers)

    def axis(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray]:
        v, lo, hi = bilinear_axis(n_out, n_in, align, half)
        d = v - (1 << 10) * lo
        w = np.stack([(1 << 10) - d, d], 1).astype(np.float32) / np.float32(1 << 10)
        return np.stack([lo, hi], 1).astype(np.int64), w.astype(np.float32)
    return axis(p.out_shape[1], p.in_shape[1]), axis(p.out_shape[2], p.in_shape[2])


def run(p: dict[str, Any], inputs: list[np.ndarray | None]) -> np.ndarray:
    x = np.asarray(inputs[0], dtype=np.int8)
    _, ih, iw, _ = p.in_shape
    _, oh, ow, _ = p.out_shape
    align, half = bool(p.align_corners), bool(p.half_pixel_centers)
    if p.op == "RESIZE_NEAREST_NEIGHBOR":
        ys, xs = resize_sources(p)
        return np.ascontiguousarray(x[:, ys][:, :, xs])
    vy, y0, y1 = bilinear_axis(oh, ih, align, half)
    vx, x0, x1 = bilinear_axis(ow, iw, align, half)
    one = 1 << 10
    dy = (vy - one * y0)[None, :, None, None]
    dx = (vx - one * x0)[None, None, :, None]
    xi = x.astype(np.int64)
    acc = (xi[:, y0][:, :, x0] * (one - dy) * (one - dx) + xi[:, y1][:, :, x0] * dy * (one - dx)
           + xi[:, y0][:, :, x1] * (one - dy) * dx + xi[:, y1][:, :, x1] * dy * dx)
    rnd = np.where(acc > 0, 1 << 19, -(1 << 19))
    return _tdiv(acc + rnd, 1 << 20).astype(np.int8)   # static_cast<int8_t>: in range by construction


def scratch_bytes(p: dict[str, Any]) -> int:
    return 0


def emit(p: ResizeParams, e: EmitCtx, fn: str) -> str:
    params = e.struct("tiny_resize_params", "params", {"align_corners": p.align_corners,
                                                       "half_pixel_centers": p.half_pixel_centers})
    return f"{fn}({params}, {e.dims(p.in_shape)}, {e.inp(0)}, {e.dims(p.out_shape)}, {e.out()});"


def options(opt: Any) -> dict[str, Any]:
    if opt is None:
        return {}
    return {"align_corners": bool(opt.alignCorners), "half_pixel_centers": bool(opt.halfPixelCenters)}


RESIZE_NEAREST_NEIGHBOR = OpDef(name="RESIZE_NEAREST_NEIGHBOR", fb_options="ResizeNearestNeighborOptions",
                                arity=(2, 2, (4, 1), 4), options=options, prepare=prepare, run=run, emit=emit,
                                scratch=scratch_bytes, variants=(Variant("tiny_resize_nearest_neighbor_s8_dsp", lambda p, t: int(p.out_shape[2]) <= 256, dsp=True),
                                          Variant("tiny_resize_nearest_neighbor_s8")),
                                portable_why=lambda p: f"output width {p.out_shape[2]} > 256 (the column table)",
                                data_inputs=lambda g, op: [0], backward="resize")
RESIZE_BILINEAR = OpDef(name="RESIZE_BILINEAR", fb_options="ResizeBilinearOptions", arity=(2, 2, (4, 1), 4),
                        options=options, prepare=prepare, run=run, emit=emit, scratch=scratch_bytes,
                        variants=(Variant("tiny_resize_bilinear_s8_dsp", dsp=True),
                                  Variant("tiny_resize_bilinear_s8")), data_inputs=lambda g, op: [0],
                        backward="bilinear")
DEFS = [RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR]
