"""The model defines the input domain: user data -> the int8 values the model's input expects.

A model's int8 input covers the float range scale * (-128 - zp) .. scale * (127 - zp). That range
says what preprocessing the model was trained with: about [-1, 1] for the usual MobileNet
preprocessing, about [0, 255] for a Keras model with a `Rescaling` layer inside that takes raw
pixels. Every place data enters (train, validate, demo) maps it the same way:

* uint8 arrays are images: 0..255 maps linearly onto the domain (identity for a 0..255 model);
* float arrays are taken as already in the model's float domain;
* `--input-range LO,HI` states the domain explicitly (it overrides the quantization's);
* `--mean/--std` (torchvision's Normalize, PyTorch's usual preprocessing outside the model): uint8
  images enter as (x / 255 - mean) / std per channel instead. Without them, uint8 images on a range
  that is none of the common ones get a note saying how they map and what to pass.

A model converted with float32 or uint8 inference I/O types quantizes its input in its first op
(QUANTIZE to int8): the domain is then that op's int8 output, and the data reach the model as the
float32 values, or uint8 codes, which that op maps back to the int8 codes (`model_values`).

A calibrated range is often a little narrower than the preprocessing it came from ([-1, 0.992]
for [-1, 1] data): a range within 10 % of a common one ([0, 1], [-1, 1], [0, 255], [-128, 127]) is
snapped to it, and `source` says so. Data that would saturate the int8 range is refused; data that
would use only a sliver of it gets a warning, both with the numbers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from tiny.ir import Graph, TinyError
from tiny.ops import kinds as K

COMMON_RANGES = ((0.0, 1.0), (-1.0, 1.0), (0.0, 255.0), (-128.0, 127.0))
SNAP_TOLERANCE = 0.10          # of the range's width
SATURATION_LIMIT = 0.01        # fraction of values allowed beyond the int8 range
EDGE_CODES = 2                 # clipping by up to 2 codes at the edges is rounding, not saturation
SLIVER_FRACTION = 1 / 8        # of the 256 int8 codes
NEGATIVE_SHARE = 1 / 4         # a domain this far below zero expects negative inputs


@dataclass(frozen=True)
class Normalization:
    """A model's per-channel preprocessing of [0, 1] images, as torchvision's Normalize writes it:
    (x / 255 - mean) / std. uint8 images are mapped through it instead of linearly onto the range."""
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def describe(self) -> str:
        f = lambda v: ", ".join(f"{a:g}" for a in v)  # noqa: E731
        return f"(x / 255 - ({f(self.mean)})) / ({f(self.std)}) per channel"


@dataclass(frozen=True)
class InputDomain:
    """The float range the model's int8 input covers, and its quantization."""
    lo: float
    hi: float
    scale: float
    zero_point: int
    source: str                # "quantization" | "quantization (snapped to [a, b])" | "--input-range"
    quantize_op: int | None = None   # a float32 / uint8 model input: the QUANTIZE op whose int8 output is meant
    input_dtype: str = "int8"        # the model input's own type (float32, uint8 with a quantize_op)
    # uint8 input: for each int8 code (index q + 128) the uint8 code its QUANTIZE maps nearest to it
    # (exactly to it when the scales are equal, as TF's converter writes them)
    uint8_codes: tuple[int, ...] | None = None
    normalize: Normalization | None = None   # --mean/--std: how uint8 images enter the domain

    def describe(self) -> str:
        via = (f", the {self.input_dtype} input's QUANTIZE op #{self.quantize_op}"
               if self.quantize_op is not None else "")
        norm = f"; uint8 images as {self.normalize.describe()}" if self.normalize else ""
        return (f"[{self.lo:g}, {self.hi:g}] ({self.source}{via}; scale {self.scale:g}, zero point "
                f"{self.zero_point}{norm})")

    def model_values(self, q: np.ndarray) -> np.ndarray:
        """int8 codes as the model's input takes them: the codes themselves; for a float32 input
        (converted models keep float I/O around an int8 core) float32 values that its QUANTIZE op maps
        back to exactly these codes: (q - zp) * s, whose round(v / s) + zp is q again (|q - zp| <= 255);
        for a uint8 input the uint8 codes its QUANTIZE maps to them (uint8_codes)."""
        if self.quantize_op is None:
            return q
        if self.uint8_codes is not None:
            return np.asarray(self.uint8_codes, np.uint8)[np.asarray(q).astype(np.int64) + 128]
        return ((np.asarray(q).astype(np.float32) - np.float32(self.zero_point)) * np.float32(self.scale)
                ).astype(np.float32)


def _snap(lo: float, hi: float) -> tuple[float, float] | None:
    for a, b in COMMON_RANGES:
        tol = SNAP_TOLERANCE * (b - a)
        if abs(lo - a) <= tol and abs(hi - b) <= tol:
            return a, b
    return None


def model_input_domain(g: Graph, index: int = 0, input_range: tuple[float, float] | None = None,
                       normalize: Normalization | None = None) -> InputDomain:
    """The input domain of graph input `index` (from its quantization, or `input_range`); uint8
    images enter it through `normalize` when given."""
    dom = _input_domain(g, index, input_range)
    return replace(dom, normalize=normalize) if normalize is not None else dom


def _input_domain(g: Graph, index: int, input_range: tuple[float, float] | None) -> InputDomain:
    if not 0 <= index < len(g.inputs):
        raise TinyError(f"the model has {len(g.inputs)} input(s); there is no input {index}")
    t = x = g.tensors[g.inputs[index]]
    qop = None
    if t.dtype in ("float32", "uint8"):
        # float or uint8 I/O around an int8 core (TF's converter by default or with uint8 inference
        # types, PyTorch exports): the input's only consumer quantizes it to int8, and that op's
        # int8 output is the domain
        cons = g.consumers(g.inputs[index])
        if len(cons) == 1 and cons[0].type == K.QUANTIZE and g.tensors[cons[0].outputs[0]].dtype == "int8" \
                and g.tensors[cons[0].outputs[0]].quant is not None:
            qop, t = cons[0].index, g.tensors[cons[0].outputs[0]]
    if t.quant is None or t.dtype not in ("int8", "uint8", "int16"):
        raise TinyError(f"input '{t.name}' ({t.dtype}) is not quantized: tiny needs an int8 input "
                        "with a scale and zero point (or a float32 or uint8 input whose only consumer is a "
                        "QUANTIZE op)")
    dom = _domain(t, input_range)
    if qop is None:
        return dom
    return replace(dom, quantize_op=qop, input_dtype=x.dtype,
                   uint8_codes=_uint8_preimages(g, g.ops[qop]) if x.dtype == "uint8" else None)


def _uint8_preimages(g: Graph, op) -> tuple[int, ...]:
    """For each int8 code q (index q + 128), the uint8 input code u whose QUANTIZE result is q, or
    nearest to q when no u gives q (the uint8 scale coarser than the int8 one); among equals the u
    whose real value is nearest q's. The QUANTIZE runs on the board as is, so whichever u is sent,
    the board, the numpy reference and TFLM see the same int8 codes."""
    from tiny.ops import quantize
    u = np.arange(256, dtype=np.uint8)
    f = quantize.run(quantize.prepare(g, op), [u]).astype(np.int64)
    xq, yq = g.tensors[op.inputs[0]].quant, g.tensors[op.outputs[0]].quant
    real_u = float(xq.s()) * (u.astype(np.float64) - xq.zp())
    out = []
    for q in range(-128, 128):
        real_q = float(yq.s()) * (q - yq.zp())
        out.append(int(np.lexsort((np.abs(real_u - real_q), np.abs(f - q)))[0]))
    return tuple(out)


def _domain(t, input_range: tuple[float, float] | None) -> InputDomain:
    scale, zp = t.quant.s(), t.quant.zp()
    if not math.isfinite(scale) or scale <= 0:
        raise TinyError(f"input '{t.name}': quantization scale {scale} is not a positive finite number")
    qmin, qmax = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767)}[t.dtype]
    if input_range is not None:
        lo, hi = (float(v) for v in input_range)
        return InputDomain(lo, hi, scale, zp, "--input-range")
    lo, hi = scale * (qmin - zp), scale * (qmax - zp)
    snapped = _snap(lo, hi)
    if snapped is not None and snapped != (lo, hi):
        return InputDomain(snapped[0], snapped[1], scale, zp,
                           f"quantization [{lo:.4g}, {hi:.4g}] snapped to [{snapped[0]:g}, {snapped[1]:g}]")
    return InputDomain(lo, hi, scale, zp, "quantization")


def parse_input_range(text: str) -> tuple[float, float]:
    """`"LO,HI"` -> (lo, hi); a TinyError for anything else."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        lo, hi = (float(p) for p in parts)
    except ValueError:
        raise TinyError(f"--input-range {text!r}: expected two numbers LO,HI, e.g. --input-range 0,255") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or not lo < hi:
        raise TinyError(f"--input-range {text!r}: need finite LO < HI")
    return lo, hi


def parse_normalization(mean: str | None, std: str | None) -> Normalization | None:
    """`--mean M[,M,M] --std S[,S,S]` -> Normalization (None when neither is given). Values above 1
    are read as 0..255 pixel units (mmcv's convention: mean 123.675, std 58.395) and divided by 255."""
    if mean is None and std is None:
        return None
    if mean is None or std is None:
        raise TinyError("--mean and --std go together: the model's per-channel normalization "
                        "(x / 255 - mean) / std, e.g. --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225")
    vals = []
    for flag, text in (("--mean", mean), ("--std", std)):
        try:
            v = tuple(float(p) for p in str(text).split(","))
        except ValueError:
            raise TinyError(f"{flag} {text!r}: expected numbers separated by commas, one per channel "
                            "(or one for all)") from None
        if not all(math.isfinite(a) for a in v):
            raise TinyError(f"{flag} {text!r}: need finite numbers")
        vals.append(v)
    m, s = vals
    if len(m) != len(s) and 1 not in (len(m), len(s)):
        raise TinyError(f"--mean has {len(m)} values and --std {len(s)}: give one per channel (or one for all)")
    if min(s) <= 0:
        raise TinyError(f"--std {std!r}: every standard deviation must be > 0")
    if max(max(m), max(s)) > 1:      # pixel units
        m, s = tuple(a / 255 for a in m), tuple(a / 255 for a in s)
    return Normalization(m, s)


def _normalized(x: np.ndarray, n: Normalization, name: str) -> np.ndarray:
    c = x.shape[-1] if x.ndim >= 2 else 1
    for flag, v in (("--mean", n.mean), ("--std", n.std)):
        if len(v) not in (1, c):
            raise TinyError(f"{name}: {flag} has {len(v)} values, the images have {c} channel(s) (last axis "
                            f"of shape {x.shape})")
    mean, std = np.asarray(n.mean, np.float64), np.asarray(n.std, np.float64)
    return ((x.astype(np.float64) / 255.0 - mean) / std).astype(np.float32)


def to_model_float(x: np.ndarray, dom: InputDomain, name: str = "data") -> np.ndarray:
    """`x` in the model's float input domain (float32): uint8 images mapped 0..255 -> lo..hi (or
    through the domain's per-channel normalization), floats taken as they are. NaN/inf raise a
    TinyError naming the array."""
    x = np.asarray(x)
    if x.size == 0:
        raise TinyError(f"{name}: the array is empty (shape {x.shape})")
    if x.dtype == np.uint8 and dom.normalize is not None:
        return _normalized(x, dom.normalize, name)
    if x.dtype == np.uint8:
        return (dom.lo + x.astype(np.float32) * np.float32((dom.hi - dom.lo) / 255.0)).astype(np.float32)
    if x.dtype == np.bool_ or not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise TinyError(f"{name}: dtype {x.dtype} is not numeric image/feature data")
    xf = x.astype(np.float32)
    bad = ~np.isfinite(xf)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise TinyError(f"{name}: {int(bad.sum())} of {xf.size} values are NaN or infinite "
                        f"(first at index {first})")
    return xf


def mapping_note(x: np.ndarray, dom: InputDomain) -> str | None:
    """For uint8 images on a range that is none of the common ones (no --mean/--std): how they map,
    and what to give when the model was trained with per-channel normalization (PyTorch's usual)."""
    if np.asarray(x).dtype != np.uint8 or dom.normalize is not None or dom.source != "quantization" \
            or _snap(dom.lo, dom.hi) is not None:
        return None
    return (f"uint8 images map linearly 0..255 onto the model's input range [{dom.lo:.4g}, {dom.hi:.4g}]; if "
            "the model was trained with per-channel normalization (torchvision's Normalize), pass it as "
            "--mean/--std (e.g. --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225)")


def _round_half_away(v: np.ndarray) -> np.ndarray:
    # TFLite's quantize rounds half away from zero (std::round), not to even.
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def quantize_input(x: np.ndarray, dom: InputDomain, name: str = "data",
                   warn: Callable[[str], None] | None = print, given_dtype: np.dtype | None = None) -> np.ndarray:
    """`x` as the int8 values the model's input expects; refuses data that would saturate.
    given_dtype: the dtype the user gave `x` in, when `x` is already converted (default x's)."""
    xf = to_model_float(x, dom, name)
    q = _round_half_away(xf / np.float32(dom.scale)) + dom.zero_point
    # Values inside the (snapped) domain are the model's own preprocessing range, however narrow
    # its calibration: they clip by a few codes at most and are not counted as saturating.
    half = np.float32(dom.scale / 2)
    beyond_hi, beyond_lo = xf > np.float32(dom.hi) + half, xf < np.float32(dom.lo) - half
    over = int(((q > 127 + EDGE_CODES) & beyond_hi).sum())
    under = int(((q < -128 - EDGE_CODES) & beyond_lo).sum())
    if over + under > SATURATION_LIMIT * q.size:
        raise TinyError(
            f"{name}: {over + under} of {q.size} values ({100.0 * (over + under) / q.size:.1f} %) fall outside "
            f"the model's input range {dom.describe()}: data in [{float(xf.min()):g}, {float(xf.max()):g}]. "
            f"Give the data in the model's input domain, or pass --input-range LO,HI")
    q8 = np.clip(q, -128, 127).astype(np.int8)
    used = int(q8.max()) - int(q8.min()) + 1
    if warn is not None and used < SLIVER_FRACTION * 256:
        warn(f"warning: {name} uses only {used} of the 256 int8 input codes: data in "
             f"[{float(xf.min()):g}, {float(xf.max()):g}], the model expects {dom.describe()}. "
             f"If the data are in another range (e.g. images in [0, 1] for a model taking 0..255), "
             f"pass uint8 images or --input-range LO,HI")
    elif warn is not None and (given_dtype or np.asarray(x).dtype) != np.uint8 and dom.lo < 0 < dom.hi \
            and -dom.lo >= NEGATIVE_SHARE * (dom.hi - dom.lo) and float(xf.min()) >= 0:
        # images scaled to [0, 1] for a model trained on [-1, 1]: every code lands in the upper half
        warn(f"warning: {name}: data in [{float(xf.min()):g}, {float(xf.max()):g}] never reach the negative "
             f"part of the model's input range {dom.describe()}. If they are images scaled to [0, 1] for a "
             f"model trained on [-1, 1], give uint8 images (0..255 map onto the model's range) or rescale them")
    return q8


def check_images(x: np.ndarray, shape: tuple[int, ...], name: str = "x") -> np.ndarray:
    """`x` as a batch for a model input of `shape` (batch first): adds a missing channel axis of 1,
    refuses a wrong rank or size with both shapes in the message."""
    x = np.asarray(x)
    want = tuple(int(d) for d in shape[1:])
    if len(want) == 3 and x.ndim == 3 and want[-1] == 1:
        x = x[..., None]
    if x.ndim != len(want) + 1:
        raise TinyError(f"{name}: shape {x.shape} has rank {x.ndim}; the model takes batches of {want} "
                        f"(rank {len(want) + 1}, batch first)")
    if tuple(x.shape[1:]) != want:
        raise TinyError(f"{name}: samples of shape {tuple(x.shape[1:])}, the model's input is {want}")
    if x.shape[0] == 0:
        raise TinyError(f"{name}: no samples (shape {x.shape})")
    return x


__all__ = ["InputDomain", "Normalization", "check_images", "model_input_domain", "parse_input_range",
           "parse_normalization", "quantize_input", "to_model_float"]
