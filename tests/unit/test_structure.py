"""Structure rules of the code base, checked over the source: op knowledge lives in tiny/ops/ only,
and no module of tiny/ imports itself back (module-level or function-local)."""
from __future__ import annotations

import ast
from pathlib import Path

from tiny.ops import REGISTRY

ROOT = Path(__file__).resolve().parents[2] / "tiny"


def _modules() -> dict[str, Path]:
    out = {}
    for p in ROOT.rglob("*.py"):
        parts = p.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = p
    return out


# Modules not yet moved onto the registry, each with what replaces its op table. Nothing else may
# name an op type.
PENDING = {
    "tiny.train.float_ref",     # a float TensorFlow twin of every op: becomes an OpDef field (float_run)
}


def test_op_names_appear_only_in_tiny_ops() -> None:
    names = set(REGISTRY)
    assert {"CONV_2D", "ADD", "MEAN"} <= names      # the scan below looks for real names
    hits = []
    for name, path in _modules().items():
        if name == "tiny.ops" or name.startswith("tiny.ops.") or name in PENDING:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
                hits.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}: {node.value!r}")
    assert not hits, "op-name literals outside tiny/ops/ (use an OpDef trait or tiny.ops.kinds):\n" + "\n".join(hits)


def _imports(mods: dict[str, Path], local: bool = True) -> dict[str, set[str]]:
    """Module -> tiny modules it imports (local: anywhere in its body, else at module level only).
    Importing a.b.c also runs the packages a and a.b, so those count as imported too."""
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        pkg = m if path.name == "__init__.py" else m.rpartition(".")[0]
        tree = ast.parse(path.read_text())
        top = [n for stmt in tree.body for n in ast.walk(stmt)
               if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        for node in ast.walk(tree) if local else top:
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = pkg.split(".")[:len(pkg.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            for t in targets:
                while t:
                    if t in mods and t != m and t != "tiny" and not m.startswith(t + "."):
                        edges[m].add(t)
                    t = t.rpartition(".")[0]
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


# Function-local imports that close a cycle on purpose, each with its reason. Nothing else may.
KNOWN_LOCAL_BACK_EDGES = {
    ("tiny.train", "tiny.api"),                 # the package is callable: tiny.train(...) is tiny.api.train
    ("tiny.export", "tiny.api"),                # the module is callable: tiny.export(...) is tiny.api.export
    ("tiny.build.pio", "tiny.device.connect"),  # upload of a built project opens a session on it
}


def test_no_import_cycles_in_tiny() -> None:
    mods = _modules()
    top = _imports(mods, local=False)
    assert "tiny.ops.conv2d" in top["tiny.ops"] and "tiny.ops" in top["tiny.emit.select"]
    assert _cycles(top) == []
    edges = _imports(mods)
    for a, b in KNOWN_LOCAL_BACK_EDGES:
        edges[a].discard(b)
    assert _cycles(edges) == []


def test_cycle_finder_sees_a_cycle() -> None:
    """The checker itself: a two-module cycle and a package-init cycle are found."""
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    assert _cycles({"p": {"p.x"}, "p.x": {"q"}, "q": {"p"}}) == [["p", "p.x", "q"]]
