"""Tasks on Ray: local by default (one process per worker), a cluster with `address`.

`map_tasks` is the one engine every search uses (sweep cells, training trials): results come back
in the order of the inputs whatever order the workers finish in, so a parallel run reports exactly
what a serial one does. Rows are cached by key, so a re-run only computes new cells.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tiny.ir import TinyError

T = TypeVar("T")
R = TypeVar("R")

OBJECT_STORE_BYTES = 96 * 1024 * 1024       # rows and trial results are small


def _package_root() -> str:
    import tiny
    return str(Path(tiny.__file__).resolve().parent.parent)


def init_ray(workers: int | None = None, address: str | None = None) -> Any:
    """Start (or join) Ray. Local: `workers` CPUs (default: all); `address`: an existing cluster,
    whose nodes must have tiny installed (`pip install` it there, see docs/scale.md)."""
    try:
        import ray
    except ImportError:
        raise TinyError("tiny sweep runs on Ray: pip install 'ray==2.60.0' (make setup installs it)") from None
    if ray.is_initialized():
        return ray
    env = {k: os.environ[k] for k in ("TINY_CACHE", "PLATFORMIO_CORE_DIR") if k in os.environ}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_package_root(), os.environ.get("PYTHONPATH", "")) if p)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    kw: dict[str, Any] = dict(logging_level=logging.ERROR, log_to_driver=False, configure_logging=True,
                              runtime_env={"env_vars": env})
    if address:
        ray.init(address=address, **kw)
    else:
        if workers is not None and workers < 1:
            raise TinyError(f"--workers {workers}: need at least 1")
        ray.init(num_cpus=workers or os.cpu_count() or 1, include_dashboard=False,
                 object_store_memory=OBJECT_STORE_BYTES, **kw)
    return ray


def map_tasks(fn: Callable[[T], R], items: Sequence[T], workers: int | None = None, address: str | None = None,
              progress: Callable[[int, int], None] | None = None) -> list[R]:
    """[fn(x) for x in items], one Ray task per item; results in input order."""
    if not items:
        return []
    ray = init_ray(workers, address)
    remote = ray.remote(num_cpus=1, max_retries=1)(fn)
    refs = [remote.remote(x) for x in items]
    index = {r: i for i, r in enumerate(refs)}
    out: list[Any] = [None] * len(refs)
    pending = list(refs)
    done = 0
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        for r in ready:
            out[index[r]] = ray.get(r)
            done += 1
        if progress:
            progress(done, len(refs))
    return out


def shutdown() -> None:
    try:
        import ray
    except ImportError:
        return
    if ray.is_initialized():
        ray.shutdown()


def cached_map(fn: Callable[[T], dict[str, Any]], items: Sequence[T], key: Callable[[T], str], cache: Path | None,
               workers: int | None = None, address: str | None = None,
               progress: Callable[[int, int], None] | None = None) -> tuple[list[dict[str, Any]], int]:
    """map_tasks with a row cache (one JSON file per key; rows with `error` are not kept).
    Returns the rows in input order and how many came from the cache."""
    rows: list[dict[str, Any] | None] = [None] * len(items)
    keys = [key(x) for x in items]
    todo = []
    for i, k in enumerate(keys):
        f = cache / f"{k}.json" if cache else None
        if f is not None and f.exists():
            try:
                rows[i] = json.loads(f.read_text())
                continue
            except (OSError, ValueError):
                pass                            # a damaged cache entry is recomputed
        todo.append(i)
    hits = len(items) - len(todo)

    def prog(done: int, _: int) -> None:
        if progress:
            progress(hits + done, len(items))
    if progress:
        progress(hits, len(items))
    fresh = map_tasks(fn, [items[i] for i in todo], workers, address, prog)
    for i, row in zip(todo, fresh):
        rows[i] = row
        if cache is not None and "error" not in row:
            cache.mkdir(parents=True, exist_ok=True)
            tmp = cache / f"{keys[i]}.{os.getpid()}.tmp"
            tmp.write_text(json.dumps(row, default=_jsonable))
            tmp.replace(cache / f"{keys[i]}.json")
    return [r for r in rows if r is not None], hits


def _jsonable(o: Any) -> Any:
    import numpy as np
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, (tuple, set)):
        return list(o)
    return str(o)


def _call_with_shared(args: tuple[Any, Any, Any]) -> Any:
    fn, shared, item = args
    import ray
    return fn(ray.get(shared), item)


def shared_runner(fn: Callable[[Any, T], R], workers: int | None = None, address: str | None = None,
                  progress: Callable[[int, int], None] | None = None) -> Callable[[Any, list[T]], list[R]]:
    """A runner for searches of the shape `[fn(shared, item) for item in items]` (training trials:
    `shared` = the cached activations, `item` = one trial): `shared` goes into Ray's object store once
    and every task reads it from there; results in input order."""
    def run(shared: Any, items: list[T]) -> list[R]:
        ray = init_ray(workers, address)
        ref = ray.put(shared)
        return map_tasks(_call_with_shared, [(fn, ref, x) for x in items], workers, address, progress)
    return run
