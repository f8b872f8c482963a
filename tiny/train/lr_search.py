"""Runs of the bit-exact training oracle on the host: `--lr auto` (a short learning-rate search) and
the check of a default rate (a probe of the run's first steps, backing off when it does not learn).
The oracle computes exactly what the board computes (tests/train/test_device_vs_oracle.py), so the
board then repeats the chosen run step for step."""
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
               seed: int = 0, steps: int | None = None) -> OracleRun:
    """`total` steps of the schedule (or its first `steps`), held-out accuracy after each of `eval_at`."""
    o = TrainOracle(plan, lr=lr, momentum=momentum, qas=qas, rounding=rounding)
    rates = sch.lrs(total, lr, schedule)
    at = set(eval_at)
    curve: list[tuple[int, float]] = []
    best, best_step = -1.0, 0
    for s in range(total if steps is None else min(steps, total)):
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


PROBE_STEPS = 600            # the default rate's probe: the run's first steps (warm-up and the peak rate)
PROBE_MIN_STEPS = 200        # shorter runs are not checked: too few steps to tell a rate that diverges
BACKOFF = (0.25, 0.0625)     # the rates tried, in turn, when the default does not learn in its probe


def _probe(shared: tuple[Any, ...], lr: float) -> float:
    """Held-out accuracy after the first `k` steps of the run's own schedule at rate `lr`."""
    plan, momentum, qas, rounding, x, y, xv, yv, total, k, schedule, seed = shared
    return oracle_run(plan, lr, momentum, qas, rounding, x, y, xv, yv, total, [k], schedule, seed, steps=k).curve[-1][1]


def check_default_lr(plan: Any, lr: float, momentum: float, qas: bool, rounding: str, x: np.ndarray, y: np.ndarray,
                     xv: np.ndarray, yv: np.ndarray, total: int, chance: float, schedule: str = "cosine",
                     seed: int = 0, log: Callable[[str], None] = print, what: str = "the default rate",
                     ) -> tuple[float, dict[str, Any]]:
    """A recipe's default rate, checked: the run's first min(total, PROBE_STEPS) steps on the oracle.
    A rate learns when held-out accuracy ends at least sch.LEARNED_MIN above both its start and
    chance. One that does not is replaced by the first of lr * BACKOFF that learns (else the best of
    them, if it beats the default by LEARNED_MIN): at one sample per step with momentum, a default
    that suits most models diverges on some (tests/models.py::se_cnn, full: 0.005 -> 7.6 %)."""
    k = max(1, min(total, PROBE_STEPS))
    start = _acc(TrainOracle(plan, lr=lr, momentum=momentum, qas=qas, rounding=rounding), xv, yv)
    shared = (plan, momentum, qas, rounding, x, y, xv, yv, total, k, schedule, seed)
    floor = max(start, chance) + sch.LEARNED_MIN
    tried = [(lr, _probe(shared, lr))]
    if tried[0][1] < floor:
        for f in BACKOFF:
            r = float(np.float32(lr * f))
            tried.append((r, _probe(shared, r)))
            if tried[-1][1] >= floor:
                break
        best = max(tried[1:], key=lambda t: (t[1], t[0]))
        chosen = best[0] if best[1] >= tried[0][1] + sch.LEARNED_MIN else lr
        log(f"lr {lr:g} ({what}) did not learn in a {k}-step probe on the host oracle (held-out accuracy "
            f"{start:.1%} -> {tried[0][1]:.1%}); "
            + ", ".join(f"lr {a:g}: {b:.1%}" for a, b in tried[1:])
            + (f": training at lr {chosen:g}" if chosen != lr else f": none learns better, lr {lr:g} stays")
            + " (--lr sets a rate, --lr auto searches one)")
    else:
        chosen = lr
        log(f"lr {lr:g} ({what}) learns in a {k}-step probe on the host oracle (held-out accuracy "
            f"{start:.1%} -> {tried[0][1]:.1%})")
    return chosen, {"default_lr": lr, "probe_steps": k, "start_heldout_accuracy": round(start, 4),
                    "tried": [{"lr": a, "heldout_accuracy": round(b, 4)} for a, b in tried], "lr": chosen}
