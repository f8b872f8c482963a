"""TensorFlow Lite Micro as the oracle: run a .tflite and dump every tensor, measure its arena.

TFLM runs in a child process (one worker, started on first use and reused across calls, so
`validate` pays the start-up once): a model that makes TFLM abort, crash or hang ends in an
OracleError ("TFLite Micro itself failed on this model: ...") instead of taking tiny down, and
the callers go on without the oracle where they can (report without tflm_arena_bytes, validate
against the numpy reference alone). The worker is started again on the next call.

Channel: length-prefixed pickles on a private copy of the child's stdout; the child's own fds 1
and 2 go to a log file, so whatever TFLM prints can neither corrupt the channel nor reach the
user, and its last lines explain a crash.

A model holding an op TFLite Micro has no int8 kernel for (an OpDef with tflm=False: GELU) runs
with that op replaced by a lookup of the table TFLite itself (LiteRT) computes for it
(tiny/oracle_tables.py); the same worker runs LiteRT for those tables. `name(g)` says how the
output calls the oracle.
"""
from __future__ import annotations

import atexit
import hashlib
import os
import pickle
import re
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from tiny.ir import Graph, TinyError

def _timeout() -> float:
    return float(os.environ.get("TINY_ORACLE_TIMEOUT", "300"))


class OracleError(TinyError):
    """TFLM failed (error, abort, crash or timeout) on this model; tiny itself is fine."""


def _runtime():
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError as e:  # pragma: no cover - depends on the install
        raise TinyError("the TFLite Micro oracle needs the 'tflite-micro' package (pip install tflite-micro)") from e
    return runtime


def available() -> bool:
    """True when the tflite-micro package is installed (the oracle is an optional extra)."""
    import importlib.util
    try:
        return importlib.util.find_spec("tflite_micro") is not None
    except (ImportError, ValueError):
        return False


# ------------------------------------------------------------------ public API (parent side)

def name(g: Graph) -> str:
    """The oracle as the output names it."""
    from tiny.oracle_tables import table_ops
    kinds = sorted({g.ops[k].type for k in table_ops(g)})
    k = ", ".join(kinds)
    return f"TFLite Micro, with TFLite's own {k} (TFLM has no int8 {k})" if kinds else "TFLite Micro"


def run_all(g: Graph, inputs: list[np.ndarray]) -> dict[int, np.ndarray]:
    """Invoke TFLM on `inputs`; return {tensor id: value} for every non-constant tensor."""
    return _call(g, "run_all", [np.ascontiguousarray(x) for x in inputs],
                 [(tid, g.tensors[tid].shape) for tid in g.activations()])


def run_sequence(g: Graph, steps: list[list[np.ndarray]], resets: set[int] | frozenset[int] = frozenset(),
                 ) -> list[dict[int, np.ndarray]]:
    """Invoke one TFLM interpreter on each input set in turn, so variable tensors (SVDF's state) carry
    from one invocation to the next, resetting it (Interpreter.reset) before the steps in `resets`;
    return {tensor id: value} of every non-constant tensor after each invocation."""
    return _call(g, "run_sequence", [[np.ascontiguousarray(x) for x in xs] for xs in steps],
                 (sorted(resets), [(tid, g.tensors[tid].shape) for tid in g.activations()]))


def run(g: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Invoke TFLM; return the graph outputs."""
    return _call(g, "run", [np.ascontiguousarray(x) for x in inputs], len(g.outputs))


def arena_bytes(g: Graph) -> int:
    """TFLM's own arena need for this model, as its recording allocator reports it."""
    zeros = [np.zeros(g.tensors[t].shape, dtype=np.dtype(g.tensors[t].dtype)) for t in g.inputs]
    return _call(g, "arena_bytes", zeros, None)


def prestart() -> None:
    """Start the worker now (its TFLM import then overlaps the caller's compile and build)."""
    if available():
        w = _worker()
        if w.proc is None or w.proc.poll() is not None:
            w.stop()
            w._start()


def _arena_guess(g: Graph) -> int:
    act = sum(g.tensors[t].nbytes for t in g.activations())
    return max(64 * 1024, act + len(g.meta["tflite"]) + 256 * 1024)


def _call(g: Graph, fn: str, inputs: list[np.ndarray], extra: Any) -> Any:
    if not available():
        _runtime()  # raises the install hint
    from tiny.oracle_tables import table_ops
    buf = g.meta["tflite"]
    key = g.meta.get("sha256") or hashlib.sha256(buf).hexdigest()
    if table_ops(g):     # ops TFLM has no kernel for: looked up in TFLite's own tables
        if fn == "arena_bytes":
            raise OracleError(f"TFLite Micro has no kernel for op(s) {', '.join(sorted({g.ops[k].type for k in table_ops(g)}))} "
                              "of this model: no TFLM arena figure")
        if "oracle_tflite" not in g.meta:
            from tiny.oracle_tables import substitute
            g.meta["oracle_tflite"] = substitute(buf, g, _litert_table)
        buf = g.meta["oracle_tflite"]
        key = hashlib.sha256(buf).hexdigest()
    return _worker().call(fn, key, buf, _arena_guess(g), inputs, ("tflm", extra))


def _litert_table(one_op: bytes, x: np.ndarray) -> np.ndarray:
    """A one-op model's output on x, computed by LiteRT (builtin kernels, no delegate)."""
    return _worker().call("run", hashlib.sha256(one_op).hexdigest(), one_op, 0, [x], ("litert", 1))[0]


class _Worker:
    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.log: Path | None = None
        self.known: set[str] = set()

    def _start(self) -> None:
        fd, log = tempfile.mkstemp(prefix="tiny-tflm-", suffix=".log")
        os.close(fd)
        self.log = Path(log)
        root = str(Path(__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
        self.proc = subprocess.Popen([sys.executable, "-c", "from tiny.oracle import _serve; _serve()", log],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env=env, start_new_session=True)
        self.known = set()

    def stop(self) -> None:
        p, self.proc = self.proc, None
        if p is not None:
            try:
                p.stdin.close()
                p.wait(timeout=2)
            except Exception:
                p.kill()
                p.wait()
        if self.log is not None:
            self.log.unlink(missing_ok=True)
            self.log = None

    def call(self, fn: str, key: str, buf: bytes, arena: int, inputs: list[np.ndarray], extra: Any) -> Any:
        if self.proc is None or self.proc.poll() is not None:
            self.stop()
            self._start()
        msg = (fn, key, None if key in self.known else bytes(buf), arena, inputs, extra)
        try:
            _send(self.proc.stdin, msg)
            status, value = _recv(self.proc.stdout, _timeout())
        except (BrokenPipeError, EOFError, TimeoutError, OSError) as e:
            why = self._death(e)
            self.stop()
            raise OracleError(f"{_WHO[extra[0]]} itself failed on this model: {why}") from None
        self.known.add(key)
        if status == "err":
            raise OracleError(f"{_WHO[extra[0]]} itself failed on this model: {value}")
        return value

    def _death(self, e: Exception) -> str:
        p = self.proc
        if isinstance(e, TimeoutError):
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            why = f"no answer within {_timeout():g} s (killed)"
        else:
            try:
                rc = p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                rc = p.wait()
            why = (f"it died of signal {signal.Signals(-rc).name}" if rc < 0 else f"it exited with status {rc}")
        tail = ""
        if self.log is not None and self.log.exists():
            lines = [ln.strip() for ln in self.log.read_text(errors="replace").splitlines() if ln.strip()]
            tail = "; ".join(lines[-2:])[:300]
        return why + (f" (its last words: {tail})" if tail else "")


_WHO = {"tflm": "TFLite Micro", "litert": "TFLite (LiteRT)"}
_WORKER: _Worker | None = None


def _worker() -> _Worker:
    global _WORKER
    if _WORKER is None:
        _WORKER = _Worker()
        atexit.register(_WORKER.stop)
    return _WORKER


def _send(f: Any, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    f.write(struct.pack("<Q", len(data)) + data)
    f.flush()


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    out = bytearray()
    while len(out) < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(n - len(out), 1 << 20))
        if not chunk:
            raise EOFError
        out += chunk
    return bytes(out)


def _recv(f: Any, timeout: float | None = None) -> Any:
    fd = f.fileno()
    deadline = None if timeout is None else time.monotonic() + timeout
    (n,) = struct.unpack("<Q", _read_exact(fd, 8, deadline))
    return pickle.loads(_read_exact(fd, n, deadline))


# ------------------------------------------------------------------ the worker (child side)

def _serve() -> None:
    """Child main loop: answer (fn, key, model bytes or None, arena, inputs, (engine, extra)) requests."""
    global _ENGINE
    chan_in = os.fdopen(os.dup(0), "rb", buffering=0)
    chan_out = os.fdopen(os.dup(1), "wb")
    log = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
    os.dup2(log, 1)
    os.dup2(log, 2)
    models: dict[str, bytes] = {}
    while True:
        try:
            fn, key, buf, arena, inputs, extra = _recv(chan_in)
        except EOFError:
            return
        if buf is not None:
            models[key] = buf
        eng, extra = extra
        fault = os.environ.get("TINY_ORACLE_FAULT")   # tests: make TFLM's process abort or hang
        if fault == "abort":
            print("tflm: fault injected, aborting", file=sys.stderr, flush=True)
            os.abort()
        if fault == "hang":
            time.sleep(3600)
        _ENGINE = eng
        try:
            value = ("ok", _CHILD[fn](models[key], arena, inputs, extra))
        except Exception as e:  # TFLM's Python errors (e.g. tensor allocation) go back as text
            value = ("err", f"{type(e).__name__}: {str(e).strip().splitlines()[-1][:300] if str(e).strip() else ''}")
        _send(chan_out, value)


class _LiteRT:
    """LiteRT's interpreter behind the calls the children make of TFLM's (builtin kernels only)."""

    def __init__(self, buf: bytes, preserve: bool) -> None:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
        self.it = Interpreter(model_content=buf, experimental_preserve_all_tensors=preserve,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        self.it.allocate_tensors()
        self.inputs = [d["index"] for d in self.it.get_input_details()]
        self.outputs = [d["index"] for d in self.it.get_output_details()]

    def set_input(self, x: np.ndarray, i: int) -> None:
        self.it.set_tensor(self.inputs[i], x)

    def invoke(self) -> None:
        self.it.invoke()

    def reset(self) -> None:
        self.it.reset_all_variables()

    def GetTensor(self, tid: int, subgraph: int = 0) -> np.ndarray:  # noqa: N802  (TFLM's name)
        return self.it.get_tensor(tid)

    def get_output(self, i: int) -> np.ndarray:
        return self.it.get_tensor(self.outputs[i])


def _interp(buf: bytes, arena: int, preserve: bool = False) -> Any:
    if _ENGINE == "litert":
        return _LiteRT(buf, preserve)
    rt = _runtime()
    if preserve:
        return rt.Interpreter.from_bytes(buf, arena_size=arena,
                                         intrepreter_config=rt.InterpreterConfig.kPreserveAllTensors)
    return rt.Interpreter.from_bytes(buf, arena_size=arena)


def _child_run_all(buf: bytes, arena: int, inputs: list[np.ndarray], tensors: list) -> dict[int, np.ndarray]:
    interp = _interp(buf, arena, preserve=True)
    for i, x in enumerate(inputs):
        interp.set_input(x, i)
    interp.invoke()
    return {tid: _tensor_value(interp.GetTensor(tid, 0), shape) for tid, shape in tensors}


def _child_run_sequence(buf: bytes, arena: int, steps: list[list[np.ndarray]], extra: tuple) -> list[dict]:
    resets, tensors = extra
    interp = _interp(buf, arena, preserve=True)
    out = []
    for k, xs in enumerate(steps):
        if k in resets:
            interp.reset()
        for i, x in enumerate(xs):
            interp.set_input(x, i)
        interp.invoke()
        out.append({tid: _tensor_value(interp.GetTensor(tid, 0), shape) for tid, shape in tensors})
    return out


def _child_run(buf: bytes, arena: int, inputs: list[np.ndarray], n_out: int) -> list[np.ndarray]:
    interp = _interp(buf, arena)
    for i, x in enumerate(inputs):
        interp.set_input(x, i)
    interp.invoke()
    return [np.array(interp.get_output(i)) for i in range(n_out)]


def _child_arena_bytes(buf: bytes, arena: int, inputs: list[np.ndarray], _: Any) -> int:
    """The recording allocator prints to the C stderr, so the file descriptor is captured."""
    interp = _interp(buf, arena)
    for i, x in enumerate(inputs):
        interp.set_input(x, i)
    interp.invoke()
    sys.stderr.flush()
    with tempfile.TemporaryFile(mode="w+b") as f:
        saved = os.dup(2)
        try:
            os.dup2(f.fileno(), 2)
            interp.print_allocations()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        f.seek(0)
        text = f.read().decode(errors="replace")
    m = re.search(r"\[RecordingMicroAllocator\] Arena allocation total (\d+) bytes", text)
    if not m:
        raise TinyError("could not read TFLM's arena size from print_allocations(): " + text[:200])
    return int(m.group(1))


_ENGINE = "tflm"    # the worker's engine for the request it answers ("tflm" or "litert")
_CHILD = {"run_all": _child_run_all, "run": _child_run, "run_sequence": _child_run_sequence, "arena_bytes": _child_arena_bytes}


def _tensor_value(v: object, shape: tuple[int, ...]) -> np.ndarray:
    """GetTensor returns a dict {dtype, shape, tensor_data} in recent TFLM builds, an array in older ones."""
    if isinstance(v, dict):
        arr = np.asarray(v["tensor_data"])
        return arr.astype(v.get("dtype", arr.dtype), copy=False).reshape(shape)
    return np.asarray(v).reshape(shape)
