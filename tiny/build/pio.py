"""Run PlatformIO on a generated project, always against the provisioned offline core dir."""
from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

from tiny.build.provision import pio_env, provision
from tiny.ir import TinyError


def pio_executable() -> list[str]:
    """`pio` next to this Python (the venv), else on PATH, else `python -m platformio`."""
    here = Path(sys.executable).parent / "pio"
    if here.exists():
        return [str(here)]
    found = shutil.which("pio")
    if found:
        return [found]
    try:
        import platformio  # noqa: F401, PLC0415
    except ImportError as e:
        raise TinyError("PlatformIO is not installed: pip install platformio==6.2.0 "
                        "(make setup)") from e
    return [sys.executable, "-m", "platformio"]


def project_envs(project_dir: Path) -> list[str]:
    """Env names in project_dir/platformio.ini, in file order."""
    ini = Path(project_dir) / "platformio.ini"
    if not ini.exists():
        raise TinyError(f"{ini} does not exist: not a PlatformIO project (run tiny compile)")
    cp = configparser.ConfigParser(interpolation=None)
    cp.read(ini)
    return [s.split(":", 1)[1] for s in cp.sections() if s.startswith("env:")]


def default_envs(project_dir: Path) -> list[str]:
    ini = Path(project_dir) / "platformio.ini"
    cp = configparser.ConfigParser(interpolation=None)
    cp.read(ini)
    raw = cp.get("platformio", "default_envs", fallback="")
    return [e.strip() for e in raw.split(",") if e.strip()] or project_envs(project_dir)


def run_pio(project_dir: Path, args: list[str], *, timeout: float = 600,
            capture: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `pio <args>` in project_dir after provisioning (an unprovisioned pio would go to the
    registry). Raises TinyError with pio's output on failure."""
    core = provision()
    cmd = [*pio_executable(), *args]
    try:
        r = subprocess.run(cmd, cwd=project_dir, env=pio_env(core), text=True, timeout=timeout,
                           stdout=subprocess.PIPE if capture else None,
                           stderr=subprocess.STDOUT if capture else None)
    except subprocess.TimeoutExpired as e:
        raise TinyError(f"`pio {' '.join(args)}` timed out after {timeout:g}s") from e
    if r.returncode != 0:
        out = (r.stdout or "")[-6000:]
        raise TinyError(f"`pio {' '.join(args)}` failed in {project_dir}:\n{out}")
    return r


def elf_path(project_dir: Path, env: str) -> Path:
    return Path(project_dir) / ".pio" / "build" / env / "firmware.elf"


def build(project_dir: Path, env: str | None = None, *, verbose: bool = False) -> Path:
    """`pio run -e env` (env None: the project's default envs, the first one's ELF returned).
    Returns the ELF path."""
    project_dir = Path(project_dir).resolve()
    envs = [env] if env else default_envs(project_dir)
    known = project_envs(project_dir)
    for e in envs:
        if e not in known:
            raise TinyError(f"no env {e!r} in {project_dir}/platformio.ini; envs: "
                            f"{', '.join(known)}")
    args = ["run", *(a for e in envs for a in ("-e", e))]
    run_pio(project_dir, args, capture=not verbose)
    elf = elf_path(project_dir, envs[0])
    if not elf.exists():
        raise TinyError(f"pio run succeeded but {elf} is missing")
    return elf


def upload(project_dir: Path, env: str, *, port: str | None = None) -> None:
    """`pio run -e env -t upload` (emulated envs run on QEMU; real `<board>` envs need
    PlatformIO's platform packages, i.e. internet the first time)."""
    args = ["run", "-e", env, "-t", "upload"]
    if port:
        args += ["--upload-port", port]
    run_pio(Path(project_dir).resolve(), args, capture=False, timeout=3600)


__all__ = ["build", "default_envs", "elf_path", "project_envs", "run_pio", "upload"]
