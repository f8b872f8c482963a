"""The steps behind the commands: compile a model for a board into a project, open a session."""
from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path
from typing import Any

from tiny.compile import compile_model
from tiny.emit.model import Compiled
from tiny.ir import Graph
from tiny.target import Target


def cache_dir() -> Path:
    d = Path(os.environ.get("TINY_CACHE", Path.home() / ".cache" / "tiny"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def compile_for(g: Graph, board: str, schedule: str = "layer", sram_budget: int | None = None,
                kernels: str = "opt") -> Compiled:
    """Compile the graph for `board` with the schedule the user asked for (tiny/compile.py);
    kernels "opt": optimized variants on boards with the DSP extension."""
    return compile_model(g, Target(board=board, kernels=kernels, schedule=schedule, sram_budget=sram_budget))


def write_project(c: Compiled, board: str, out: Path) -> Path:
    """Write the generated model and, for real/emulated boards, a PlatformIO project around it."""
    out.mkdir(parents=True, exist_ok=True)
    from tiny.boards import get_board
    b = get_board(board)
    if b.name == "host":
        src = out / "src"
        src.mkdir(exist_ok=True)
        for name, text in c.files.items():
            _write_if_changed(src / name, text)
        return out
    from tiny.build.project import write_project as pio_project
    return pio_project(out, c.files, [b], c.summary())


def _write_if_changed(p: Path, text: str) -> None:
    if not p.exists() or p.read_text() != text:
        p.write_text(text)


@functools.lru_cache(maxsize=1)
def runtime_digest() -> str:
    """Content hash of the C runtime the projects copy: two source trees (or an edited runtime)
    never share a cached project, whose build would otherwise mix their files."""
    from tiny import paths  # noqa: PLC0415
    h = hashlib.sha256()
    root = Path(paths.FIRMWARE)
    for f in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".c", ".h", ".S", ".s", ".ld")):
        h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def project_dir_for(c: Compiled, board: str) -> Path:
    tag = f"{c.hash}:{board}:{runtime_digest()}"
    wd = os.environ.get("TINY_WATCHDOG_MS", "").strip()
    if wd:   # a watchdog timeout other than the board's: another firmware, another project
        tag += f":wd{wd}"
    key = hashlib.sha256(tag.encode()).hexdigest()[:16]
    return cache_dir() / "projects" / f"{c.graph.name[:40]}-{board}-{key}"


# Inputs at least this large go to emulated boards through preloaded RAM, not the ~26 KiB/s UART.
PRELOAD_MIN_BYTES = 2048


def open_session(c: Compiled, board: str, project: Path | None = None, timeout: float = 30.0,
                 samples: list[list[Any]] | None = None, port: str | None = None,
                 elf: Path | None = None) -> Any:
    """Build the firmware for `board` and return a connected, model-checked Session.

    `samples` (lists of input arrays) known in advance are preloaded into the RAM of an emulated
    board; the session then loads them with LOAD_INPUT, transparently to its callers.
    `port` (or tiny.device.connect.using_port): reach a board already running the firmware there
    (a flashed real board, or QEMU behind socket://) instead of starting one; nothing is preloaded.
    `elf`: firmware built beforehand (a farm builds once for all its boards); the project is then
    neither rewritten nor rebuilt, nor is it for a board reached at `port`, which runs its own."""
    import numpy as np
    from tiny.boards import get_board
    from tiny.device.connect import current_port, open_session as connect
    b = get_board(board)
    port = port or current_port()
    project = project or project_dir_for(c, board)
    if elf is None and not (port and not b.is_host):
        write_project(c, board, project)
    preload, table = None, {}
    if samples and b.emulated and getattr(b, "preload_bytes", 0) and not port:
        blob = bytearray()
        for xs in samples:
            for x in xs:
                data = np.ascontiguousarray(x).tobytes()
                if len(data) >= PRELOAD_MIN_BYTES and data not in table and len(blob) + len(data) <= b.preload_bytes:
                    table[data] = len(blob)
                    blob += data
        if table:
            f = project / ".preload.bin"
            f.write_bytes(bytes(blob))
            preload = [(f, b.preload_origin)]
    s = connect(b, project, timeout=timeout, preload=preload, port=port, elf=elf)
    s.preloaded = table
    try:
        s.check_model(c.hash)
    except Exception:
        s.close()
        raise
    return s
