"""Firmware on emulated boards: bytes and protocol frames through QEMU's TCP serial, clean
shutdown, and a clear error (no orphan QEMU) when QEMU dies mid-transfer."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import socket

import pytest

from tiny.boards import get_board, list_boards
from tiny.device.connect import open_qemu_session, open_session
from tiny.device.protocol import DeviceError
from tiny.device.qemu import _listening, launch, running
from tests.device.fixtures.board_helpers import FIXTURES, echo_elf, model_elf

pytestmark = pytest.mark.qemu
EMULATED = [b for b in list_boards() if b.emulated]


class RawSerial:
    """A plain socket to QEMU's serial port. (pyserial's socket:// flushes input right after
    connecting, which races with a banner the guest sends as soon as QEMU starts it.)"""

    def __init__(self, url: str, timeout: float) -> None:
        host, port = url.removeprefix("socket://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.f = self.sock.makefile("rwb", buffering=0)

    def readline(self) -> bytes:
        out = bytearray()
        while not out.endswith(b"\n"):
            c = self.f.read(1)
            if not c:
                break
            out += c
        return bytes(out)

    def read(self, n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            c = self.f.read(n - len(out))
            if not c:
                break
            out += c
        return bytes(out)

    def write(self, data: bytes) -> None:
        self.f.write(data)

    def close(self) -> None:
        self.f.close()
        self.sock.close()


@pytest.mark.parametrize("board", EMULATED, ids=lambda b: b.name)
def test_echo_bytes(board, tmp_path: Path) -> None:
    elf = echo_elf(board, tmp_path)
    with launch(board, elf) as q:
        s = RawSerial(q.url, timeout=5)
        assert s.readline() == f"tiny-echo {board.name}\n".encode()
        payload = bytes(range(1, 200))
        for special in (b"q", b"?", b"L", b"P"):
            payload = payload.replace(special, b"x")
        s.write(payload)
        assert s.read(len(payload)) == payload
        s.write(b"?")
        used = int(s.readline())
        assert 0 < used < board.stack_bytes  # stack painting measured something sane
        s.write(b"q")
        assert q.wait(5) == 7  # semihosting exit code
        s.close()
    assert running() == 0 and not _listening(q.port)


@pytest.mark.parametrize("name", ["qemu-f405", "qemu-m33"])
def test_protocol_frames(name: str, tmp_path: Path) -> None:
    board = get_board(name)
    elf = model_elf(board, tmp_path, "board_layers_model.c")
    with open_qemu_session(board, elf, timeout=5) as s:
        info = s.info()
        assert info["board"] == name and info["n_ops"] == 3 and info["max_body"] == 1024
        assert s.ping(bytes(range(256)) * 3) == bytes(range(256)) * 3
        x = bytes(range(16))
        out1 = s.run([x])[0]
        assert len(out1) == 16 and s.last_cycles == 0  # QEMU: no cycle counter
        assert s.run([x])[0] == out1
        assert 0 < s.info(refresh=True)["stack_used"] < board.stack_bytes
        qemu = s.transport.qemu
        s.quit()
    assert qemu.wait(5) == 0 and running() == 0


def test_open_session_builds_with_pio(tmp_path: Path) -> None:
    """The default board through the real path: write_project + pio run + QEMU."""
    from tiny.build.project import write_project

    board = get_board("qemu-m4-256k")
    proj = write_project(tmp_path / "proj", {"model.c": (FIXTURES / "board_stub_model.c").read_text()},
                         [board], {"arena_bytes": 32, "weights_bytes": 0, "io_bytes": 32})
    with open_session(board, proj, timeout=5) as s:
        assert s.run([bytes(16)])[0] == bytes([1] * 16)
        s.quit()
    assert running() == 0


def test_qemu_killed_mid_transfer(tmp_path: Path) -> None:
    board = get_board("qemu-m4-256k")
    elf = model_elf(board, tmp_path, "board_layers_model.c")
    s = open_qemu_session(board, elf, timeout=3)
    qemu = s.transport.qemu
    s.info()
    killer = threading.Timer(0.3, qemu.proc.kill)
    killer.start()
    t0 = time.monotonic()
    with pytest.raises(DeviceError) as e:
        for _ in range(100_000):
            s.ping(bytes(1000))
    elapsed = time.monotonic() - t0
    killer.join()
    assert elapsed < 0.3 + 3 + 1.0
    assert "qemu-m4-256k" in str(e.value) or "QEMU" in str(e.value)
    assert s.closed and not qemu.alive() and running() == 0
    assert not _listening(qemu.port)


@pytest.mark.parametrize("name", ["qemu-m4-256k", "qemu-m33"])
def test_preload_reaches_guest_memory(name: str, tmp_path: Path) -> None:
    """Big inputs bypass the slow UART: QEMU's loader puts them where the firmware knows."""
    board = get_board(name)
    data = bytes((i * 7 + 3) & 0xFF for i in range(64 * 1024))
    blob = tmp_path / "input.bin"
    blob.write_bytes(data)
    with launch(board, echo_elf(board, tmp_path), preload=[(blob, board.preload_origin)]) as q:
        s = RawSerial(q.url, timeout=5)
        s.readline()
        s.write(b"P")
        assert int(s.readline()) == sum(data[:1024])
        s.write(b"q")
        assert q.wait(5) == 7
        s.close()
