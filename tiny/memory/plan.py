"""Tensor lifetimes, arena offset assignment and an overlap verifier.

A buffer is live over an inclusive range of schedule steps [first, last]. Graph inputs are
live from step 0 and outputs to the last step, so the input image always counts in the peak.
Offsets come from a best-fit placement in decreasing-size order (TFLM's greedy planner does the
same); the lower bound on any plan is the largest sum of live bytes at one step."""
from __future__ import annotations

from dataclasses import dataclass, field

from tiny.ir import Graph, TinyError

ALIGN = 16


def _align(n: int, a: int = ALIGN) -> int:
    return (n + a - 1) // a * a


@dataclass
class Buffer:
    key: str                 # "t<id>" for tensors, "s<op>" for op scratch
    nbytes: int
    first: int
    last: int
    offset: int = -1
    tensor: int | None = None

    def overlaps_in_time(self, other: "Buffer") -> bool:
        return not (self.last < other.first or other.last < self.first)


@dataclass
class Plan:
    buffers: list[Buffer]
    arena_bytes: int
    lower_bound: int
    steps: int
    step_live_bytes: list[int] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)   # key -> key of the buffer it shares

    def offset(self, key: str) -> int:
        key = self.aliases.get(key, key)
        for b in self.buffers:
            if b.key == key:
                return b.offset
        raise KeyError(key)

    def by_key(self) -> dict[str, Buffer]:
        out = {b.key: b for b in self.buffers}
        for k, v in self.aliases.items():
            out[k] = out[v]
        return out

    def offsets(self) -> dict[str, int]:
        return {k: b.offset for k, b in self.by_key().items()}

    @property
    def efficiency(self) -> float:
        """lower bound / arena: 1.0 means no plan can be smaller."""
        return self.lower_bound / self.arena_bytes if self.arena_bytes else 1.0


def free_gap(plan: Plan, step: int, nbytes: int, keep: frozenset[str] = frozenset()) -> int:
    """The lowest aligned arena offset where `nbytes` overlap no buffer live at the end of `step`
    (first fit between them; at or past plan.arena_bytes when no gap is large enough: the arena then
    grows). Buffers whose life ends at `step` (its inputs' last use, its scratch) count as free
    unless named in `keep` (its outputs), except at the last step (graph outputs end there)."""
    last_step = step >= plan.steps - 1
    busy = sorted((b.offset, b.offset + b.nbytes) for b in plan.buffers if b.first <= step <= b.last
                  and (b.last > step or b.key in keep or last_step))
    cand = 0
    for lo, hi in busy:
        if cand + nbytes <= lo:
            break
        cand = max(cand, _align(hi))
    return cand


def lifetimes(g: Graph, scratch: list[int] | None = None) -> list[Buffer]:
    """One buffer per activation tensor (and per op scratch), with its live step range."""
    n = len(g.ops)
    first: dict[int, int] = {t: 0 for t in g.inputs}
    last: dict[int, int] = {}
    for i, op in enumerate(g.ops):
        for t in op.outputs:
            first.setdefault(t, i)
            last[t] = max(last.get(t, i), i)
        for t in op.inputs:
            if t >= 0 and not g.tensors[t].is_const:
                last[t] = max(last.get(t, i), i)
    for t in g.outputs:
        last[t] = max(n - 1, 0)
    for t in g.variables():     # state outlives the invocation: no other buffer may ever share it
        first[t], last[t] = 0, max(n - 1, 0)
    for t in g.inputs:
        last.setdefault(t, 0)
    bufs = [Buffer(key=f"t{t}", nbytes=_align(g.tensors[t].nbytes), first=first[t], last=last[t], tensor=t)
            for t in g.activations()]
    for i, s in enumerate(scratch or []):
        if s > 0:
            bufs.append(Buffer(key=f"s{i}", nbytes=_align(s), first=i, last=i))
    return bufs


def live_bytes(bufs: list[Buffer], steps: int) -> list[int]:
    out = [0] * max(steps, 1)
    for b in bufs:
        for s in range(b.first, b.last + 1):
            out[s] += b.nbytes
    return out


def merge_aliases(bufs: list[Buffer], aliases: dict[str, str]) -> tuple[list[Buffer], dict[str, str]]:
    """Fold each aliased buffer (e.g. an in-place op's output) into the buffer it reuses."""
    by = {b.key: b for b in bufs}
    resolved: dict[str, str] = {}
    for k, v in aliases.items():
        while v in aliases:
            v = aliases[v]
        resolved[k] = v
    for k, v in resolved.items():
        a, b = by.pop(k), by[v]
        b.first, b.last, b.nbytes = min(a.first, b.first), max(a.last, b.last), max(a.nbytes, b.nbytes)
    return list(by.values()), resolved


_ORDERS = {
    # TFLM's greedy order: biggest first.
    "size": lambda b: (-b.nbytes, -(b.last - b.first), b.first),
    # Long-lived buffers first: they constrain every step they span.
    "area": lambda b: (-b.nbytes * (b.last - b.first + 1), -b.nbytes, b.first),
    # In schedule order: what is allocated first sits low, like a stack.
    "start": lambda b: (b.first, -b.nbytes),
}
# Orders also tried with first-fit (lowest offset that fits) instead of best-fit: TFLM's greedy
# planner is first-fit by size, and neither fit rule always beats the other.
_FIRST_FIT = ("size",)


def assign(bufs: list[Buffer], steps: int, aliases: dict[str, str] | None = None,
           orders: tuple[str, ...] = tuple(_ORDERS), first_fit: bool = True) -> Plan:
    """Best-fit placement under several orderings, and first-fit for the size order; the smallest
    arena wins (never worse than TFLM's greedy first-fit by size, which is one of them).
    first_fit=False: best-fit only (the schedule search's quick ranking)."""
    best: tuple[int, dict[str, int]] | None = None
    tries = [(o, False) for o in orders] + [(o, True) for o in orders if first_fit and o in _FIRST_FIT]
    for name, first_fit in tries:
        offs = _place(bufs, _ORDERS[name], first_fit)
        arena = max((offs[b.key] + b.nbytes for b in bufs), default=0)
        if best is None or arena < best[0]:
            best = (arena, offs)
    for b in bufs:
        b.offset = best[1][b.key] if best else 0
    live = live_bytes(bufs, steps)
    arena = max((b.offset + b.nbytes for b in bufs), default=0)
    plan = Plan(buffers=bufs, arena_bytes=arena, lower_bound=max(live, default=0), steps=steps,
                step_live_bytes=live, aliases=dict(aliases or {}))
    verify(plan)
    return plan


def _place(bufs: list[Buffer], order, first_fit: bool = False) -> dict[str, int]:
    """Each buffer, in `order`, into the smallest gap that fits among those placed and live with it
    (first_fit: the lowest gap that fits)."""
    placed: list[tuple[Buffer, int]] = []
    offs: dict[str, int] = {}
    for b in sorted(bufs, key=order):
        busy = sorted((o, o + p.nbytes) for p, o in placed if p.overlaps_in_time(b))
        best, best_gap, cursor = None, None, 0
        for lo, hi in busy:
            gap = lo - cursor
            if gap >= b.nbytes and (best_gap is None or gap < best_gap):
                best, best_gap = cursor, gap
                if first_fit:
                    break
            cursor = max(cursor, hi)
        offs[b.key] = best if best is not None else cursor
        placed.append((b, offs[b.key]))
    return offs


def plan_graph(g: Graph, scratch: list[int] | None = None, aliases: dict[int, int] | None = None) -> Plan:
    """Plan a layer-by-layer schedule; `aliases` maps an in-place op's output to the input it overwrites."""
    bufs = lifetimes(g, scratch)
    keyed = {f"t{o}": f"t{i}" for o, i in (aliases or {}).items()}
    bufs, resolved = merge_aliases(bufs, keyed)
    return assign(bufs, len(g.ops), resolved)


def verify(plan: Plan) -> None:
    """Prove no two buffers that are live at the same step share a byte of the arena."""
    bufs = plan.buffers
    for b in bufs:
        if b.offset < 0 or b.offset % ALIGN:
            raise TinyError(f"memory plan: buffer {b.key} has bad offset {b.offset}")
        if b.offset + b.nbytes > plan.arena_bytes:
            raise TinyError(f"memory plan: buffer {b.key} ends past the arena")
    order = sorted(bufs, key=lambda b: b.offset)
    for i, a in enumerate(order):
        for b in order[i + 1:]:
            if b.offset >= a.offset + a.nbytes:
                break
            if a.overlaps_in_time(b):
                raise TinyError(f"memory plan: {a.key} [{a.offset}, {a.offset + a.nbytes}) and {b.key} "
                                f"[{b.offset}, {b.offset + b.nbytes}) overlap while both are live")
