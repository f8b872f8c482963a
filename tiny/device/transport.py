"""Byte transports to a board: a pipe to the host-board process, or a serial port / TCP socket.

A transport moves bytes and splits the incoming stream at 0x00 delimiters; it knows nothing
about the protocol. Interface (all transports):

- ``write(data: bytes) -> None``
- ``read_frame(timeout: float) -> bytes``: the bytes before the next 0x00 (empty frames are
  skipped); raises ``TimeoutError`` when none completes within ``timeout`` seconds and
  ``TransportClosed`` when the other end is gone.
- ``close() -> None``: idempotent; frees the port and ends any process the transport started.
- ``diagnostics() -> str``: what the other side said besides frames (e.g. a sanitizer report).
"""
from __future__ import annotations

import os
import select
import socket
import subprocess
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence

MAX_FRAME = 64 * 1024  # replies are ~1 KiB; a longer run without 0x00 is garbage


class TransportClosed(ConnectionError):
    """The board process exited, the pipe broke, or the socket was closed."""


class Transport(ABC):
    name: str = "transport"

    def __init__(self) -> None:
        self._buf = bytearray()

    @abstractmethod
    def write(self, data: bytes) -> None: ...

    @abstractmethod
    def _read_some(self, timeout: float) -> bytes:
        """Whatever bytes are available within timeout (b"" if none); TransportClosed on EOF."""

    @abstractmethod
    def close(self) -> None: ...

    def diagnostics(self) -> str:
        return ""

    def read_frame(self, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while True:
            end = self._buf.find(0)
            while end == 0:  # empty frame: skip
                del self._buf[:1]
                end = self._buf.find(0)
            if end > 0:
                frame = bytes(self._buf[:end])
                del self._buf[:end + 1]
                return frame
            if len(self._buf) > MAX_FRAME:
                # No delimiter in sight: hand back the garbage, decoding will reject it.
                frame = bytes(self._buf)
                self._buf.clear()
                return frame
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no frame within {timeout:g}s")
            self._buf += self._read_some(left)

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PipeTransport(Transport):
    """Start ``argv`` (the host-board firmware) and talk over its stdin/stdout.

    stderr goes to a temporary file so a crash report (e.g. from the sanitizers) can be shown.
    """

    def __init__(self, argv: Sequence[str | os.PathLike[str]], env: dict[str, str] | None = None,
                 name: str = "host") -> None:
        super().__init__()
        self.name = name
        self._err = tempfile.TemporaryFile()
        self._closed = True  # until the process exists
        try:
            self.proc = subprocess.Popen([str(a) for a in argv], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=self._err, bufsize=0,
                                         env=env)
        except OSError as e:
            self._err.close()
            raise TransportClosed(f"cannot start {argv[0]}: {e}") from e
        self._closed = False

    def write(self, data: bytes) -> None:
        if self._closed:
            raise TransportClosed(f"{self.name}: transport is closed")
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(data)
        except (BrokenPipeError, ValueError, OSError) as e:
            raise TransportClosed(self._exit_text()) from e

    def _read_some(self, timeout: float) -> bytes:
        if self._closed:
            raise TransportClosed(f"{self.name}: transport is closed")
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], max(timeout, 0.0))
        if not ready:
            return b""
        data = os.read(fd, 65536)
        if not data:
            raise TransportClosed(self._exit_text())
        return data

    def _exit_text(self) -> str:
        try:
            code = self.proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            return f"{self.name}: pipe closed but the process is still running"
        return f"{self.name}: process exited with code {code}"

    def diagnostics(self) -> str:
        try:
            self._err.seek(0)
            return self._err.read()[-4000:].decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Closing stdin makes the firmware exit by itself (EOF); kill it if it does not.
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                if stream:
                    stream.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __del__(self) -> None:
        # Last resort against orphans when a caller forgets close().
        try:
            if not self._closed and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        except Exception:
            pass


class SerialTransport(Transport):
    """A serial port or any pyserial URL, e.g. ``/dev/ttyACM0`` or ``socket://127.0.0.1:PORT``
    (QEMU's ``-serial tcp:...,server=on``). Connecting is retried for ``connect_timeout`` s
    because an emulator opens its socket a few ms after it starts."""

    def __init__(self, url: str, baud: int = 115200, connect_timeout: float = 5.0,
                 name: str | None = None) -> None:
        super().__init__()
        import serial  # pyserial; imported here so the rest of tiny works without it

        self.name = name or url
        self._serial_exc = serial.SerialException
        deadline = time.monotonic() + connect_timeout
        while True:
            try:
                self.port = serial.serial_for_url(url, baudrate=baud, timeout=0.1)
                break
            except (serial.SerialException, OSError) as e:
                if time.monotonic() >= deadline:
                    raise TransportClosed(f"cannot open {url}: {e}") from e
                time.sleep(0.02)
        sock = getattr(self.port, "_socket", None)  # socket:// URLs: no Nagle delay per request
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        self._closed = False

    def write(self, data: bytes) -> None:
        if self._closed:
            raise TransportClosed(f"{self.name}: transport is closed")
        try:
            self.port.write(data)
            self.port.flush()
        except (self._serial_exc, OSError) as e:
            raise TransportClosed(f"{self.name}: {e}") from e

    def _set_timeout(self, t: float) -> None:
        if self.port.timeout != t:  # on real ports every change is a tcsetattr
            self.port.timeout = t

    def _read_some(self, timeout: float) -> bytes:
        if self._closed:
            raise TransportClosed(f"{self.name}: transport is closed")
        try:
            # Block for the first byte, then take whatever else is there without waiting
            # (pyserial's socket in_waiting says only 0 or 1, so it cannot size the read).
            self._set_timeout(max(min(timeout, 0.5), 0.001))
            data = self.port.read(1)
            if data:
                self._set_timeout(0)
                data += self.port.read(65536)
            return data
        except (self._serial_exc, OSError) as e:
            raise TransportClosed(f"{self.name}: {e}") from e

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.port.close()
        except (self._serial_exc, OSError):
            pass

