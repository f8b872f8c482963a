"""Host vs device vs oracle: run samples through TFLM, the numpy reference and a board.

On a mismatch the device is bisected layer by layer (INVOKE up to op k, READ_TENSOR of its
output) to name the first op whose output differs from TFLM's."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tiny import interpreter, oracle
from tiny.ir import Graph, TinyError
from tiny.analysis import np_dtype


def random_inputs(g: Graph, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    xs = []
    for tid in g.inputs:
        t = g.tensors[tid]
        dt = np_dtype(t.dtype)
        if np.issubdtype(dt, np.integer):
            info = np.iinfo(dt)
            xs.append(rng.integers(info.min, info.max, size=t.shape, endpoint=True, dtype=dt))
        else:
            xs.append(rng.uniform(-1, 1, size=t.shape).astype(dt))
    return xs


@dataclass
class Diff:
    max_abs_diff: int = 0
    mismatched: int = 0

    def add(self, a: np.ndarray, b: np.ndarray) -> None:
        d = np.abs(a.astype(np.int64) - b.astype(np.int64)) if a.dtype != np.float32 else np.abs(a - b)
        self.max_abs_diff = max(self.max_abs_diff, int(np.max(d)) if d.size else 0)
        self.mismatched += int(np.count_nonzero(d))


@dataclass
class Result:
    board: str
    model: str
    samples: int = 0
    device: Diff = field(default_factory=Diff)
    reference: Diff = field(default_factory=Diff)
    first_mismatch: dict[str, Any] | None = None
    reference_first_mismatch: dict[str, Any] | None = None
    oracle_error: str | None = None     # TFLM failed: the device was checked against the reference alone

    @property
    def bit_exact(self) -> bool:
        return self.device.mismatched == 0 and self.reference.mismatched == 0

    def as_json(self) -> dict[str, Any]:
        return {"bit_exact": self.bit_exact, "samples": self.samples, "board": self.board, "model": self.model,
                "max_abs_diff": max(self.device.max_abs_diff, self.reference.max_abs_diff),
                "mismatched_elements": self.device.mismatched + self.reference.mismatched,
                "device": {"max_abs_diff": self.device.max_abs_diff, "mismatched_elements": self.device.mismatched},
                "reference": {"max_abs_diff": self.reference.max_abs_diff,
                              "mismatched_elements": self.reference.mismatched},
                "first_mismatch": self.first_mismatch or self.reference_first_mismatch,
                "oracle": "tflm" if self.oracle_error is None else "reference-only",
                **({"oracle_error": self.oracle_error} if self.oracle_error else {})}


def _where(g: Graph, op_index: int, source: str, tid: int | None = None) -> dict[str, Any]:
    op = g.ops[op_index]
    t = g.tensors[op.outputs[0] if tid is None else tid]
    return {"layer": op_index, "op": op.type, "tensor": t.name, "tensor_id": t.id, "source": source}


def bisect_device(g: Graph, session: Any, xs: list[np.ndarray], expected: dict[int, np.ndarray],
                  readable: list[int] | None = None) -> int | None:
    """Index of the first op whose device output differs from `expected`.

    The arena reuses the input's memory, so the inputs are written again before every run.
    `readable`: ops whose outputs the device can return (inside a patch stage only the stage
    output exists as a whole tensor), in order; the answer is one of them."""
    ops = readable if readable else list(range(len(g.ops)))
    stateful = bool(g.variables())

    def bad(k: int) -> bool:
        if stateful:    # every probe starts from the reset state, as the expected values did
            session.reset_state()
        for i, x in enumerate(xs):
            session.write_input(i, x)
        session.invoke(stop_after=k)
        for tid in g.ops[k].outputs:     # every output of a multi-output op (SPLIT)
            t = g.tensors[tid]
            got = np.frombuffer(session.read_tensor(tid, t.nbytes), dtype=np_dtype(t.dtype)).reshape(t.shape)
            if not np.array_equal(got, expected[tid]):
                return True
        return False
    lo, hi = 0, len(ops) - 1
    if not bad(ops[hi]):
        return None
    while lo < hi:  # invariant: ops[hi] is bad; every op before ops[lo] is good
        mid = (lo + hi) // 2
        if bad(ops[mid]):
            hi = mid
        else:
            lo = mid + 1
    return ops[hi]


def validate(g: Graph, session: Any | None, board: str, samples: int, inputs: list[list[np.ndarray]] | None = None,
             progress: Callable[[int], None] | None = None, readable: list[int] | None = None) -> Result:
    """Compare TFLM (every tensor) with the reference, and TFLM's outputs with the device."""
    res = Result(board=board, model=g.name)
    params = interpreter.prepare_all(g)
    sets = inputs or [random_inputs(g, seed) for seed in range(samples)]
    for i, xs in enumerate(sets):
        ref = interpreter.run_graph(g, xs, params)
        want = ref
        if res.oracle_error is None:
            try:
                want = oracle.run_all(g, xs)
            except oracle.OracleError as e:  # go on: the device against the numpy reference alone
                res.oracle_error = str(e)
        for op in g.ops:
            for tid in op.outputs:
                if not np.array_equal(ref[tid], want[tid]):
                    res.reference.add(ref[tid], want[tid])
                    if res.reference_first_mismatch is None:
                        res.reference_first_mismatch = _where(g, op.index, "reference", tid)
        if session is not None:
            if g.variables():   # each sample from the reset state, as TFLM and the reference ran it
                session.reset_state()
            outs = session.run(xs)
            for tid, raw in zip(g.outputs, outs):
                t = g.tensors[tid]
                got = np.frombuffer(raw, dtype=np_dtype(t.dtype)).reshape(t.shape)
                if not np.array_equal(got, want[tid]):
                    res.device.add(got, want[tid])
                    if res.first_mismatch is None:
                        k = bisect_device(g, session, xs, want, readable)
                        res.first_mismatch = _where(g, k if k is not None else len(g.ops) - 1, "device")
        res.samples += 1
        if progress:
            progress(i + 1)
    return res


def check_io_shapes(g: Graph, xs: list[np.ndarray]) -> None:
    for tid, x in zip(g.inputs, xs):
        t = g.tensors[tid]
        if tuple(x.shape) != tuple(t.shape) or x.dtype != np_dtype(t.dtype):
            raise TinyError(f"input '{t.name}': expected {t.dtype} {t.shape}, got {x.dtype} {tuple(x.shape)}")
