"""The host board end to end: build the fixture model, talk protocol v1 to it over a pipe."""
from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.device.fixtures import FIXTURE_HASH, N, build_fixture, expected
from tiny.build.host import build_host
from tiny.device import protocol as P
from tiny.device.session import DeviceError, Session, host_session
from tiny.device.transport import PipeTransport, SerialTransport, Transport
from tiny.ir import TinyError


@pytest.fixture(scope="module")
def firmware(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_fixture(tmp_path_factory.mktemp("fixture"))


@pytest.fixture(scope="module")
def firmware_san(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_fixture(tmp_path_factory.mktemp("fixture-san"), sanitize=True)


@pytest.fixture
def session(firmware: Path):
    s = host_session(firmware, timeout=5.0)
    yield s
    s.close()
    assert s.transport.proc.poll() is not None  # type: ignore[attr-defined]


def _inputs(seed: int) -> tuple[np.ndarray, int]:
    rng = np.random.default_rng(seed)
    return rng.integers(-128, 128, N, dtype=np.int8), int(rng.integers(-1000, 1000))


def _full_session(s: Session) -> None:
    """info, ping, run, read_tensor: everything a compare run needs."""
    info = s.info()
    assert info["board"] == "host" and info["hash"] == FIXTURE_HASH and info["proto"] == 1
    assert (info["n_inputs"], info["n_outputs"], info["n_tensors"], info["n_ops"]) == (2, 2, 6, 2)
    assert info["input0_bytes"] == N and info["output1_bytes"] == 4 and info["max_body"] == 1024
    s.check_model(FIXTURE_HASH)
    for data in (b"", b"\x00", b"\x00" * 1024, bytes(range(256)) * 4):
        assert s.ping(data) == data
    for seed in range(3):
        x, k = _inputs(seed)
        mid, out0, out1 = expected(x, k)
        outs = s.run([x, np.array([k], np.int32)])
        assert outs == [out0, out1]
        assert s.last_cycles == 0
        assert s.read_tensor(1, N) == mid
        assert s.read_tensor(3, N) == out0
        assert s.read_tensor(0, N) == x.tobytes()


def test_full_session(session: Session) -> None:
    _full_session(session)


def test_sanitized_build(firmware_san: Path) -> None:
    with host_session(firmware_san) as s:
        _full_session(s)
        for bad in (lambda: s.read_output(0, N + 1), lambda: s.read_tensor(2, 1),
                    lambda: s.request(P.Cmd.READ_TENSOR, struct.pack("<HIH", 1, 0xFFFFFFFF, 8)),
                    lambda: s.request(P.Cmd.WRITE_INPUT, struct.pack("<BI", 0, N - 1) + b"ab")):
            with pytest.raises(DeviceError, match="BAD_ARG"):
                bad()
        s.quit()
        assert s.transport.proc.wait(timeout=5) == 0  # type: ignore[attr-defined]
        assert "runtime error" not in s.transport.diagnostics()


def test_reset_state_without_state_is_ok(session: Session) -> None:
    """RESET_STATE on a model without variable tensors: nothing to reset, answered OK."""
    session.reset_state()
    assert session.request(P.Cmd.RESET_STATE, b"") == b""


def test_stop_after_leaves_intermediate(session: Session) -> None:
    x, k = _inputs(7)
    mid, out0, _ = expected(x, k)
    session.write_input(0, x)
    session.write_input(1, np.array([k], np.int32))
    session.write_input(0, np.zeros(N, np.int8))   # overwrite: the last write wins
    session.write_input(0, x)
    session.invoke(stop_after=0)
    assert session.read_tensor(1, N) == mid
    assert session.read_output(0) != out0            # op 1 did not run
    session.invoke()
    assert session.read_output(0) == out0


def test_bad_arguments_answered(session: Session) -> None:
    cases = [
        (lambda: session.write_input(2, b"\x00"), "BAD_ARG.*index"),
        (lambda: session.request(P.Cmd.WRITE_INPUT, struct.pack("<BI", 1, 1) + b"1234"), "BAD_ARG"),
        (lambda: session.request(P.Cmd.WRITE_INPUT, struct.pack("<BI", 0, 0xFFFFFFFF) + b"1"),
         "BAD_ARG"),
        (lambda: session.request(P.Cmd.WRITE_INPUT, b"\x00\x00"), "BAD_ARG"),
        (lambda: session.request(P.Cmd.READ_OUTPUT, struct.pack("<BIH", 2, 0, 1)), "BAD_ARG"),
        (lambda: session.request(P.Cmd.READ_OUTPUT, struct.pack("<BIH", 0, N, 1)), "BAD_ARG"),
        (lambda: session.request(P.Cmd.READ_OUTPUT, struct.pack("<BIH", 0, 0, 1025)), "max_body"),
        (lambda: session.request(P.Cmd.READ_OUTPUT, struct.pack("<BIH", 0, 0xFFFFFFF0, 0x20)),
         "BAD_ARG"),
        (lambda: session.read_tensor(2, 1), "not in the arena"),
        (lambda: session.request(P.Cmd.RESET_STATE, b"\x00"), "BAD_ARG.*no body"),
        (lambda: session.read_tensor(6, 1), "out of range"),
        (lambda: session.read_tensor(0xFFFF, 1), "out of range"),
        (lambda: session.invoke(stop_after=2), "BAD_ARG"),
        (lambda: session.request(P.Cmd.INVOKE, b"\x00"), "BAD_ARG"),
        (lambda: session.request(0x0B), "UNKNOWN_CMD"),   # 0x0A is RESET_STATE
        (lambda: session.request(P.Cmd.WATCHDOG_TEST, b"\x00"), "BAD_ARG.*no watchdog"),   # never hangs the host
        (lambda: session.request(P.Cmd.WATCHDOG_TEST), "BAD_ARG"),
        (lambda: session.request(P.Cmd.LOAD_INPUT, struct.pack("<BII", 0, 0, N)), "no preloaded region"),
        (lambda: session.request(P.Cmd.LOAD_INPUT, b"\x00"), "BAD_ARG"),
        (lambda: session.request(0x10, b"train"), "UNKNOWN_CMD.*training"),
        (lambda: session.write_input(0, b"short"), "3000 bytes"),
    ]
    for call, pattern in cases:
        with pytest.raises(DeviceError, match=pattern):
            call()
    session.ping()  # still alive and in sync
    session.write_input(1, np.array([0x0BADF00D], np.int32))
    with pytest.raises(DeviceError, match="MODEL_ERROR"):
        session.invoke()
    session.write_input(1, np.array([0], np.int32))
    session.invoke()


def test_bad_version_and_request_bit(session: Session) -> None:
    t = session.transport
    t.write(P.encode_frame(P.request(P.Cmd.PING, 42, b"x", version=2)))
    rep = P.parse_reply(P.decode_frame(t.read_frame(2.0)))
    assert (rep.status, rep.seq, rep.cmd) == (P.Status.BAD_VERSION, 42, P.Cmd.PING)
    t.write(P.encode_frame(P.request(0x80 | P.Cmd.PING, 43, b"x")))
    rep = P.parse_reply(P.decode_frame(t.read_frame(2.0)))
    assert (rep.status, rep.seq) == (P.Status.UNKNOWN_CMD, 43)
    session.ping()


def test_hash_mismatch_refused(session: Session) -> None:
    with pytest.raises(DeviceError) as e:
        session.check_model("ffffffffffffffff")
    assert FIXTURE_HASH in str(e.value) and "ffffffffffffffff" in str(e.value)


def test_quit_ends_process(firmware: Path) -> None:
    s = host_session(firmware)
    s.ping()
    s.quit()
    assert s.closed and s.transport.proc.wait(timeout=5) == 0  # type: ignore[attr-defined]
    with pytest.raises(DeviceError, match="closed"):
        s.ping()


class _Hook(Transport):
    """Wraps a transport; lets a test act on writes and reads (kill, corrupt)."""

    def __init__(self, inner: PipeTransport, on_write=None, on_frame=None) -> None:
        super().__init__()
        self.inner, self.on_write, self.on_frame = inner, on_write, on_frame
        self.name, self.writes, self.frames = inner.name, 0, 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        if self.on_write:
            data = self.on_write(self, data)
        self.inner.write(data)

    def read_frame(self, timeout: float) -> bytes:
        frame = self.inner.read_frame(timeout)
        self.frames += 1
        return self.on_frame(self, frame) if self.on_frame else frame

    def _read_some(self, timeout: float) -> bytes:  # pragma: no cover - read_frame overridden
        raise NotImplementedError

    def close(self) -> None:
        self.inner.close()

    def diagnostics(self) -> str:
        return self.inner.diagnostics()


def _hooked(firmware: Path, timeout: float = 5.0, **hooks) -> tuple[Session, PipeTransport]:
    pipe = PipeTransport([str(firmware)])
    return Session(_Hook(pipe, **hooks), board_name="host", timeout=timeout), pipe


def test_killed_mid_transfer(firmware: Path) -> None:
    def kill_on_third(h: _Hook, data: bytes) -> bytes:
        if h.writes == 3:
            os.kill(h.inner.proc.pid, signal.SIGKILL)
            h.inner.proc.wait()
        return data

    s, pipe = _hooked(firmware, timeout=2.0, on_write=kill_on_third)
    t0 = time.monotonic()
    with pytest.raises(DeviceError, match="lost connection to host"):
        s.write_input(0, np.zeros(N, np.int8))
    assert time.monotonic() - t0 < 2.0
    assert s.closed and pipe.proc.poll() is not None


def test_frozen_board_times_out(firmware: Path) -> None:
    def stop_on_second(h: _Hook, data: bytes) -> bytes:
        if h.writes == 2:
            os.kill(h.inner.proc.pid, signal.SIGSTOP)
        return data

    s, pipe = _hooked(firmware, timeout=0.5, on_write=stop_on_second)
    t0 = time.monotonic()
    with pytest.raises(DeviceError, match=r"no reply from host within 0.5s to WRITE_INPUT; is the "
                                          r"board running this firmware\?"):
        s.write_input(0, np.zeros(N, np.int8))
    assert time.monotonic() - t0 < 3.0
    assert s.closed and pipe.proc.poll() is not None  # killed by close(), not orphaned


def test_retries_on_corruption(firmware: Path) -> None:
    # Corrupt the 1st and 3rd request (the board answers BAD_CRC) and the 2nd reply (bad CRC here).
    def flip_request(h: _Hook, data: bytes) -> bytes:
        if h.writes in (1, 4):
            b = bytearray(data)
            b[3] ^= 0x01 if b[3] != 0x01 else 0x02
            return bytes(b)
        return data

    def flip_reply(h: _Hook, frame: bytes) -> bytes:
        if h.frames == 3:
            b = bytearray(frame)
            b[-1] ^= 0x40 if b[-1] != 0x40 else 0x20
            return bytes(b)
        return frame

    s, pipe = _hooked(firmware, on_write=flip_request, on_frame=flip_reply)
    with s:
        assert s.ping(b"abc") == b"abc"   # write 1 corrupted -> BAD_CRC -> write 2 ok
        assert s.info()["hash"] == FIXTURE_HASH  # reply 3 corrupted -> write 4 corrupted -> 5 ok
        assert s.transport.writes == 5
    assert pipe.proc.poll() is not None


def test_gives_up_after_retries(firmware: Path) -> None:
    def always_flip(h: _Hook, frame: bytes) -> bytes:
        return frame[:-1] + bytes([frame[-1] ^ 0x08 or 0x01])

    s, _ = _hooked(firmware, on_frame=always_flip)
    with s, pytest.raises(DeviceError, match="failed 4 times"):
        s.ping()


def test_partial_frame_is_dropped(session: Session) -> None:
    t = session.transport
    t.write(b"\x05\x11\x22")           # a frame that stops mid-way
    time.sleep(1.3)                    # > TINY_PROTO_BYTE_TIMEOUT_MS: the board drops it
    t.write(P.encode_frame(P.request(P.Cmd.PING, 9, b"hi")))  # no leading 0x00
    rep = P.parse_reply(P.decode_frame(t.read_frame(2.0)))
    assert (rep.status, rep.seq, rep.body) == (P.Status.OK, 9, b"hi")
    # With the session's leading 0x00 a pending partial frame is flushed right away instead.
    t.write(b"\x05\x11")
    assert session.ping(b"again") == b"again"


def test_build_caching_and_errors(tmp_path: Path) -> None:
    exe = build_fixture(tmp_path)
    mtime = exe.stat().st_mtime_ns
    assert build_host(tmp_path) == exe and exe.stat().st_mtime_ns == mtime
    model = tmp_path / "src" / "model.c"
    model.write_text(model.read_text() + "\n/* changed */\n")
    assert build_host(tmp_path) == exe and exe.stat().st_mtime_ns != mtime
    model.write_text(model.read_text() + "\nint broken(void) { return undefined_thing; }\n")
    with pytest.raises(TinyError, match="undefined_thing"):
        build_host(tmp_path)
    with pytest.raises(TinyError, match="not a tiny project"):
        build_host(tmp_path / "nope")


def _tcp_bridge(firmware: Path, delay: float) -> tuple[int, threading.Thread]:
    """Serve the host firmware on a TCP port, as QEMU's `-serial tcp:...,server=on` would.
    Listening starts after `delay` s, to exercise SerialTransport's connect retries."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()

    def serve() -> None:
        time.sleep(delay)
        srv = socket.create_server(("127.0.0.1", port))
        conn, _ = srv.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # like QEMU's nodelay=on
        srv.close()
        proc = subprocess.Popen([str(firmware)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                bufsize=0)

        def pump_out() -> None:
            while data := os.read(proc.stdout.fileno(), 65536):
                conn.sendall(data)
            conn.close()  # firmware exited: the board "disconnects"

        out = threading.Thread(target=pump_out, daemon=True)
        out.start()
        try:
            while data := conn.recv(65536):
                proc.stdin.write(data)
        except OSError:
            pass
        proc.stdin.close()
        proc.wait(timeout=5)
        out.join(timeout=5)

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    return port, th


def test_serial_transport_over_socket(firmware: Path) -> None:
    port, th = _tcp_bridge(firmware, delay=0.2)
    t = SerialTransport(f"socket://127.0.0.1:{port}", connect_timeout=5.0)
    with Session(t, board_name="bridge", timeout=5.0) as s:
        _full_session(s)
        s.quit()
    th.join(timeout=5)
    assert not th.is_alive()
    with pytest.raises(DeviceError, match="closed"):
        s.ping()


def test_serial_transport_unreachable() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    t0 = time.monotonic()
    with pytest.raises(ConnectionError, match="cannot open"):
        SerialTransport(f"socket://127.0.0.1:{port}", connect_timeout=0.3)
    assert time.monotonic() - t0 < 2
