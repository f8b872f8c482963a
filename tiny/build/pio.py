"""Run PlatformIO on a generated project, always against the provisioned offline core dir."""
from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

from tiny.build.provision import pio_env, platform_dir, provision, toolchain_dir
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
    env = pio_env(core)
    # platformio.ini names the local platform / toolchain through these (portable projects)
    env["TINY_PIO_PLATFORM"] = platform_dir(core).as_posix()
    env["TINY_PIO_TOOLCHAIN"] = toolchain_dir(core).as_posix()
    try:
        r = subprocess.run(cmd, cwd=project_dir, env=env, text=True, timeout=timeout,
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


def env_boards(project_dir: Path) -> dict[str, str]:
    """env name -> tiny board name (custom_tiny_board) of a generated project."""
    ini = Path(project_dir) / "platformio.ini"
    cp = configparser.ConfigParser(interpolation=None)
    cp.read(ini)
    return {s.split(":", 1)[1]: cp.get(s, "custom_tiny_board", fallback="")
            for s in cp.sections() if s.startswith("env:")}


def flash_env(project_dir: Path, board: str | None = None, env: str | None = None) -> str:
    """The env `tiny flash` uploads: `env` if named; else the env that reaches `board` (real
    boards: `<board>`, PlatformIO's platform + upload tool; emulated: `<board>`, QEMU); with
    neither, the project's only board. Raises TinyError naming the choices otherwise."""
    envs = project_envs(project_dir)
    if env:
        if env not in envs:
            raise TinyError(f"no env {env!r} in {project_dir}/platformio.ini; envs: {', '.join(envs)}")
        return env
    by_board = env_boards(project_dir)
    boards = sorted({b for b in by_board.values() if b})
    if board is None:
        if len(boards) != 1:
            raise TinyError(f"{project_dir} has firmware for several boards ({', '.join(boards)}): "
                            f"pick one with --board")
        board = boards[0]
    if board not in boards:
        raise TinyError(f"{project_dir} has no firmware for board {board!r} (boards: "
                        f"{', '.join(boards)}); compile it with --board {board}")
    if board in envs:      # emulated: the QEMU env; real: the registry env with the upload tool
        return board
    return next(e for e, b in by_board.items() if b == board)


def flash(project_dir: Path, *, board: str | None = None, env: str | None = None,
          port: str | None = None, upload_port: str | None = None) -> int:
    """`tiny flash`: put the firmware on the board.

    Real boards: `pio run -e <board> -t upload` (PlatformIO's ststm32 / nordicnrf52 platform and
    upload tool, e.g. ST-LINK; internet the first time), then, with `port` (or the board's
    detected ST-LINK virtual COM port), a check that the board answers with this firmware.
    Emulated boards: QEMU runs the firmware; with `port` (socket://HOST:PORT) its UART is served
    there until it exits, so other commands reach it with --port like a real board."""
    from tiny.boards import get_board  # noqa: PLC0415

    project_dir = Path(project_dir).resolve()
    e = flash_env(project_dir, board, env)
    b = get_board(env_boards(project_dir).get(e) or board or e)
    if b.emulated:
        if port:
            from tiny.device.connect import serve_qemu  # noqa: PLC0415

            return serve_qemu(b, build(project_dir, e), port)
        upload(project_dir, e, port=upload_port)
        return 0
    upload(project_dir, e, port=upload_port)
    from tiny.device.connect import detect_port, serial_session  # noqa: PLC0415

    url = port or detect_port(b)
    if not url:
        print(f"tiny: flashed {b.name}; no serial port found to check it (pass --port)")
        return 0
    import time  # noqa: PLC0415

    time.sleep(0.5)   # the upload tool resets the board: let it boot
    with serial_session(b, url, timeout=5.0) as s:
        info = s.info()
    clock = int(info.get("clock_hz") or 0)
    print(f"tiny: {b.name} at {url} runs model {info.get('model')} (hash {info.get('hash')}) at "
          f"{clock / 1e6:g} MHz")
    if b.clock_hz and clock and clock == b.reset_clock_hz and clock != b.clock_hz:
        print(f"tiny: warning: {b.name} should run at {b.clock_hz / 1e6:g} MHz: its clock set-up "
              f"timed out (reset clock)")
    return 0


__all__ = ["build", "default_envs", "elf_path", "env_boards", "flash", "flash_env",
           "project_envs", "run_pio", "upload"]
