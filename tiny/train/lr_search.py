"""Runs of the bit-exact training oracle on the host, and `--lr auto`: a short learning-rate search
with it. The oracle computes exactly what the board computes (tests/train/test_device_vs_oracle.py),
so the board then repeats the chosen run step for step."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from tiny.reference.train import TrainOracle
from tiny.train import schedule as sch


@dataclass
class OracleRun:
    accuracy: float                     # held-out accuracy of the kept (best) weights
    best_step: int
    curve: list[tuple[int, float]]


def _acc(o: TrainOracle, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean([o.predict(x[i:i + 1]) == y[i] for i in range(len(x))])) if len(x) else 0.0


def oracle_run(plan: Any, lr: float, momentum: float, qas: bool, rounding: str, x: np.ndarray, y: np.ndarray,
               xv: np.ndarray, yv: np.ndarray, total: int, eval_at: list[int], schedule: str = "cosine",
               seed: int = 0) -> OracleRun:
    o = TrainOracle(plan, lr=lr, momentum=momentum, qas=qas, rounding=rounding)
    rates = sch.lrs(total, lr, schedule)
    at = set(eval_at)
    curve: list[tuple[int, float]] = []
    best, best_step = -1.0, 0
    for s in range(total):
        i = sch.sample_index(s, len(x), seed)
        o.step(x[i:i + 1], int(y[i]), lr=rates[s])
        if s + 1 in at:
            a = _acc(o, xv, yv)
            curve.append((s + 1, a))
            if a > best:
                best, best_step = a, s + 1
    return OracleRun(accuracy=best, best_step=best_step, curve=curve)


def _lr_trial(shared: tuple[Any, ...], lr: float) -> float:
    """One candidate rate's short oracle run (an independent task: tiny.sweep.engine)."""
    plan, momentum, qas, rounding, x, y, xv, yv, total, seed = shared
    return oracle_run(plan, lr, momentum, qas, rounding, x, y, xv, yv, total,
                      sch.eval_points(total, total, 1), seed=seed).accuracy


def search_lr(plan: Any, base: float, momentum: float, qas: bool, rounding: str, x: np.ndarray, y: np.ndarray,
              xv: np.ndarray, yv: np.ndarray, epochs: float = 1.0, factors: tuple[float, ...] = (0.25, 1.0, 4.0),
              max_steps: int = 600, log: Callable[[str], None] = print,
              runner: Callable[[Any, list[float]], list[float]] | None = None, seed: int = 0,
              ) -> tuple[float, list[tuple[float, float]]]:
    """The rate among base * factors whose short oracle run (min(epochs * n, max_steps) steps, the same
    warm-up + cosine shape) scores best on the held-out split; ties go to the smaller rate.
    `runner(shared, rates)` runs the candidates (default: one after the other; tiny train --workers:
    as Ray tasks) — each is independent and deterministic, so the answer does not depend on it."""
    total = max(1, min(int(epochs * len(x)), max_steps))
    rates = [float(np.float32(base * f)) for f in sorted(factors)]
    shared = (plan, momentum, qas, rounding, x, y, xv, yv, total, seed)
    accs = runner(shared, rates) if runner is not None else [_lr_trial(shared, lr) for lr in rates]
    tried = list(zip(rates, accs))
    for lr, a in tried:
        log(f"--lr auto: lr {lr:g}: held-out accuracy {a:.3f} after {total} oracle steps")
    best = max(tried, key=lambda t: (t[1], -t[0]))
    return best[0], tried
