"""Learning by default: per-recipe optimiser settings, the learning-rate schedule, the sample order
and the held-out split used for early stopping.

The schedule is the 256KB paper's: a linear warm-up over the first steps, then cosine decay to zero.
The host computes every step's rate (float64 -> float32) and sends it with the step, so the board,
the oracle and the float twins all use the same numbers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tiny.ir import TinyError


@dataclass(frozen=True)
class RecipeDefaults:
    lr: float
    momentum: float
    epochs: int
    headroom: float = 1.0       # weight headroom of the classifier when it trains (tiny/train/headroom.py)
    body_headroom: float | None = None   # ... of the trained layers below it (None: the same)
    shadow: bool | None = False  # weight shadow: 1/256-quantum fractions of the trained weights (None:
                                 # when the training fits the budget with it)


# Chosen on digits-transfer and the other built-in transfer tasks (docs/training.md, "Defaults"):
# each learns on all of them at these settings.
DEFAULTS = {
    # the head's weights grow 2-3x past their post-training range: 4x headroom, and a weight shadow
    # against the stochastic-rounding noise of its many small steps (docs/training.md)
    "head": RecipeDefaults(lr=0.01, momentum=0.9, epochs=3, headroom=4.0, shadow=True),
    "bias": RecipeDefaults(lr=0.02, momentum=0.9, epochs=3),
    # sparse is the memory-lean recipe (256KB paper): plain SGD keeps no momentum buffers, and the
    # weight shadow only when the scheme searched under the budget still fits with it (3 tasks x 3
    # orders: 0.9 points closer to the float twin on average, docs/training.md). 4x weight headroom;
    # 0.05, not 0.2: at 0.2 held-out accuracy swings by 20-40 points on patches-transfer and the int8
    # run trails its float twin by 2-8 points (docs/training.md)
    # The layers below the classifier get 2x: the searched schemes train channels of early layers,
    # where 4x costs precision (3 data orders x 3 tasks, docs/training.md).
    "sparse": RecipeDefaults(lr=0.05, momentum=0.0, epochs=3, headroom=4.0, body_headroom=2.0, shadow=None),
    "full": RecipeDefaults(lr=0.005, momentum=0.9, epochs=3),
    # a weight shadow: without it the int8 weights random-walk under stochastic rounding once the
    # cosine rate is small, and the held-out curve falls back after its peak (docs/training.md)
    "mobiletl": RecipeDefaults(lr=0.01, momentum=0.9, epochs=3, shadow=True),
}
VAL_FRACTION = 0.15
LEARNED_MIN = 0.02   # a run that ends less than 2 points above its start and chance did not learn


def chance(y: np.ndarray, y_train: np.ndarray, n_classes: int) -> float:
    """The accuracy on labels y that takes no learning: 1 / classes, or always answering the training
    data's most frequent class when the classes are unbalanced (a binary task with 80 % negatives:
    about 80 %)."""
    y, y_train = np.asarray(y).reshape(-1), np.asarray(y_train).reshape(-1).astype(np.int64)
    if not len(y) or not len(y_train):
        return 1.0 / max(1, n_classes)
    return max(1.0 / max(1, n_classes), float(np.mean(y == np.bincount(y_train).argmax())))
WARMUP_FRACTION = 0.05


def lr_at(step: int, total: int, base: float, warmup: int | None = None) -> float:
    """Linear warm-up over `warmup` steps, then cosine decay to 0 at `total` (as float32)."""
    w = max(1, int(round(WARMUP_FRACTION * total))) if warmup is None else warmup
    if step < w:
        f = (step + 1) / w
    else:
        f = 0.5 * (1.0 + math.cos(math.pi * (step - w) / max(1, total - w)))
    return float(np.float32(base * f))


def lrs(total: int, base: float, schedule: str = "cosine") -> list[float]:
    if schedule == "constant":
        return [float(np.float32(base))] * total
    if schedule != "cosine":
        raise TinyError(f"lr schedule {schedule!r}: cosine or constant")
    return [lr_at(i, total, base) for i in range(total)]


def sample_index(step: int, n: int, seed: int = 0) -> int:
    """The sample of step `step`: epoch = step // n, a seeded permutation per epoch."""
    epoch, i = divmod(step, n)
    return int(np.random.default_rng(seed + epoch).permutation(n)[i])


def order(total: int, n: int, seed: int = 0) -> list[int]:
    perms: dict[int, np.ndarray] = {}
    out = []
    for s in range(total):
        e, i = divmod(s, n)
        if e not in perms:
            perms[e] = np.random.default_rng(seed + e).permutation(n)
        out.append(int(perms[e][i]))
    return out


def split_validation(x: np.ndarray, y: np.ndarray, fraction: float = VAL_FRACTION, seed: int = 7,
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_val, y_val): a stratified-by-shuffle held-out split of the training data
    for early stopping (at least one sample each side when there are two or more)."""
    n = len(x)
    nv = int(round(fraction * n)) if n >= 2 else 0
    nv = min(max(nv, 1 if n >= 2 else 0), n - 1 if n >= 2 else 0)
    p = np.random.default_rng(seed).permutation(n)
    return x[p[nv:]], y[p[nv:]], x[p[:nv]], y[p[:nv]]


def eval_points(total: int, n_train: int, per_epoch: int = 2) -> list[int]:
    """Steps after which the held-out split is evaluated: `per_epoch` times per epoch and at the end."""
    every = max(1, n_train // per_epoch)
    pts = list(range(every, total + 1, every))
    if not pts or pts[-1] != total:
        pts.append(total)
    return pts
