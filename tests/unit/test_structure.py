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


def test_op_names_appear_only_in_tiny_ops() -> None:
    names = set(REGISTRY)
    assert {"CONV_2D", "ADD", "MEAN"} <= names      # the scan below looks for real names
    hits = []
    for name, path in _modules().items():
        if name == "tiny.ops" or name.startswith("tiny.ops."):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
                hits.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}: {node.value!r}")
    assert not hits, "op-name literals outside tiny/ops/ (use an OpDef trait or tiny.ops.kinds):\n" + "\n".join(hits)


def _imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> tiny modules it imports anywhere in its body. Importing a.b.c also runs the
    packages a and a.b, so those count as imported too."""
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        pkg = m if path.name == "__init__.py" else m.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
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


def test_no_import_cycles_in_tiny() -> None:
    mods = _modules()
    edges = _imports(mods)
    assert "tiny.ops.conv2d" in edges["tiny.ops"] and "tiny.ops" in edges["tiny.emit.select"]
    assert _cycles(edges) == []


def test_cycle_finder_sees_a_cycle() -> None:
    """The checker itself: a two-module cycle and a package-init cycle are found."""
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    assert _cycles({"p": {"p.x"}, "p.x": {"q"}, "q": {"p"}}) == [["p", "p.x", "q"]]
