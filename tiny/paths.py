"""Where the C runtime, templates and board files are: the source tree, or inside the package."""
from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent
_SRC = _PKG.parent


def _pick(name: str) -> Path:
    inside = _PKG / "_data" / name
    return inside if inside.exists() else _SRC / name


FIRMWARE = _pick("firmware")
CODEGEN = _pick("codegen")
BOARDS = _pick("boards")
