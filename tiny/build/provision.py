"""Offline provisioning of a PlatformIO core directory (see ENVIRONMENT.md).

An unprovisioned `pio` goes to the registry (and hangs ~60 s without one). Before the first pio
command we lay out everything it would download: tool-scons (from the installed scons package),
a toolchain package that links to the system arm-none-eabi tools, and tiny's local platform
(boards/platform). Idempotent; a stamp file makes the second call cost one stat + one hash.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from tiny import paths
from tiny.boards import Board, list_boards
from tiny.ir import TinyError

SCONS_VERSION = "4.41101.0"      # pio 6.2.0 requires tool-scons ~4.41101.0
TOOLCHAIN_VERSION = "1.120201.0"  # any semver; the real tools are /usr/bin/arm-none-eabi-*
ARM_TOOLS = ("gcc", "g++", "as", "ld", "ar", "ranlib", "objcopy", "objdump", "size", "nm",
             "readelf", "strip", "gdb", "cpp", "gcc-ar", "gcc-nm", "gcc-ranlib", "addr2line")
_STAMP_VERSION = 2


def core_dir() -> Path:
    """The PlatformIO core dir tiny uses: $TINY_PIO_HOME, or ~/.cache/tiny/pio-<hash of what
    provisioning copies>, so two checkouts or virtualenvs never re-provision each other's core
    while the other is building."""
    env = os.environ.get("TINY_PIO_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tiny" / f"pio-{_inputs_hash()}"


def platform_dir(core: Path | None = None) -> Path:
    return (core or core_dir()) / "tiny" / "platform"


def toolchain_dir(core: Path | None = None) -> Path:
    return (core or core_dir()) / "tiny" / "toolchain-gccarmnoneeabi"


def pio_env(core: Path | None = None) -> dict[str, str]:
    """Environment for running pio against the provisioned core dir, never phoning home."""
    env = dict(os.environ)
    env.update({
        "PLATFORMIO_CORE_DIR": str(core or core_dir()),
        "PLATFORMIO_SETTING_ENABLE_TELEMETRY": "No",
        "PLATFORMIO_SETTING_CHECK_PLATFORMIO_INTERVAL": "3650",
        "PLATFORMIO_SETTING_CHECK_PRUNE_SYSTEM_THRESHOLD": "0",
        "PLATFORMIO_DISABLE_PROGRESSBAR": "true",
    })
    return env


def board_json(b: Board) -> dict[str, Any]:
    """The local platform's board manifest for `b` (boards/platform/boards/<id>.json)."""
    return {
        "name": f"tiny {b.name}",
        "vendor": "tiny",
        "url": "https://github.com/",
        "frameworks": [],
        "build": {"cpu": b.core, "mcu": b.mcu or b.core, "f_cpu": f"{b.clock_hz}L", "fpu": b.fpu},
        "upload": {"maximum_ram_size": b.sram_bytes, "maximum_size": b.flash_bytes,
                   "protocol": "qemu" if b.emulated else "none"},
        "tiny": {"board": b.name, "qemu_machine": b.qemu_machine, "pio_board": b.pio_board},
    }


def write_board_jsons(dest: Path) -> None:
    """(Re)generate boards/platform/boards/*.json from the board TOMLs."""
    dest.mkdir(parents=True, exist_ok=True)
    for b in list_boards():
        if not b.is_host:
            (dest / f"{b.local_board_id}.json").write_text(json.dumps(board_json(b), indent=2) + "\n")


def _inputs_hash() -> str:
    """Hash of everything provisioning copies, so edits to the platform re-provision."""
    h = hashlib.sha256(f"{_STAMP_VERSION}|{SCONS_VERSION}".encode())
    src = Path(paths.BOARDS) / "platform"
    for p in sorted(src.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            h.update(str(p.relative_to(src)).encode())
            h.update(p.read_bytes())
    import SCons  # noqa: PLC0415 - optional dependency, only needed here
    h.update(str(Path(SCons.__file__).resolve()).encode())
    return h.hexdigest()[:16]


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


def _provision_scons(core: Path) -> None:
    try:
        import SCons  # noqa: PLC0415
    except ImportError as e:
        raise TinyError("the scons package is missing: pip install scons==4.11.1") from e
    dst = core / "packages" / "tool-scons"
    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir(parents=True)
    shutil.copytree(Path(SCons.__file__).parent, dst / "SCons",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (dst / "scons.py").write_text(
        "import os, sys\n"
        "sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))\n"
        "from SCons.Script.Main import main\n"
        "if __name__ == '__main__':\n"
        "    main()\n")
    _write_json(dst / "package.json", {"name": "tool-scons", "version": SCONS_VERSION,
                                       "description": "SCons from the installed PyPI package"})
    _write_json(dst / ".piopm", {"type": "tool", "name": "tool-scons", "version": SCONS_VERSION,
                                 "spec": {"owner": "platformio", "id": None, "name": "tool-scons",
                                          "requirements": None, "uri": None}})


def _provision_toolchain(core: Path) -> None:
    dst = toolchain_dir(core)
    shutil.rmtree(dst, ignore_errors=True)
    (dst / "bin").mkdir(parents=True)
    found = False
    for tool in ARM_TOOLS:
        exe = shutil.which(f"arm-none-eabi-{tool}")
        if exe:
            (dst / "bin" / f"arm-none-eabi-{tool}").symlink_to(exe)
            found = found or tool == "gcc"
    if not found:
        raise TinyError("arm-none-eabi-gcc not found: apt-get install gcc-arm-none-eabi "
                        "libnewlib-arm-none-eabi (make setup does this)")
    _write_json(dst / "package.json", {"name": "toolchain-gccarmnoneeabi",
                                       "version": TOOLCHAIN_VERSION,
                                       "description": "system arm-none-eabi toolchain (symlinks)"})


def _provision_platform(core: Path) -> None:
    src = Path(paths.BOARDS) / "platform"
    dst = platform_dir(core)
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
    write_board_jsons(dst / "boards")  # always current with the TOMLs, even if the repo copy lags


def provision(core: Path | None = None, *, force: bool = False) -> Path:
    """Make `core` (default core_dir()) usable by pio offline. Returns the core dir."""
    import fcntl
    core = core or core_dir()
    stamp = core / "tiny" / "provisioned.json"
    want = _inputs_hash()

    def done() -> bool:
        try:
            return json.loads(stamp.read_text()).get("hash") == want and platform_dir(core).exists()
        except (OSError, ValueError):
            return False
    if not force and done():
        return core
    core.mkdir(parents=True, exist_ok=True)
    (core / "tiny").mkdir(exist_ok=True)
    with open(core / "tiny" / ".lock", "w") as lock:   # parallel test workers provision once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if force or not done():
            _provision_scons(core)
            _provision_toolchain(core)
            _provision_platform(core)
            _write_json(stamp, {"hash": want})
    return core


if __name__ == "__main__":  # `python -m tiny.build.provision` (used by make setup)
    import sys
    if "--write-board-jsons" in sys.argv:
        write_board_jsons(Path(paths.BOARDS) / "platform" / "boards")
    print(provision(force="--force" in sys.argv))
