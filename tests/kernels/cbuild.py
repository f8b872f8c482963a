"""Compile firmware kernels into a shared library for ctypes-based kernel tests."""
from __future__ import annotations

import ctypes
import hashlib
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
_CACHE: dict[str, ctypes.CDLL] = {}


def build_lib(sources: list[str], flags: tuple[str, ...] = ()) -> ctypes.CDLL:
    """Build firmware/src/kernels/<sources> (paths relative to firmware/src) into one .so."""
    paths = [FIRMWARE / "src" / s for s in sources]
    key = hashlib.sha256(("|".join(sources) + "|".join(flags) + "".join(
        p.read_text() for p in paths) + "".join(
        h.read_text() for h in sorted((FIRMWARE / "include").rglob("*.h")))).encode()).hexdigest()[:16]
    if key in _CACHE:
        return _CACHE[key]
    out = Path(tempfile.gettempdir()) / f"tiny-kernels-{key}.so"
    if not out.exists():
        cmd = ["gcc", "-std=c99", "-O1", "-g", "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror",
               f"-I{FIRMWARE / 'include'}", *flags, *map(str, paths), "-o", str(out), "-lm"]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
    lib = ctypes.CDLL(str(out))
    _CACHE[key] = lib
    return lib
