"""Exact instruction counts per layer on QEMU, via the TCG plugin (firmware/tools/insn_count.c).

    def drive(s: Session) -> None:
        s.run([x])
    r = count_instructions(get_board("qemu-m4-256k"), elf, drive, n_ops=s_ops)
    r["layers"]         # [{"index": 0, "op": 0, "instructions": 1234}, ...] in call order
    r["total"]          # sum over layers (what the model costs; repeatable run to run)

Counts inside layers are deterministic; `program_instructions` (everything QEMU executed,
including the UART polling loops) depends on host timing and is informational only.
"""
from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable

from tiny.boards import Board
from tiny.device.session import Session
from tiny.ir import TinyError

MARKERS = ("tiny_layer_begin", "tiny_layer_end")
# Instruction classes counted by the plugin ("K" lines), in its order.
CLASSES = ("load", "store", "mul", "dsp", "div", "branch", "other")


def symbol_addresses(elf: Path, names: tuple[str, ...] = MARKERS) -> dict[str, int]:
    """Addresses of function symbols in `elf` (Thumb bit masked)."""
    r = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True)
    if r.returncode != 0:
        raise TinyError(f"arm-none-eabi-nm {elf} failed: {r.stderr.strip()}")
    found: dict[str, int] = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] in names:
            found[parts[2]] = int(parts[0], 16) & ~1
    missing = [n for n in names if n not in found]
    if missing:
        raise TinyError(f"{elf} has no symbol(s) {', '.join(missing)}: was it linked with the "
                        f"tiny runtime's layer markers?")
    return found


def parse_plugin_log(text: str) -> tuple[list[tuple[str, int]], int]:
    """The plugin's log -> ([("B"|"E", count), ...], total instructions)."""
    hits: list[tuple[str, int]] = []
    total = None
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("B", "E"):
            hits.append((parts[0], int(parts[1])))
        elif len(parts) == 2 and parts[0] == "total":
            total = int(parts[1])
    if total is None:
        raise TinyError("the instruction-count plugin wrote no totals (did QEMU exit cleanly?)")
    return hits, total


def layer_counts(hits: list[tuple[str, int]]) -> list[int]:
    """Pair begin/end hits in order: instructions executed inside each marked layer."""
    out = []
    begin = None
    for kind, count in hits:
        if kind == "B":
            if begin is not None:
                raise TinyError("layer markers out of order: begin without end")
            begin = count
        else:
            if begin is None:
                raise TinyError("layer markers out of order: end without begin")
            out.append(count - begin)
            begin = None
    return out


def parse_class_lines(text: str) -> list[list[int]]:
    """The plugin's per-hit class counters ("K ..." lines), one list per marker hit."""
    return [[int(v) for v in line.split()[1:]] for line in text.splitlines()
            if line.startswith("K ") and len(line.split()) == len(CLASSES) + 1]


def layer_classes(hits: list[tuple[str, int]], ks: list[list[int]]) -> list[dict[str, int]]:
    """Per marked layer: instructions of each class (same pairing as layer_counts)."""
    if len(ks) != len(hits):
        return []
    out = []
    for i in range(0, len(hits) - 1, 2):
        out.append({c: ks[i + 1][j] - ks[i][j] for j, c in enumerate(CLASSES)})
    return out


def count_instructions(board: Board, elf: Path, drive: Callable[[Session], None], *,
                       n_ops: int | None = None, timeout: float = 30.0) -> dict[str, Any]:
    """Run `elf` on QEMU with the counting plugin, let `drive` talk to it, then count.

    n_ops: ops per invocation; if given, `op` in each layer entry is index % n_ops and
    `per_invocation` splits the layers per INVOKE."""
    from tiny.build.plugin import build_plugin  # noqa: PLC0415
    from tiny.device.connect import open_qemu_session  # noqa: PLC0415

    addrs = symbol_addresses(Path(elf))
    plugin = build_plugin()
    log = Path(tempfile.mkdtemp(prefix="tiny-insn-")) / "plugin.log"
    session = open_qemu_session(
        board, Path(elf), timeout=timeout, plugin=plugin, plugin_log=log,
        plugin_args={"begin": hex(addrs[MARKERS[0]]), "end": hex(addrs[MARKERS[1]])})
    qemu = session.transport.qemu  # type: ignore[attr-defined]
    try:
        drive(session)
        if not session.closed:
            session.quit()
        try:
            qemu.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    finally:
        session.close()   # also ends QEMU (SIGTERM still runs the plugin's atexit)
    text = log.read_text() if log.exists() else ""
    hits, program_total = parse_plugin_log(text)
    counts = layer_counts(hits)
    classes = layer_classes(hits, parse_class_lines(text))
    layers = [{"index": i, "op": (i % n_ops) if n_ops else i, "instructions": c}
              for i, c in enumerate(counts)]
    for L, k in zip(layers, classes):
        L["classes"] = k
    result: dict[str, Any] = {
        "board": board.name,
        "instructions": sum(counts),
        "total": sum(counts),
        "layers": layers,
        "program_instructions": program_total,
    }
    if n_ops:
        result["per_invocation"] = [counts[k:k + n_ops] for k in range(0, len(counts), n_ops)]
    return result


__all__ = ["count_instructions", "layer_counts", "parse_plugin_log", "symbol_addresses"]
