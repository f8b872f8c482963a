"""Build the QEMU instruction-counting TCG plugin (firmware/tools/insn_count.c) with the host gcc."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from tiny import paths
from tiny.ir import TinyError

SOURCE_NAME = "insn_count.c"


def plugin_source() -> Path:
    return Path(paths.FIRMWARE) / "tools" / SOURCE_NAME


def cache_dir() -> Path:
    env = os.environ.get("TINY_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tiny"


def build_plugin(out_dir: Path | None = None) -> Path:
    """Compile the plugin into the cache (keyed by the source's hash) if missing; returns the .so."""
    src = plugin_source()
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:12]
    out = (out_dir or cache_dir() / "plugins") / f"insn_count-{digest}.so"
    if out.exists():
        return out
    cc = os.environ.get("HOST_CC", "gcc")
    if shutil.which(cc) is None:
        raise TinyError(f"host C compiler {cc!r} not found (needed for the QEMU plugin)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    r = subprocess.run([cc, "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", str(src), "-o", str(tmp)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise TinyError(f"building the QEMU plugin failed:\n{r.stderr[-3000:]}")
    os.replace(tmp, out)  # atomic: concurrent builders never see a half-written .so
    return out


if __name__ == "__main__":  # make setup: python -m tiny.build.plugin
    print(build_plugin())
