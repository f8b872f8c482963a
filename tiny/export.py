"""`tiny export`: a compiled model as a self-contained C library for the user's own firmware.

The library is the result of compilation (Compiled.files: the generated model.c/model.h, for
training also the plan tables) plus the runtime files those files reach, resolved like a linker
resolves symbols: starting from the `tiny_*` names the generated code and the API glue use, a
runtime .c file is taken when it defines a name still needed, then its own names are resolved in
turn. So only the kernels the board's kernel selection chose travel (the DSP variant and the
portable kernel it falls back to), and nothing that needs a board: no `main`, vector table, UART,
protocol server or port layer. Layout of DIR:

    include/tiny_model.h     the public API (sizes, quantization, invoke, training entry points)
    src/tiny_model.c         the API glue (codegen/export/tiny_model.c.j2)
    src/tiny_model.h         forwards to include/ (Arduino only searches src/)
    src/tiny_model/          the generated model (model.c, model.h[, train_model.c])
    src/tiny/                the runtime headers and .c files it needs (firmware/ layout)
    library.json, library.properties, CMakeLists.txt, README.md

Every symbol the library defines starts with `tiny_`; its private headers are only reachable as
"tiny/..." and "tiny_model/...", so it cannot clash with the caller's names or files.
"""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from tiny import __version__, paths
from tiny.ir import Graph, TinyError

# Runtime directories (under firmware/src) a library may draw from; the others (boards/, protocol/,
# runtime/main.c) need a board or are the firmware's own entry.
_RUNTIME_DIRS = ("kernels/ref", "kernels/arm", "runtime", "train")
_NO_LIBRARY = {"runtime/main.c"}
_CTYPE = {"int8": "int8_t", "int32": "int32_t", "float32": "float", "uint8": "uint8_t", "int16": "int16_t"}
_IDENT = re.compile(r"\btiny_\w+")
_DEF = re.compile(r"^(?!static\b)[A-Za-z_][\w \t\*]*?\b(tiny_\w+)\s*\([^;{]*\)\s*\{", re.M)
_DATA = re.compile(r"^(?!static\b)(?:const\s+)?[A-Za-z_][\w \t\*]*?\b(tiny_\w+)\s*(?:\[[^\]]*\])?\s*=", re.M)
# functions written in top-level inline assembly (a `.global` inside an asm string)
_ASM_GLOBAL = re.compile(r"\.global\s+(tiny_\w+)")
_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


@dataclass
class TensorIO:
    """One model input or output as the library's header describes it."""
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    ctype: str
    nbytes: int
    scale: float
    zero_point: int


@dataclass
class Export:
    """What `tiny export` wrote."""
    out: Path
    board: str
    model: str
    hash: str
    arena_bytes: int
    const_bytes: int
    inputs: list[TensorIO]
    outputs: list[TensorIO]
    runtime: list[str]                      # firmware/src files in the library
    files: list[str] = field(default_factory=list)   # every file written, relative to out
    training: dict[str, Any] | None = None

    def summary(self) -> dict[str, Any]:
        return {"output": str(self.out), "board": self.board, "model": self.model, "hash": self.hash,
                "arena_bytes": self.arena_bytes, "weights_bytes": self.const_bytes,
                "inputs": [io.__dict__ for io in self.inputs], "outputs": [io.__dict__ for io in self.outputs],
                "runtime_files": self.runtime, "files": self.files, "training": self.training}


# Defined when a library is built (its build files set them): runtime code under `#ifndef X ...
# #endif /* X */` is not part of a library (train.c's protocol commands).
LIBRARY_DEFINES = ("TINY_TRAIN_NO_PROTOCOL",)
# Firmware-only blocks `#ifndef TINY_LIBRARY ... #endif /* TINY_LIBRARY */` (the watchdog feed after
# each op in runtime/markers.c) are cut out of the library's copies altogether.
_FIRMWARE_ONLY = re.compile(r"#ifndef TINY_LIBRARY\b.*?#endif /\* TINY_LIBRARY \*/\n?", re.S)


def library_text(text: str) -> str:
    """A runtime file as a library carries it: without its firmware-only blocks."""
    return _FIRMWARE_ONLY.sub("", text)


def _strip_c(text: str) -> str:
    """C text without comments and string/char literals (names inside them are not references), and
    without the blocks a library build leaves out (LIBRARY_DEFINES, firmware-only blocks)."""
    text = library_text(text)
    for d in LIBRARY_DEFINES:
        text = re.sub(rf"#ifndef {d}\b.*?#endif /\* {d} \*/", " ", text, flags=re.S)
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    return re.sub(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', '""', text)


@dataclass(frozen=True)
class _Unit:
    rel: str                    # path under firmware/src
    defines: frozenset[str]
    uses: frozenset[str]


def _runtime_units() -> list[_Unit]:
    root = Path(paths.FIRMWARE) / "src"
    units = []
    for d in _RUNTIME_DIRS:
        for f in sorted((root / d).glob("*.c")):
            rel = f.relative_to(root).as_posix()
            if rel in _NO_LIBRARY:
                continue
            raw = f.read_text()
            code = _strip_c(raw)
            defs = set(_DEF.findall(code)) | set(_DATA.findall(code)) | set(_ASM_GLOBAL.findall(raw))
            units.append(_Unit(rel, frozenset(defs), frozenset(_IDENT.findall(code)) - defs))
    return units


def resolve_runtime(sources: list[str]) -> list[str]:
    """The runtime .c files (paths under firmware/src) that define what `sources` (C texts) use,
    transitively. A name no runtime file defines is left to headers (types, inline helpers)."""
    units = _runtime_units()
    by_name: dict[str, _Unit] = {}
    for u in units:
        for n in u.defines:
            by_name.setdefault(n, u)
    defined: set[str] = set()
    for s in sources:
        code = _strip_c(s)
        defined |= set(_DEF.findall(code)) | set(_DATA.findall(code))
    need = [n for s in sources for n in _IDENT.findall(_strip_c(s))]
    chosen: dict[str, _Unit] = {}
    while need:
        n = need.pop()
        if n in defined:
            continue
        u = by_name.get(n)
        if u is None or u.rel in chosen:
            continue
        chosen[u.rel] = u
        defined |= u.defines
        need.extend(u.uses)
    return sorted(chosen)


def _header_closure(texts: list[tuple[Path, str]]) -> list[Path]:
    """Every firmware header reached by the quoted #includes of the given (path, text) pairs."""
    inc = Path(paths.FIRMWARE) / "include"
    seen: dict[Path, None] = {}
    todo = list(texts)
    while todo:
        where, text = todo.pop()
        for name in _INCLUDE.findall(text):
            for cand in (where.parent / name, inc / name):
                if cand.is_file() and (inc in cand.parents or Path(paths.FIRMWARE) / "src" in cand.parents):
                    cand = cand.resolve()
                    if cand not in seen:
                        seen[cand] = None
                        todo.append((cand, cand.read_text()))
                    break
    return list(seen)


def _io(g: Graph, tids: list[int]) -> list[TensorIO]:
    out = []
    for i, tid in enumerate(tids):
        t = g.tensors[tid]
        if t.dtype not in _CTYPE:
            raise TinyError(f"tensor '{t.name}' (model {'input' if tids is g.inputs else 'output'} {i}) has dtype "
                            f"{t.dtype}: the exported C API carries {', '.join(_CTYPE)}")
        out.append(TensorIO(index=i, name=t.name, shape=tuple(int(d) for d in t.shape), dtype=t.dtype,
                            ctype=_CTYPE[t.dtype], nbytes=int(t.nbytes),
                            scale=float(t.quant.s()) if t.quant else 1.0,
                            zero_point=int(t.quant.zp()) if t.quant else 0))
    return out


def _cfloat(v: float) -> str:
    return f"{v:.9e}f"


def _c_comment(s: str) -> str:
    return s.replace("*/", "* /").replace("/*", "/ *")


def _jinja() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(Path(paths.CODEGEN) / "export")),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["cfloat"] = _cfloat
    env.filters["comment"] = _c_comment
    return env


def _runtime_copies() -> dict[str, str]:
    """Text of every firmware/src file -> its path: Compiled.files entries that are verbatim runtime
    copies (the training runtime travels with a training model) are resolved like any runtime file."""
    root = Path(paths.FIRMWARE) / "src"
    return {f.read_text(): f.relative_to(root).as_posix() for f in root.rglob("*.c")}


def _arena_bytes(c: Any) -> int:
    """The arena the generated code addresses: the forward plan, grown for a training workspace."""
    n = max(int(c.plan.arena_bytes), 16)
    mem = getattr(c, "train_memory", None) or {}
    plan = getattr(c, "train_plan", None)
    if mem.get("workspace_in_arena") and plan is not None:
        n = max(n, int(plan.ws_floats) * 4)
    return max(n, int(mem.get("forward_arena_bytes", 0)))   # grown for a split layer's interleave scratch


def _param_bytes(c: Any) -> int:
    """Bytes of the training parameter table (tiny/train/emit.py names: <op>.w/.b/.m/.e and the
    momentum buffers .mw/.mb/.ms): what tiny_model_train_save copies."""
    g, plan = c.graph, c.train_plan
    total = 0
    for name in c.param_names:
        op_s, role = name.split(".")
        op = g.ops[int(op_s)]
        f = g.tensors[op.inputs[1]]
        oc = g.tensors[op.outputs[0]].shape[-1]
        if role in ("w", "wf"):
            total += plan.sram_filter_size(op.index)     # a split layer saves its SRAM channels only
        elif role == "mw":
            total += 4 * plan.update_for(op.index).weight_channels * (f.size // oc)
        else:
            total += 4 * oc
    return total


def _library_name(g: Graph) -> str:
    base = re.sub(r"[^A-Za-z0-9_]", "_", g.name).strip("_") or "model"
    return f"tiny_model_{base}"[:63]


def export_compiled(c: Any, board: str, out: Path, train: str | None = None) -> Export:
    """Write the library for an already compiled model (a Compiled or TrainCompiled) into `out`."""
    from tiny.boards import get_board
    b = get_board(board)
    g = c.graph
    out = Path(out)
    inputs, outputs = _io(g, g.inputs), _io(g, g.outputs)
    if not inputs or not outputs:
        raise TinyError(f"model {g.name} has {len(inputs)} inputs and {len(outputs)} outputs: nothing to export")
    copies = _runtime_copies()
    generated = {n: t for n, t in c.files.items() if t not in copies}
    training = None
    if getattr(c, "train_plan", None) is not None:
        from tiny.train.layers import label_count
        training = {"params": list(c.param_names), "lr": float(c.lr), "momentum": float(c.momentum),
                    "qas": bool(c.qas), "n_classes": label_count(g),
                    # a one-logit (sigmoid) head: labels 0 / 1, binary cross-entropy
                    "binary_head": int(g.tensors[c.train_plan.logits].size) == 1,
                    "train_peak_sram_bytes": int(c.train_memory["train_peak_sram_bytes"]),
                    "params_bytes": _param_bytes(c), "config": train}
    ctx = {"name": _library_name(g), "model": _c_comment(g.meta.get("source", g.name)), "graph_name": g.name,
           "version": __version__, "hash": c.hash, "board": b.name, "core": b.core,
           "cpu_flags": " ".join(b.cpu_flags()), "arena_bytes": _arena_bytes(c), "const_bytes": int(c.const_bytes),
           "inputs": inputs, "outputs": outputs, "single": len(inputs) == 1 and len(outputs) == 1,
           "all_int8": all(io.dtype == "int8" for io in inputs + outputs), "training": training,
           "n_ops": len(g.ops)}
    j = _jinja()
    glue_c = j.get_template("tiny_model.c.j2").render(**ctx)
    header = j.get_template("tiny_model.h.j2").render(**ctx)
    runtime = resolve_runtime([*generated.values(), glue_c])
    missing = _unresolved([*generated.values(), glue_c], runtime)
    if missing:
        raise TinyError(f"export for {b.name}: no runtime file defines {', '.join(sorted(missing))} "
                        f"(a function the generated code calls)")

    _check_out(out)
    # Fresh src/ and include/ (stale kernels of an earlier export must not stay in the library).
    for d in ("src", "include"):
        shutil.rmtree(out / d, ignore_errors=True)
    written: list[str] = []

    def put(rel: str, text: str) -> None:
        p = out / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        written.append(rel)

    fw_src = Path(paths.FIRMWARE) / "src"
    put("include/tiny_model.h", header)
    put("src/tiny_model.h", '/* Forwards to the public header (Arduino searches src/ only). */\n'
                            '#include "../include/tiny_model.h"\n')
    put("src/tiny_model.c", glue_c)
    for name, text in sorted(generated.items()):
        put(f"src/tiny_model/{name}", text)
    for rel in runtime:
        put(f"src/tiny/{rel}", library_text((fw_src / rel).read_text()))
    texts = [(out / "src" / "tiny_model" / n, t) for n, t in generated.items()]
    texts += [(fw_src / rel, library_text((fw_src / rel).read_text())) for rel in runtime]
    inc = Path(paths.FIRMWARE) / "include"
    for h in _header_closure(texts):
        rel = h.relative_to(inc).as_posix() if inc in h.parents else h.relative_to(fw_src).as_posix()
        put(f"src/{rel}" if inc in h.parents else f"src/tiny/{rel}", h.read_text())
    c_files = sorted(r for r in written if r.endswith(".c"))
    ctx.update(c_files=c_files, defines=list(LIBRARY_DEFINES))
    put("CMakeLists.txt", j.get_template("CMakeLists.txt.j2").render(**ctx))
    put("library.json", j.get_template("library.json.j2").render(**ctx))
    put("library.properties", j.get_template("library.properties.j2").render(**ctx))
    put("README.md", j.get_template("README.md.j2").render(**ctx))
    return Export(out=out, board=b.name, model=g.name, hash=c.hash, arena_bytes=ctx["arena_bytes"],
                  const_bytes=int(c.const_bytes), inputs=inputs, outputs=outputs, runtime=runtime,
                  files=written, training=training)


def _check_out(out: Path) -> None:
    """Write only into a new or empty folder, or over an earlier export (its src/ is replaced)."""
    if out.exists() and not out.is_dir():
        raise TinyError(f"{out} is a file: give tiny export a folder (-o DIR)")
    if out.is_dir() and any(out.iterdir()):
        h = out / "include" / "tiny_model.h"
        if not (h.is_file() and "(`tiny export`)" in h.read_text(errors="replace")[:400]):
            raise TinyError(f"{out} is not empty and holds no earlier tiny export: choose a new folder "
                            f"(tiny export replaces DIR/src and DIR/include)")


def _unresolved(sources: list[str], runtime: list[str]) -> set[str]:
    """Function calls `tiny_x(` of the generated code and glue that neither they, the chosen runtime
    files nor a header define (a kernel file missing from firmware/, or one that needs a board)."""
    root = Path(paths.FIRMWARE) / "src"
    raws = [(root / r).read_text() for r in runtime]
    texts = [_strip_c(s) for s in sources] + [_strip_c(r) for r in raws]
    inc = Path(paths.FIRMWARE) / "include"
    headers = " ".join(_strip_c(h.read_text()) for h in inc.rglob("*.h"))
    headers += " ".join(_strip_c(h.read_text()) for h in root.rglob("*.h"))
    defined = set()
    for t in texts:
        defined |= set(_DEF.findall(t)) | set(_DATA.findall(t))
    for r in raws:
        defined |= set(_ASM_GLOBAL.findall(r))
    calls = {m for t in texts for m in re.findall(r"\b(tiny_\w+)\s*\(", t)}
    return {n for n in calls - defined if not re.search(rf"\b{n}\b\s*\([^;]*\)\s*\{{|define\s+{n}\b", headers)
            and not _declared_static(n, texts)}


def _declared_static(name: str, texts: list[str]) -> bool:
    return any(re.search(rf"\bstatic\b[^;{{]*\b{name}\s*\(", t) for t in texts)


def export_model(model: str | Path | Graph, board: str, out: str | Path, schedule: str = "layer",
                 sram_budget: int | None = None, train: str | None = None, kernels: str = "opt") -> Export:
    """Compile `model` (a path or a loaded Graph) for `board` and write it as a C library into `out`.

    `train`: a training config (TOML) or recipe name; the library then also has the training entry
    points (tiny_model_train_step, ...)."""
    from tiny.workflow import compile_for
    if isinstance(model, Graph):
        g = model
    else:
        from tiny.pipeline import load_model
        g = load_model(model)
    if train:
        from tiny.train.api import compile_train
        from tiny.train.config import load_config
        c = compile_train(g, board, load_config(train), schedule, sram_budget, kernels=kernels)
    else:
        c = compile_for(g, board, schedule, sram_budget, kernels=kernels)
    return export_compiled(c, board, Path(out), train=train)


__all__ = ["Export", "TensorIO", "export_compiled", "export_model", "resolve_runtime"]

