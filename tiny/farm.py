"""A board farm: boards as Ray actors, each owning one session (a QEMU instance or a serial port).

A farm file lists the boards (TOML):

    [[board]]
    board = "qemu-m4-256k"      # emulated: `count` QEMU instances on this machine / the cluster
    count = 2

    [[board]]
    board = "nucleo_f746zg"     # real: one actor per port, on the node the board is plugged into
    port = "/dev/ttyACM0"

`validate_on_farm` cuts the samples into chunks in order, lets every actor of the board take the
next chunk when it is free, and merges the chunk results in sample order: counts, maxima and the
first mismatch are those of the serial run, sample for sample.
"""
from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tiny.ir import TinyError


@dataclass(frozen=True)
class FarmBoard:
    board: str
    port: str | None = None
    count: int = 1


def load_farm(path: str | Path) -> list[FarmBoard]:
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise TinyError(f"--farm {p}: no such file") from None
    except tomllib.TOMLDecodeError as e:
        raise TinyError(f"--farm {p}: not valid TOML ({e})") from None
    from tiny.boards import get_board
    out = []
    for i, e in enumerate(doc.get("board", [])):
        if not isinstance(e, dict) or "board" not in e:
            raise TinyError(f"--farm {p}: entry {i + 1} needs board = \"NAME\"")
        b = get_board(str(e["board"]))
        port = e.get("port")
        count = int(e.get("count", 1))
        if count < 1:
            raise TinyError(f"--farm {p}: entry {i + 1} ({b.name}): count must be >= 1, got {count}")
        if not b.emulated and not b.is_host and not port:
            raise TinyError(f"--farm {p}: entry {i + 1}: {b.name} is a real board and needs port = \"...\"")
        if port and count != 1:
            raise TinyError(f"--farm {p}: entry {i + 1}: a port is one board; use one entry per port")
        out.extend([FarmBoard(b.name, port)] * count)
    if not out:
        raise TinyError(f"--farm {p}: no [[board]] entries")
    return out


def entries(farm: list[FarmBoard], board: str) -> list[FarmBoard]:
    """The farm's entries of `board` (a clear error when it has none)."""
    mine = [f for f in farm if f.board == board]
    if not mine:
        raise TinyError(f"the farm has no {board}: it has {', '.join(sorted({f.board for f in farm}))}")
    return mine


def build_once(c: Any, board: str, mine: list[FarmBoard], what: str) -> str | None:
    """The firmware of the farm's emulated entries, built here once: their tasks share one project and
    must not write or build it at the same time. None when every entry is a real board at a port."""
    if all(f.port for f in mine):
        return None
    from tiny.boards import get_board
    from tiny.device.connect import firmware_elf
    from tiny.workflow import project_dir_for, write_project
    b = get_board(board)
    if not b.emulated:
        raise TinyError(f"farm entries of {board} need port = \"...\" (a real board) to {what}")
    project = project_dir_for(c, board)
    write_project(c, board, project)
    return str(firmware_elf(b, project))


class BoardWorker:
    """One board and its open session (a Ray actor)."""

    def __init__(self, model: str, board: str, port: str | None, schedule: str, sram_budget: int | None,
                 kernels: str, project: str, elf: str | None = None) -> None:
        from tiny.boards import get_board
        from tiny.device.connect import open_session
        from tiny.pipeline import load_model
        from tiny.workflow import compile_for
        self.g = load_model(model)
        self.c = compile_for(self.g, board, schedule, sram_budget, kernels=kernels)
        self.board = board
        # the firmware the driver built: actors never build the shared project at the same time
        self.s = open_session(get_board(board), Path(project), port=port, timeout=30.0,
                              elf=Path(elf) if elf and not port else None)
        self.s.check_model(self.c.hash)

    def validate(self, seeds: list[int]) -> Any:
        from tiny.compare import random_inputs, validate
        inputs = [random_inputs(self.g, seed) for seed in seeds]
        return validate(self.g, self.s, self.board, len(seeds), inputs=inputs, readable=self.c.readable_ops)

    def close(self) -> None:
        self.s.close()


def merge(results: list[Any]) -> Any:
    """Chunk results (in sample order) -> the result of one serial run over all samples."""
    from tiny.compare import Result
    out = Result(board=results[0].board, model=results[0].model)
    for r in results:
        out.samples += r.samples
        for mine, theirs in ((out.device, r.device), (out.reference, r.reference)):
            mine.max_abs_diff = max(mine.max_abs_diff, theirs.max_abs_diff)
            mine.mismatched += theirs.mismatched
        out.first_mismatch = out.first_mismatch or r.first_mismatch
        out.reference_first_mismatch = out.reference_first_mismatch or r.reference_first_mismatch
    return out


def validate_on_farm(model: str, board: str, farm: list[FarmBoard], samples: int, schedule: str = "layer",
                     sram_budget: int | None = None, kernels: str = "opt", address: str | None = None,
                     chunk: int | None = None, progress: Callable[[int], None] | None = None) -> Any:
    """`tiny validate` spread over the farm's `board` entries; the same Result a serial run gives."""
    mine = entries(farm, board)
    from tiny.boards import get_board
    from tiny.device.connect import firmware_elf
    from tiny.pipeline import load_model
    from tiny.sweep.engine import init_ray
    from tiny.workflow import compile_for, project_dir_for, write_project
    g = load_model(model)
    c = compile_for(g, board, schedule, sram_budget, kernels=kernels)
    project = project_dir_for(c, board)
    write_project(c, board, project)
    b = get_board(board)
    elf = None
    if b.emulated:
        elf = str(firmware_elf(b, project))   # build once here, not once per actor at the same time
    elif b.is_host:
        from tiny.build.host import build_host
        build_host(project)
    ray = init_ray(len(mine), address)
    actor = ray.remote(num_cpus=1)(BoardWorker)
    workers = [actor.remote(model, board, f.port, schedule, sram_budget, kernels, str(project), elf) for f in mine]
    size = chunk or max(1, -(-samples // (4 * len(workers))))
    chunks = [list(range(i, min(i + size, samples))) for i in range(0, samples, size)]
    results: list[Any] = [None] * len(chunks)
    busy: dict[Any, tuple[int, Any]] = {}
    nxt, done = 0, 0
    try:
        free = list(workers)
        while done < len(chunks):
            while free and nxt < len(chunks):
                w = free.pop()
                busy[w.validate.remote(chunks[nxt])] = (nxt, w)
                nxt += 1
            ready, _ = ray.wait(list(busy), num_returns=1)
            for ref in ready:
                k, w = busy.pop(ref)
                results[k] = ray.get(ref)
                free.append(w)
                done += 1
                if progress:
                    progress(sum(len(chunks[i]) for i, r in enumerate(results) if r is not None))
    finally:
        for w in workers:
            try:
                ray.get(w.close.remote(), timeout=10)
            except Exception:   # a board that already went away needs no closing
                pass
            ray.kill(w)
    return merge(results)


def _bench_one(job: tuple[str, str, str | None, str, int | None, str, str | None]) -> dict[str, Any]:
    """One farm board's `tiny bench` (a Ray task): instructions on an emulated board (its firmware
    built once beforehand), DWT cycles on a flashed one at its port."""
    from tiny.bench import bench
    model, board, port, schedule, sram_budget, kernels, elf = job
    data, _ = bench(model, board, schedule, sram_budget, kernels, port=port, elf=None if port else elf)
    return data


def bench_on_farm(model: str, board: str, farm: list[FarmBoard], schedule: str = "layer",
                  sram_budget: int | None = None, kernels: str = "opt", address: str | None = None,
                  ) -> tuple[dict[str, Any], str]:
    """`tiny bench` on every farm entry of `board`, at once: how the boards of a farm behave on the
    same firmware. Per board the result a single `tiny bench` gives; across boards the spread.
    Emulated entries count instructions (identical on every instance, the check that they are);
    real boards read their DWT cycle counters, which differ by board (clock, flash wait states)."""
    import statistics
    from tiny.sweep.engine import map_tasks
    mine = entries(farm, board)
    elf = None
    if any(f.port is None for f in mine):
        from tiny.pipeline import load_model
        from tiny.workflow import compile_for
        elf = build_once(compile_for(load_model(model), board, schedule, sram_budget, kernels=kernels), board, mine,
                         "be benched")
    jobs = [(model, board, f.port, schedule, sram_budget, kernels, elf) for f in mine]
    runs = map_tasks(_bench_one, jobs, workers=len(jobs), address=address)
    key = "cycles" if all(f.port for f in mine) else "instructions"
    vals = [int(r.get(key) or 0) for r in runs]
    rows = [{"entry": i, "port": f.port, key: v, "est_cycles": r.get("est_cycles"), "ms": r.get("ms"),
             "clock_hz": r.get("clock_hz")} for i, (f, r, v) in enumerate(zip(mine, runs, vals))]
    data = {"model": runs[0].get("model"), "board": board, "schedule": schedule, "kernels": kernels,
            "farm_boards": len(mine), "metric": key, "boards": rows,
            f"{key}_min": min(vals), f"{key}_median": statistics.median(vals), f"{key}_max": max(vals),
            "identical": len(set(vals)) == 1, key: min(vals), "est_cycles": min(int(r.get("est_cycles") or 0) for r in runs),
            "macs": runs[0].get("macs"), "layers": runs[0].get("layers", [])}
    lines = [f"{data['model']} on {len(mine)} x {board} (farm): {key} min {min(vals):,}, median "
             f"{statistics.median(vals):,.0f}, max {max(vals):,}" + (" (identical on every board)" if data["identical"] else "")]
    lines += [f"  #{r['entry']} {r['port'] or 'QEMU'}: {r[key]:,}" for r in rows]
    return data, "\n".join(lines)


def _train_one(pr: Any, job: tuple[str | None, int, str | None]) -> dict[str, Any]:
    """One farm board's training run of a prepared run (a Ray task): the board half only."""
    import hashlib
    from tiny.train.run import train_on_board
    port, every, elf = job
    br = train_on_board(pr, port=port, checkpoint_every=every, log=lambda m: None,
                        elf=Path(elf) if elf and not port else None)
    h = hashlib.sha256(b"".join(br.checkpoint.params)).hexdigest()
    return {"run": br, "weights_sha256": h}


def train_on_farm(farm: list[FarmBoard], board: str, prepare_args: dict[str, Any], *,
                  address: str | None = None, count_steps: int = 2, float_reference: bool = True,
                  checkpoint_every: int = 100,
                  out: Path | None = None, log: Callable[[str], None] = print,
                  progress: Callable[[int, int], None] | None = None) -> Any:
    """`tiny train` on every farm entry of `board` at once: the same prepared run (data order, rates,
    stochastic-rounding seeds) on each board, which must end with the same weights bit for bit: a
    board that does not has a fault. The result is a single run's (the first board's checkpoint is
    written back), with `farm`: per board accuracy, resumes and a digest of the final weights."""
    import hashlib
    import time
    from tiny.sweep.engine import shared_runner
    from tiny.train.run import finish, prepare
    mine = entries(farm, board)
    t0 = time.time()
    pr = prepare(board=board, out=out, log=log, **prepare_args)
    elf = build_once(pr.tc, board, mine, "train on")
    runs = shared_runner(_train_one, workers=len(mine), address=address, progress=progress)(
        pr, [(f.port, checkpoint_every, elf) for f in mine])
    res = finish(pr, runs[0]["run"], count_steps=count_steps, kernels=prepare_args.get("kernels", "opt"),
                 float_reference=float_reference, early_stop=prepare_args.get("early_stop", True), out=out,
                 log=log, t0=t0)
    rows = [{"entry": i, "port": f.port, "accuracy_before": r["run"].acc_before,
             "accuracy_after": r["run"].acc_after, "kept_step": r["run"].kept, "resumes": r["run"].resumes,
             "watchdog_resets": len(r["run"].watchdog_resets), "weights_sha256": r["weights_sha256"],
             "wall_s": r["run"].wall_s} for i, (f, r) in enumerate(zip(mine, runs))]
    digests = {r["weights_sha256"] for r in rows}
    res.data["farm"] = {"farm_boards": len(mine), "boards": rows, "identical": len(digests) == 1,
                        "differing_entries": [r["entry"] for r in rows if r["weights_sha256"] != rows[0]["weights_sha256"]]}
    if len(digests) != 1:
        log(f"the farm's boards ended with different weights: entries "
            f"{res.data['farm']['differing_entries']} differ from entry 0 (same firmware, same run: a board fault)")
    res.data["weights_sha256"] = hashlib.sha256(b"".join(res.checkpoint.params)).hexdigest()
    return res
