"""One sweep cell: a (model, board, schedule, kernels) point, computed by the single commands' code.

A cell's row is what `tiny report` (and `tiny bench`, `tiny validate`) report for that point, so a
sweep and the single commands can never disagree: run_cell calls the same functions.
"""
from __future__ import annotations

import hashlib
import itertools
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tiny import __version__
from tiny.ir import TinyError

SCHEDULES = ("layer", "patch", "auto")
ROW_KEYS = ("model", "board", "schedule", "kernels", "fits", "peak_sram_bytes", "flash_bytes", "macs")


@dataclass(frozen=True)
class Cell:
    model: str                      # path of a .tflite or Keras model
    board: str
    schedule: str = "layer"
    kernels: str = "opt"
    sram_budget: int | None = None
    bench: bool = False
    validate: int = 0               # samples; 0 = no validation

    def describe(self) -> str:
        return f"{Path(self.model).name} / {self.board} / {self.schedule} / {self.kernels}"


def expand(models: list[str], boards: list[str], schedules: list[str], kernels: list[str] | None = None,
           sram_budget: int | None = None, bench: bool = False, validate: int = 0) -> list[Cell]:
    """The cross product, in a stable order (models, then boards, schedules, kernels)."""
    for s in schedules:
        if s not in SCHEDULES:
            raise TinyError(f"unknown schedule '{s}': use {', '.join(SCHEDULES)}")
    for m in models:
        if not Path(m).exists():
            raise TinyError(f"{m}: no such file or directory")
    from tiny.boards import get_board
    for b in boards:
        get_board(b)                # a clear error for an unknown board before any work
    return [Cell(m, b, s, k, sram_budget, bench, validate)
            for m, b, s, k in itertools.product(models, boards, schedules, kernels or ["opt"])]


def _file_digest(path: str) -> str:
    p = Path(path)
    h = hashlib.sha256()
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()


def cell_key(cell: Cell) -> str:
    """The cache key: model content, board, schedule, kernels, what is measured, tiny's version."""
    d = asdict(cell)
    d["model"] = _file_digest(cell.model)
    d["version"] = __version__
    return hashlib.sha256(repr(sorted(d.items())).encode()).hexdigest()[:24]


def _lock(cell: Cell) -> Any:
    """Cells of one model on one board may share a firmware project (layer and auto often compile
    the same program): building it twice at once would race, so they take turns."""
    from filelock import FileLock
    from tiny.workflow import cache_dir
    d = cache_dir() / "locks"
    d.mkdir(parents=True, exist_ok=True)
    return FileLock(str(d / f"{_file_digest(cell.model)[:16]}-{cell.board}.lock"))


def _validate(cell: Cell) -> dict[str, Any]:
    from tiny.compare import random_inputs, validate
    from tiny.pipeline import load_model
    from tiny.workflow import compile_for, open_session
    g = load_model(cell.model)
    c = compile_for(g, cell.board, cell.schedule, cell.sram_budget, kernels=cell.kernels)
    samples = [random_inputs(g, seed) for seed in range(cell.validate)]
    with open_session(c, cell.board, samples=samples) as s:
        res = validate(g, s, cell.board, cell.validate, inputs=samples, readable=c.readable_ops)
    return res.as_json()


def run_cell(cell: Cell) -> dict[str, Any]:
    """The row of one cell; a failure is recorded in `error` (its message), never raised."""
    row: dict[str, Any] = {"model": Path(cell.model).stem, "model_path": str(cell.model), "board": cell.board,
                           "schedule": cell.schedule, "kernels": cell.kernels, "sram_budget": cell.sram_budget}
    try:
        from tiny.report import report
        data, _ = report(cell.model, cell.board, cell.schedule, cell.sram_budget)
        row.update({k: data.get(k) for k in ("fits", "peak_sram_bytes", "flash_bytes", "macs",
                                              "layer_based_peak_bytes", "tflm_arena_bytes", "board_sram_bytes")})
        row["model"] = data["model"]
        for k in ("patch_based_peak_bytes", "patch_mac_overhead", "split_after_op", "grid"):
            if k in data:
                row[k] = data[k]
        if cell.bench or cell.validate:
            with _lock(cell):
                if cell.bench:
                    from tiny.bench import bench
                    b, _ = bench(cell.model, cell.board, cell.schedule, cell.sram_budget, cell.kernels)
                    row.update(instructions=b["instructions"], est_cycles=b["est_cycles"],
                               instructions_per_mac=b.get("instructions_per_mac"))
                if cell.validate:
                    v = _validate(cell)
                    row.update(bit_exact=v["bit_exact"], samples=v["samples"], max_abs_diff=v["max_abs_diff"])
    except TinyError as e:
        row["error"] = str(e)
    except Exception as e:      # a bug must not stop the other cells; keep where it happened
        tb = traceback.extract_tb(e.__traceback__)[-1]
        row["error"] = f"internal error {type(e).__name__}: {e} ({Path(tb.filename).name}:{tb.lineno})"
    return row
