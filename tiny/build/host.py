"""Build the `host` board: the generated model plus the C runtime, compiled for this machine.

The result is an ordinary executable that speaks protocol v1 on stdin/stdout
(tiny.device.session.host_session runs it). Rebuilt only when an input changed.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tiny import paths
from tiny.ir import TinyError

FLAGS = ["-O2", "-Wall", "-Wextra", "-Werror"]
SAN_FLAGS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-O1", "-g"]
_RUNTIME_DIRS = ("kernels/ref", "protocol", "runtime", "boards/host")


def host_sources(project_dir: Path) -> list[Path]:
    """Every .c file that goes into the host firmware: the project's src/ first."""
    fw = paths.FIRMWARE / "src"
    srcs = sorted((Path(project_dir) / "src").glob("*.c"))
    for d in _RUNTIME_DIRS:
        srcs += sorted((fw / d).glob("*.c"))
    return srcs


def _fingerprint(cmd: list[str], files: list[Path]) -> str:
    h = hashlib.sha256("\0".join(cmd).encode())
    for f in files:
        h.update(str(f).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def build_host(project_dir: Path, sanitize: bool = False) -> Path:
    """Compile project_dir/src/*.c with the runtime into project_dir/.build/host[-san]/firmware.

    Raises TinyError with the compiler's message when the build fails.
    """
    project_dir = Path(project_dir).resolve()
    src_dir = project_dir / "src"
    if not src_dir.is_dir():
        raise TinyError(f"{src_dir} does not exist: not a tiny project (run tiny compile first)")
    cc = os.environ.get("CC", "gcc")
    if shutil.which(cc) is None:
        raise TinyError(f"C compiler {cc!r} not found; install gcc (make setup)")
    include = paths.FIRMWARE / "include"
    srcs = host_sources(project_dir)
    flags = [*FLAGS, *SAN_FLAGS] if sanitize else list(FLAGS)  # later -O1 wins over -O2
    cmd = [cc, f"-I{include}", f"-I{src_dir}", *flags, *map(str, srcs), "-lm"]
    headers = sorted(include.rglob("*.h")) + sorted(src_dir.glob("*.h"))
    out_dir = project_dir / ".build" / ("host-san" if sanitize else "host")
    exe = out_dir / "firmware"
    stamp = out_dir / "inputs.sha256"
    key = _fingerprint(cmd, srcs + headers)
    if exe.exists() and stamp.exists() and stamp.read_text().strip() == key:
        return exe
    out_dir.mkdir(parents=True, exist_ok=True)
    # Build to a temporary name and rename: concurrent builds (pytest -n) never see half a file.
    fd, tmp = tempfile.mkstemp(prefix="firmware.", dir=out_dir)
    os.close(fd)
    try:
        res = subprocess.run([*cmd, "-o", tmp], capture_output=True, text=True)
        if res.returncode != 0:
            raise TinyError(f"host build failed ({' '.join(cmd[:1])} exit {res.returncode}):\n"
                            f"{(res.stderr or res.stdout).strip()}")
        os.chmod(tmp, 0o755)
        os.replace(tmp, exe)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    stamp_tmp = stamp.with_suffix(f".{os.getpid()}")
    stamp_tmp.write_text(key + "\n")
    os.replace(stamp_tmp, stamp)
    return exe
