"""The Python API: what the `tiny` commands do, as functions returning data (docs/api.md).

    import tiny
    g = tiny.load("model.tflite")                       # verified int8 Graph
    c = tiny.compile(g, board="qemu-m4-256k")           # Compiled: C files, memory plan
    r = tiny.validate(g, board="host", samples=5)       # dict, the keys of `tiny validate --json`
    e = tiny.export(g, board="qemu-m4-256k", out="lib") # Export: the C library written
    t = tiny.train(board="host", steps=40)              # dict, the keys of `tiny train --json`

Every function takes a model as a path (.tflite / Keras) or a Graph from tiny.load. Nothing here
prints (progress, tables) or changes global state (no matplotlib backend, no logging setup); errors
are TinyError with a one-line message. Heavy packages are imported only by the functions that
need them (TensorFlow for Keras models, TFLite Micro for validate, matplotlib for figures).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from tiny.ir import Graph

DEFAULT_BOARD = "qemu-m4-256k"


def load(model: str | Path | Graph) -> Graph:
    """A model file (.tflite, or a Keras .keras/.h5/SavedModel, quantized to full int8 on the way)
    as a verified int8 Graph. A Graph is returned as it is."""
    if isinstance(model, Graph):
        return model
    from tiny.pipeline import load_model
    return load_model(model)


def compile(model: str | Path | Graph, board: str = DEFAULT_BOARD, schedule: str = "layer",  # noqa: A001
            sram_budget: int | None = None, train: str | None = None, out: str | Path | None = None,
            kernels: str = "opt") -> Any:
    """Compile for `board` (`tiny compile`): returns the Compiled model (`.files` the generated C,
    `.plan` the arena plan, `.summary()` sizes and hash). `train`: a training config (TOML) or recipe
    name, for the on-device training firmware. `out`: also write the project there (a PlatformIO
    project for boards, src/ for the host)."""
    from tiny.workflow import compile_for, write_project
    g = load(model)
    if train:
        from tiny.train.api import compile_train
        from tiny.train.config import load_config
        c = compile_train(g, board, load_config(train), schedule, sram_budget, kernels=kernels)
    else:
        c = compile_for(g, board, schedule, sram_budget, kernels=kernels)
    if out is not None:
        write_project(c, board, Path(out))
    return c


def report(model: str | Path, board: str = DEFAULT_BOARD, schedule: str = "layer",
           sram_budget: int | None = None) -> dict[str, Any]:
    """Memory and compute report (`tiny report --json`): peak SRAM, flash, MACs, per-layer list."""
    from tiny.report import report as _report
    data, _ = _report(str(model), board, schedule, sram_budget, plot=None)
    return data


def validate(model: str | Path | Graph, board: str = DEFAULT_BOARD, samples: int = 10, schedule: str = "layer",
             sram_budget: int | None = None, seed: int = 0) -> dict[str, Any]:
    """Run `samples` random inputs through TFLite Micro, tiny's reference and the board (`host`, or an
    emulated board on QEMU) and compare bit for bit (`tiny validate --json`: `bit_exact`, `samples`,
    `max_abs_diff`, `mismatched_elements`, `first_mismatch`). Needs the oracle extra (tflite-micro)."""
    from tiny.compare import random_inputs
    from tiny.compare import validate as _validate
    from tiny.workflow import compile_for, open_session
    g = load(model)
    c = compile_for(g, board, schedule, sram_budget)
    xs = [random_inputs(g, seed + i) for i in range(samples)]
    with open_session(c, board, samples=xs) as s:
        res = _validate(g, s, board, samples, inputs=xs, readable=c.readable_ops)
    data = res.as_json()
    data["schedule"] = schedule
    return data


def train(model: str | Path | None = None, board: str = DEFAULT_BOARD, recipe: str = "sparse",
          data: str = "digits-transfer", epochs: int | None = None, steps: int | None = None,
          lr: float | None = None, out: str | Path | None = None, **options: Any) -> dict[str, Any]:
    """Fine-tune on the board (`tiny train --json`: `accuracy_before`, `accuracy_after`, `steps`,
    `train_peak_sram_bytes`, `train_blocks`, ...). `model` None: the data set's own base model.
    `recipe`: sparse | bias | head | mobiletl | full, or a TOML config path. Other keyword options
    are those of tiny.train.run.run_training (momentum, qas, schedule, eval_samples, blocks, ...)."""
    from tiny.train.run import run_training
    options.setdefault("log", lambda _msg: None)
    res = run_training(None if model is None else str(model), board, recipe, data, epochs=epochs, steps=steps,
                       lr=lr, out=Path(out) if out is not None else None, **options)
    return res.data


def export(model: str | Path | Graph, board: str = DEFAULT_BOARD, out: str | Path = "tiny_model",
           schedule: str = "layer", sram_budget: int | None = None, train: str | None = None,
           kernels: str = "opt") -> Any:
    """Write the model as a C library for your own firmware (`tiny export`): include/tiny_model.h,
    src/, library.json, library.properties, CMakeLists.txt. Returns a tiny.export.Export
    (`.summary()` lists the files, sizes and I/O quantization)."""
    from tiny.export import export_model
    return export_model(load(model), board, Path(out), schedule, sram_budget, train=train, kernels=kernels)


__all__ = ["compile", "export", "load", "report", "train", "validate"]
