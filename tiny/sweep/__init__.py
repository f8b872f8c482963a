"""`tiny sweep`: models x boards x schedules x kernels as tasks on Ray (tiny/sweep/engine.py)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tiny.sweep.cells import Cell, cell_key, expand, run_cell
from tiny.sweep.engine import cached_map, map_tasks, shutdown


def sweep(cells: list[Cell], workers: int | None = None, address: str | None = None, cache: bool = True,
          progress: Callable[[int, int], None] | None = None) -> tuple[list[dict[str, Any]], int]:
    """The rows of `cells` (in order) and how many came from the cache."""
    from tiny.workflow import cache_dir
    return cached_map(run_cell, cells, cell_key, cache_dir() / "sweep" if cache else None, workers, address,
                      progress)


__all__ = ["Cell", "cached_map", "cell_key", "expand", "map_tasks", "run_cell", "shutdown", "sweep"]
