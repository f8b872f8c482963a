"""Run firmware on an emulated board: qemu-system-arm with the UART on a local TCP socket.

    with launch(get_board("qemu-m4-256k"), elf) as q:
        t = SerialTransport(q.url)          # "socket://127.0.0.1:PORT"

QEMU waits (wait=on) until the host connects before it starts the guest, so no output is lost.
nodelay=on matters: without it every request/reply pays Nagle's 40 ms. Exit codes come through
semihosting (SYS_EXIT_EXTENDED). close() (also run at exit) terminates QEMU and frees the port.
"""
from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from pathlib import Path

from tiny.boards import Board
from tiny.ir import TinyError

QEMU = "qemu-system-arm"
_LIVE: "weakref.WeakSet[QemuProcess]" = weakref.WeakSet()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int, pid: int | None = None) -> bool:
    """True if something listens on 127.0.0.1:port — with `pid`, only if that process owns the
    listening socket: another program (a Ray worker, a second QEMU) may have taken the port between
    the probe and QEMU's bind, and connecting to it would look like a board that never answers.
    (Reads /proc: probing with connect() would take QEMU's single serial connection.)"""
    want = f":{port:04X}"
    inodes = set()
    try:
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                parts = line.split()
                if parts[1].endswith(want) and parts[3] == "0A":  # 0A = LISTEN
                    inodes.add(parts[9])
    except OSError:
        return False
    if not inodes or pid is None:
        return bool(inodes)
    try:
        fds = Path(f"/proc/{pid}/fd")
        return any(os.readlink(fd) in {f"socket:[{i}]" for i in inodes} for fd in fds.iterdir())
    except OSError:
        return False


def die_with_parent() -> None:
    """In the child before exec: end QEMU when the process that started it dies (a killed test or
    Ray worker must not leave an emulator spinning; it runs in its own session, so no signal of the
    parent's terminal reaches it). Linux prctl(PR_SET_PDEATHSIG, SIGTERM); elsewhere nothing."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)   # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class QemuProcess:
    """A running QEMU. `url` is the pyserial URL of the board's UART."""

    def __init__(self, argv: list[str], port: int, log: Path, plugin_log: Path | None,
                 board: Board) -> None:
        self.argv = argv
        self.port = port
        self.url = f"socket://127.0.0.1:{port}"
        self.log = log
        self.plugin_log = plugin_log
        self.board = board
        self._final_output: str | None = None
        self._final_plugin: str | None = None
        self._log_file = open(log, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log_file,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     preexec_fn=die_with_parent)
        _LIVE.add(self)

    def _wait_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise TinyError(f"QEMU ({self.board.qemu_machine}) exited with code "
                                f"{self.proc.returncode} at start:\n{self.output()[-2000:]}")
            if _listening(self.port, self.proc.pid):
                return
            if "Address already in use" in self.output() or "Failed to bind" in self.output():
                raise TinyError(f"QEMU could not bind 127.0.0.1:{self.port}: Address already in use")
            time.sleep(0.005)
        self.close()
        raise TinyError(f"QEMU did not open its serial port within {timeout:g}s")

    def output(self) -> str:
        """What QEMU printed (semihosting output, warnings)."""
        if self._final_output is not None:
            return self._final_output
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def plugin_output(self) -> str:
        if self._final_plugin is not None:
            return self._final_plugin
        try:
            return self.plugin_log.read_text() if self.plugin_log else ""
        except OSError:
            return ""

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the guest to exit (semihosting exit code). TimeoutExpired if it does not."""
        return self.proc.wait(timeout=timeout)

    def close(self) -> int | None:
        """Stop QEMU (if still running) and reap it; idempotent."""
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            except ProcessLookupError:
                pass
        if not self._log_file.closed:
            self._log_file.close()
            self._final_output = self.output()
            if self.plugin_log is not None and self.plugin_log.parent == self.log.parent:
                self._final_plugin = self.plugin_output()
            shutil.rmtree(self.log.parent, ignore_errors=True)  # our private temp dir
        _LIVE.discard(self)
        return self.proc.returncode

    def __enter__(self) -> "QemuProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        except Exception:
            pass


@atexit.register
def _close_all() -> None:
    for q in list(_LIVE):
        q.close()


def qemu_argv(board: Board, elf: Path, port: int, *, plugin: Path | None = None,
              plugin_args: dict[str, str | int] | None = None, plugin_log: Path | None = None,
              preload: list[tuple[Path, int]] | None = None) -> list[str]:
    argv = [QEMU, "-machine", board.qemu_machine, "-nographic", "-monitor", "none",
            "-semihosting-config", "enable=on,target=native", "-kernel", str(elf),
            "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on"]
    for path, addr in preload or []:
        argv += ["-device", f"loader,file={path},addr={addr:#x},force-raw=on"]
    if plugin is not None:
        spec = ",".join([f"file={plugin}", *(f"{k}={v}" for k, v in (plugin_args or {}).items())])
        argv += ["-plugin", spec, "-d", "plugin"]
        if plugin_log is not None:
            argv += ["-D", str(plugin_log)]
    return argv


def launch(board: Board, elf: Path, *, plugin: Path | None = None,
           plugin_args: dict[str, str | int] | None = None, log: Path | None = None,
           preload: list[tuple[Path, int]] | None = None, start_timeout: float = 10.0
           ) -> QemuProcess:
    """Start QEMU for `board` running `elf`; returns once the serial socket listens.

    plugin / plugin_args: a TCG plugin (-plugin file=...,k=v); its output goes to `log`
    (or a temp file; QemuProcess.plugin_output()). preload: (file, address) pairs loaded raw
    into guest memory before start (-device loader), for inputs too big for the UART."""
    if not board.emulated or not board.qemu_machine:
        raise TinyError(f"board {board.name} is not emulated (no qemu_machine)")
    if shutil.which(QEMU) is None:
        raise TinyError(f"{QEMU} not found: apt-get install qemu-system-arm (make setup)")
    elf = Path(elf)
    if not elf.exists():
        raise TinyError(f"{elf} does not exist")
    tmp = Path(tempfile.mkdtemp(prefix="tiny-qemu-"))
    plugin_log = None
    if plugin is not None:
        plugin_log = Path(log) if log is not None else tmp / "plugin.log"
    last_err: TinyError | None = None
    for _attempt in range(3):  # the free port may be taken between probe and bind
        port = _free_port()
        argv = qemu_argv(board, elf, port, plugin=plugin, plugin_args=plugin_args,
                         plugin_log=plugin_log, preload=preload)
        q = QemuProcess(argv, port, tmp / "qemu.log", plugin_log, board)
        try:
            q._wait_listening(start_timeout)
            return q
        except TinyError as e:
            q.close()
            last_err = e
            if "Address already in use" not in q.output():
                break
    assert last_err is not None
    raise last_err


def running() -> int:
    """Number of QEMU processes launched here and not yet closed (for tests)."""
    return sum(1 for q in list(_LIVE) if q.alive())


__all__ = ["QemuProcess", "launch", "qemu_argv", "running"]
