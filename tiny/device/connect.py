"""Open a protocol session with a board: host (pipe), emulated (QEMU + TCP serial) or real (port).

    with open_session(get_board("qemu-m4-256k"), project_dir) as s:
        s.info(); s.run([x])

For emulated boards the firmware is built with `pio run -e <board>` (incremental after the first
build) unless `elf` is given; QEMU is started and owned by the session's transport, so closing
the session (or any fatal error in it) also ends QEMU.
"""
from __future__ import annotations

import time
from pathlib import Path

from tiny.boards import Board
from tiny.device.qemu import QemuProcess, launch
from tiny.device.session import Session
from tiny.device.transport import PipeTransport, SerialTransport
from tiny.ir import TinyError

# STM32 USARTs (qemu-f405) drop bytes that arrive before the firmware enabled the receiver;
# QEMU starts the guest only when the host connects, so give the firmware a moment.
_GUEST_BOOT_S = 0.05


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
    time.sleep(_GUEST_BOOT_S)
    return Session(transport, board_name=board.name, timeout=timeout)


def open_session(board: Board, project_dir: Path, *, timeout: float = 5.0,
                 elf: Path | None = None, port: str | None = None, sanitize: bool = False,
                 preload: list[tuple[Path, int]] | None = None) -> Session:
    """A Session with `board` running the firmware of `project_dir`.

    host: built with tiny.build.host.build_host, run over a pipe. Emulated: built with pio (or
    `elf`), run on QEMU. Real boards: the firmware must already be flashed (tiny flash); `port`
    is its serial port (e.g. /dev/ttyACM0) or any pyserial URL."""
    project_dir = Path(project_dir)
    if board.is_host:
        from tiny.build.host import build_host  # noqa: PLC0415

        exe = build_host(project_dir, sanitize=sanitize)
        return Session(PipeTransport([str(exe)], name="host"), board_name="host",
                       timeout=timeout)
    if board.emulated:
        return open_qemu_session(board, elf or firmware_elf(board, project_dir),
                                 timeout=timeout, preload=preload)
    if not port:
        raise TinyError(f"{board.name} is a real board: flash it (tiny flash DIR) and pass its "
                        f"serial port (--port /dev/ttyACM0)")
    return Session(SerialTransport(port, baud=board.uart.baud, name=board.name),
                   board_name=board.name, timeout=timeout)


__all__ = ["QemuTransport", "firmware_elf", "open_qemu_session", "open_session"]
