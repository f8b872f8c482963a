"""`tiny validate MODEL --data FILE [--float-model KERAS]`: the user's samples through TFLite Micro,
the numpy reference and the board, with the figures `stedgeai validate` reports.

Data (tiny.data_files): an .npz with `x` (samples, batch first; channels-first images are
transposed) and optionally `y` (class indices, or one-hot), an .npy holding `x` alone, a `tiny
train` data file (x_train, y_train, x_test, y_test: its test split), or a folder of class folders
(or its test/ folder). `x` follows the model's input domain (tiny.input_domain): uint8 images map
0..255 onto the int8 input's float range, floats are taken as already in that range, and
`--input-range LO,HI` states the range outright.

Per run (JSON keys):
  accuracy          top-1 of the board's output 0 against `y` (only with labels)
  tflm_agreement    fraction of samples whose board top-1 equals TFLM's top-1
  bit_exact_samples samples whose board outputs equal TFLM's bit for bit (and the usual
                    bit_exact / mismatched_elements / first_mismatch of `tiny validate`)
  outputs           per model output, against the float model (dequantized board output vs
                    float output, over all samples and elements): rmse, mae, l2r (relative L2:
                    ||board - float|| / ||float||), cosine (cosine similarity); the top-level
                    rmse / mae / l2r / cosine are output 0's
The float model is --float-model, or MODEL itself when MODEL is a Keras model (tiny quantizes
it). Float results are float32 arithmetic and the int8 model is an approximation of them: these
metrics measure quantization error, they are not an exactness check (bit_exact is)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tiny.analysis import np_dtype
from tiny.input_domain import Normalization
from tiny.ir import Graph, TinyError

METRICS = ("rmse", "mae", "l2r", "cosine")


@dataclass
class Samples:
    x: np.ndarray            # as given (after the shape check), batch first
    x_float: np.ndarray      # in the model's float input domain (what the float model sees)
    x_q: np.ndarray          # int8 (a float32 / uint8 input: float32 / uint8 of those codes), what TFLM / the reference / the board see
    y: np.ndarray | None     # class indices, or None
    domain: Any              # tiny.input_domain.InputDomain


def load_data(path: str | Path, g: Graph, input_range: tuple[float, float] | None = None,
              warn: Callable[[str], None] | None = print, normalize: Normalization | None = None) -> Samples:
    """Read PATH (tiny.data_files.read_samples) and map it into the model's input domain."""
    from tiny.data_files import read_samples
    from tiny.input_domain import check_images, mapping_note, model_input_domain, quantize_input, to_model_float

    if len(g.inputs) != 1:
        raise TinyError(f"--data feeds one input; the model has {len(g.inputs)} inputs")
    t = g.tensors[g.inputs[0]]
    x, y = read_samples(path, tuple(t.shape), warn=warn)
    x = check_images(x, tuple(t.shape), name="x")
    if y is not None and len(y) != len(x):
        raise TinyError(f"--data {path}: {len(x)} samples in x but {len(y)} labels in y")
    dom = model_input_domain(g, 0, input_range, normalize)
    note = mapping_note(x, dom)
    if note and warn:
        warn(note)
    x_float = to_model_float(x, dom, name="x")
    x_q = dom.model_values(quantize_input(x, dom, name="x", warn=warn))   # (float32 input: its exact codes)
    if x_q.dtype != np_dtype(t.dtype):
        raise TinyError(f"input '{t.name}' is {t.dtype}; --data needs an int8 model input (or a float32 or uint8 "
                        "one whose only consumer is a QUANTIZE op to int8)")
    return Samples(x=x, x_float=x_float, x_q=x_q, y=y, domain=dom)


def dequantize(g: Graph, tid: int, q: np.ndarray) -> np.ndarray:
    t = g.tensors[tid]
    if t.quant is None:
        return q.astype(np.float32)
    return ((q.astype(np.float32) - np.float32(t.quant.zp())) * np.float32(t.quant.s())).astype(np.float32)


def error_metrics(pred: np.ndarray, ref: np.ndarray) -> dict[str, float | None]:
    """rmse, mae, l2r, cosine of `pred` against `ref` (flattened; float64 sums)."""
    a = np.asarray(pred, dtype=np.float64).reshape(-1)
    b = np.asarray(ref, dtype=np.float64).reshape(-1)
    d = a - b
    nb, na = float(np.linalg.norm(b)), float(np.linalg.norm(a))
    cos = 1.0 if na == 0 and nb == 0 else (float(a @ b) / (na * nb) if na and nb else 0.0)
    return {"rmse": float(np.sqrt(np.mean(d * d))), "mae": float(np.mean(np.abs(d))),
            "l2r": float(np.linalg.norm(d)) / nb if nb else None, "cosine": cos}


def float_outputs(keras_path: str | Path, x_float: np.ndarray, g: Graph) -> list[np.ndarray]:
    """The float Keras model's outputs on the samples, one array per model output."""
    from tiny.frontend.keras import load_keras

    m = load_keras(keras_path)
    want = len(g.outputs)
    try:
        out = m.predict(x_float.astype(np.float32), batch_size=64, verbose=0)
    except Exception as e:  # noqa: BLE001 - Keras raises many kinds
        raise TinyError(f"--float-model {keras_path}: predict failed on x of shape "
                        f"{x_float.shape}: {str(e).splitlines()[0][:200]}") from None
    outs = [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]
    if len(outs) != want:
        raise TinyError(f"--float-model {keras_path} has {len(outs)} outputs, the int8 model {want}")
    for i, (o, tid) in enumerate(zip(outs, g.outputs)):
        per = int(np.prod(g.tensors[tid].shape[1:]))
        if o.size != len(x_float) * per:
            raise TinyError(f"--float-model output {i} has shape {o.shape}; the int8 model's output "
                            f"'{g.tensors[tid].name}' is {g.tensors[tid].shape} per sample")
    return outs


def _top1(v: np.ndarray) -> int:
    return int(np.argmax(v.reshape(-1)))


def validate_data(g: Graph, session: Any, board: str, data: Samples, *,
                  float_model: str | Path | None = None,
                  progress: Callable[[int], None] | None = None,
                  readable: list[int] | None = None) -> dict[str, Any]:
    """Run every sample through TFLM, the reference and `session` (a board); the JSON dict."""
    from tiny import interpreter as reference, oracle
    from tiny.compare import Result, _where, bisect_device

    res = Result(board=board, model=g.name)
    params = reference.prepare_all(g)
    n = len(data.x_q)
    board_q: list[list[np.ndarray]] = []
    tflm_top, board_top = [], []
    exact = ref_exact = 0
    for i in range(n):
        xs = [data.x_q[i:i + 1].reshape(g.tensors[g.inputs[0]].shape)]
        want = oracle.run_all(g, xs)
        ref = reference.run_graph(g, xs, params)
        ok_ref = True
        for op in g.ops:
            tid = op.outputs[0]
            if not np.array_equal(ref[tid], want[tid]):
                ok_ref = False
                res.reference.add(ref[tid], want[tid])
                if res.reference_first_mismatch is None:
                    res.reference_first_mismatch = _where(g, op.index, "reference")
        ref_exact += ok_ref
        raw = session.run(xs)
        outs, ok = [], True
        for tid, r in zip(g.outputs, raw):
            t = g.tensors[tid]
            got = np.frombuffer(r, dtype=np_dtype(t.dtype)).reshape(t.shape)
            outs.append(got)
            if not np.array_equal(got, want[tid]):
                ok = False
                res.device.add(got, want[tid])
                if res.first_mismatch is None:
                    k = bisect_device(g, session, xs, want, readable)
                    res.first_mismatch = _where(g, k if k is not None else len(g.ops) - 1, "device")
        exact += ok
        board_q.append(outs)
        tflm_top.append(_top1(want[g.outputs[0]]))
        board_top.append(_top1(outs[0]))
        res.samples += 1
        if progress:
            progress(i + 1)
    d = res.as_json()
    d.update({"oracle_name": oracle.name(g), "data_samples": n, "bit_exact_samples": exact, "reference_bit_exact_samples": ref_exact,
              "tflm_agreement": float(np.mean(np.array(board_top) == np.array(tflm_top))),
              "accuracy": None, "input_domain": {"lo": data.domain.lo, "hi": data.domain.hi,
                                                 "source": data.domain.source,
                                                 "description": data.domain.describe()}})
    if data.y is not None:
        d["accuracy"] = float(np.mean(np.array(board_top) == data.y))
        d["tflm_accuracy"] = float(np.mean(np.array(tflm_top) == data.y))
    outputs = []
    fl = float_outputs(float_model, data.x_float, g) if float_model else None
    for k, tid in enumerate(g.outputs):
        t = g.tensors[tid]
        entry: dict[str, Any] = {"index": k, "name": t.name, "shape": list(t.shape)}
        if fl is not None:
            pred = np.stack([dequantize(g, tid, o[k]).reshape(-1) for o in board_q])
            entry.update(error_metrics(pred, fl[k].reshape(n, -1)))
            if k == 0 and data.y is not None:
                d["float_accuracy"] = float(np.mean(fl[0].reshape(n, -1).argmax(axis=1) == data.y))
        outputs.append(entry)
    d["outputs"] = outputs
    d["float_model"] = str(float_model) if float_model else None
    for m in METRICS:
        d[m] = outputs[0].get(m) if fl is not None else None
    return d


def table(d: dict[str, Any]) -> str:
    """The human-readable summary of validate_data()'s dict."""
    pct = lambda v: "-" if v is None else f"{v:.2%}"  # noqa: E731
    n = d["samples"]
    lines = [f"{d['model']} on {d['board']}: {n} samples of your data, "
             f"{'BIT-EXACT' if d['bit_exact'] else 'MISMATCH'} vs {d.get('oracle_name', 'TFLite Micro')} "
             f"({d['bit_exact_samples']}/{n} samples bit-exact on the board, "
             f"{d['reference_bit_exact_samples']}/{n} in the reference)",
             f"  input domain {d['input_domain']['description']}",
             f"  tflm_agreement (board top-1 = TFLM top-1): {pct(d['tflm_agreement'])}"]
    if d.get("accuracy") is not None:
        acc = f"  accuracy (board top-1 vs labels): {pct(d['accuracy'])}"
        if d.get("float_accuracy") is not None:
            acc += f"   float model: {pct(d['float_accuracy'])}"
        lines.append(acc)
    if d.get("float_model"):
        lines.append(f"  vs the float model {Path(d['float_model']).name}:")
        lines.append(f"    {'output':<24} {'rmse':>11} {'mae':>11} {'l2r':>11} {'cosine':>9}")
        for o in d["outputs"]:
            l2r = "-" if o["l2r"] is None else f"{o['l2r']:.6f}"
            lines.append(f"    {o['name'][:24]:<24} {o['rmse']:>11.6f} {o['mae']:>11.6f} {l2r:>11} "
                         f"{o['cosine']:>9.6f}")
    fm = d.get("first_mismatch")
    if fm:
        lines.append(f"  first mismatch ({fm['source']}): op #{fm['layer']} {fm['op']}, tensor '{fm['tensor']}'")
    return "\n".join(lines)


def run(model: str, board: str, data_path: str, *, float_model: str | None = None,
        input_range: str | None = None, mean: str | None = None, std: str | None = None,
        schedule: str = "layer", sram_budget: int | None = None,
        port: str | None = None, progress_factory: Callable[[int], Any] | None = None,
        warn: Callable[[str], None] | None = print) -> dict[str, Any]:
    """The whole command: load, compile, open the board, validate."""
    from tiny.input_domain import parse_input_range, parse_normalization
    from tiny.pipeline import KERAS_SUFFIXES, load_model
    from tiny.workflow import compile_for, open_session

    rng = parse_input_range(input_range) if input_range else None
    g = load_model(model)
    samples = load_data(data_path, g, rng, warn=warn, normalize=parse_normalization(mean, std))
    mp = Path(model)
    if float_model is None and (mp.suffix in KERAS_SUFFIXES or (mp.is_dir() and (mp / "saved_model.pb").exists())):
        float_model = model      # MODEL is the float model tiny quantized
    c = compile_for(g, board, schedule, sram_budget)
    shape = g.tensors[g.inputs[0]].shape
    pre = [[samples.x_q[i:i + 1].reshape(shape)] for i in range(len(samples.x_q))]
    with open_session(c, board, samples=pre, port=port) as s:
        cb = progress_factory(len(pre)) if progress_factory else None
        d = validate_data(g, s, board, samples, float_model=float_model, progress=cb,
                          readable=c.readable_ops)
    d["schedule"] = schedule
    return d


__all__ = ["METRICS", "Samples", "dequantize", "error_metrics", "float_outputs", "load_data", "run",
           "table", "validate_data"]
