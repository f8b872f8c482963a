"""Open a protocol session with a board: host (pipe), emulated (QEMU + TCP serial) or real (port).

    with open_session(get_board("qemu-m4-256k"), project_dir) as s:
        s.info(); s.run([x])

For emulated boards the firmware is built with `pio run -e <board>` (incremental after the first
build) unless `elf` is given; QEMU is started and owned by the session's transport, so closing
the session (or any fatal error in it) also ends QEMU.
"""
from __future__ import annotations

import contextlib
import contextvars
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tiny.boards import Board
from tiny.device.qemu import QemuProcess, die_with_parent, launch
from tiny.device.session import Session
from tiny.device.transport import PipeTransport, SerialTransport
from tiny.ir import TinyError

# The port of the command being run (`--port URL`): set once by the CLI, read where a session is
# opened deep inside a command (training, validation), so those callers need no port argument.
_PORT: contextvars.ContextVar[str | None] = contextvars.ContextVar("tiny_port", default=None)


@contextlib.contextmanager
def using_port(url: str | None) -> Iterator[None]:
    """Within the block, sessions reach their board at `url` (None: the usual way)."""
    token = _PORT.set(url)
    try:
        yield
    finally:
        _PORT.reset(token)


def current_port() -> str | None:
    return _PORT.get()


def detect_port(board: Board) -> str | None:
    """The board's serial port: a USB device with one of the board's vendor:product ids (the
    ST-LINK virtual COM port), else the board TOML's usual port name if it exists, else None."""
    import os  # noqa: PLC0415

    ids = {i.lower() for i in board.uart.usb_ids}
    if ids:
        try:
            from serial.tools import list_ports  # noqa: PLC0415

            for p in sorted(list_ports.comports(), key=lambda p: p.device):
                if p.vid is not None and f"{p.vid:04x}:{p.pid:04x}" in ids:
                    return p.device
        except Exception:  # noqa: BLE001 - no USB enumeration here: fall back to the name
            pass
    if board.uart.port and os.path.exists(board.uart.port):
        return board.uart.port
    return None


class QemuTransport(SerialTransport):
    """SerialTransport to a QEMU it owns: close() ends QEMU; diagnostics() shows its output."""

    def __init__(self, qemu: QemuProcess, baud: int = 115200) -> None:
        self.qemu = qemu
        try:
            super().__init__(qemu.url, baud=baud, name=f"QEMU {qemu.board.name}")
        except Exception:
            qemu.close()
            raise

    def diagnostics(self) -> str:
        code = self.qemu.returncode
        text = self.qemu.output().strip()
        lines = [ln for ln in text.splitlines() if "waiting for connection" not in ln]
        if code is not None:
            lines.append(f"QEMU exited with code {code}")
        return "\n".join(lines)

    def close(self) -> None:
        super().close()
        self.qemu.close()


def firmware_elf(board: Board, project_dir: Path) -> Path:
    """Build (incrementally) the board's offline env of a tiny PlatformIO project."""
    from tiny.build.pio import build, project_envs  # noqa: PLC0415
    from tiny.build.project import offline_env  # noqa: PLC0415

    env = offline_env(board)
    if env not in project_envs(project_dir):
        raise TinyError(f"{project_dir} has no env for board {board.name} (envs: "
                        f"{', '.join(project_envs(project_dir))}); compile it with "
                        f"--board {board.name}")
    return build(project_dir, env)


def open_qemu_session(board: Board, elf: Path, *, timeout: float = 5.0,
                      plugin: Path | None = None, plugin_args: dict[str, str | int] | None = None,
                      plugin_log: Path | None = None,
                      preload: list[tuple[Path, int]] | None = None) -> Session:
    q = launch(board, elf, plugin=plugin, plugin_args=plugin_args, log=plugin_log,
               preload=preload)
    transport = QemuTransport(q, baud=board.uart.baud)
    s = Session(transport, board_name=board.name, timeout=timeout)
    s.handshake()
    return s


def open_session(board: Board, project_dir: Path, *, timeout: float = 5.0,
                 elf: Path | None = None, port: str | None = None, sanitize: bool = False,
                 preload: list[tuple[Path, int]] | None = None) -> Session:
    """A Session with `board` running the firmware of `project_dir`.

    host: built with tiny.build.host.build_host, run over a pipe. Emulated: built with pio (or
    `elf`), run on QEMU. Real boards: the firmware must already be flashed (tiny flash); `port`
    is its serial port (e.g. /dev/ttyACM0) or any pyserial URL; without one, the board's
    ST-LINK virtual COM port is looked for (detect_port). A `port` (or using_port()) on an
    emulated board reaches firmware already running there, e.g. QEMU started by
    `tiny flash DIR --port socket://127.0.0.1:PORT`, instead of starting QEMU."""
    project_dir = Path(project_dir)
    port = port or current_port()
    if port and not board.is_host:
        return serial_session(board, port, timeout=timeout)
    if board.is_host:
        from tiny.build.host import build_host  # noqa: PLC0415

        exe = build_host(project_dir, sanitize=sanitize)
        return Session(PipeTransport([str(exe)], name="host"), board_name="host",
                       timeout=timeout)
    if board.emulated:
        return open_qemu_session(board, elf or firmware_elf(board, project_dir),
                                 timeout=timeout, preload=preload)
    found = detect_port(board)
    if not found:
        usual = f" (usually {board.uart.port})" if board.uart.port else ""
        raise TinyError(f"{board.name} is a real board and no serial port of it was found{usual}: "
                        f"flash it (tiny flash DIR --board {board.name}), connect its USB, and "
                        f"pass the port with --port (e.g. --port /dev/ttyACM0, COM3, "
                        f"socket://HOST:PORT)")
    return serial_session(board, found, timeout=timeout)


def serial_session(board: Board, url: str, *, timeout: float = 5.0) -> Session:
    """A Session over a serial port or pyserial URL, at the board's baud rate."""
    from tiny.device.transport import TransportClosed  # noqa: PLC0415

    try:
        t = SerialTransport(url, baud=board.uart.baud, name=f"{board.name} at {url}",
                            connect_timeout=2.0)
    except TransportClosed as e:
        raise TinyError(f"{e}; is {board.name} connected and flashed (tiny flash DIR --board "
                        f"{board.name})? pass its serial port with --port") from e
    except ValueError as e:   # pyserial: malformed URL
        raise TinyError(f"bad --port {url!r}: {e} (use /dev/ttyACM0, COM3, socket://HOST:PORT "
                        f"or rfc2217://HOST:PORT)") from e
    return Session(t, board_name=board.name, timeout=timeout)


def serve_qemu(board: Board, elf: Path, url: str) -> int:
    """Run `elf` on QEMU with the board's UART on the TCP server of `url` (socket://HOST:PORT)
    until QEMU exits (QUIT command, Ctrl-C): an emulated board that other commands reach with
    --port, like a flashed real board. Returns QEMU's exit code."""
    from urllib.parse import urlsplit  # noqa: PLC0415

    from tiny.device.qemu import qemu_argv  # noqa: PLC0415

    u = urlsplit(url)
    if u.scheme != "socket" or not u.port:
        raise TinyError(f"emulated board {board.name}: --port must be socket://HOST:PORT (QEMU "
                        f"serves its UART on that TCP port), got {url!r}")
    argv = qemu_argv(board, elf, u.port)
    argv[argv.index("-serial") + 1] = (f"tcp:{u.hostname or '127.0.0.1'}:{u.port},server=on,"
                                       f"wait=off,nodelay=on")
    print(f"tiny: {board.name} on QEMU, UART at {url} (stop with Ctrl-C)", flush=True)
    # QEMU ends with this process, however it ends (a killed `tiny flash` leaked a spinning QEMU)
    q = subprocess.Popen(argv, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
    try:
        return q.wait()
    except KeyboardInterrupt:
        q.terminate()
        q.wait()
        return 0


__all__ = ["QemuTransport", "current_port", "detect_port", "firmware_elf", "open_qemu_session",
           "open_session", "serial_session", "serve_qemu", "using_port"]
