"""A conversation with one board running tiny firmware (protocol v1, docs/protocol.md).

    from tiny.device.session import Session, host_session
    from tiny.device.transport import SerialTransport

    with Session(SerialTransport("socket://127.0.0.1:4444"), board_name="mps2-an386",
                 timeout=5.0) as s:
        s.check_model(expected_hash)
        outputs = s.run([x])          # list of raw output bytes

    with host_session(firmware_path) as s: ...   # the `host` board, over a pipe

``Session(transport, board_name="device", timeout=5.0, retries=3)``: ``timeout`` is per request
(seconds until the reply must be complete); ``retries`` is how often a request is resent when
its reply arrives corrupted or the board reports BAD_CRC/BAD_FRAME. A timeout or a lost
connection closes the transport (ending a host process / QEMU the transport owns) and raises
DeviceError; an error status from the board raises DeviceError and keeps the session usable.

A board with a watchdog (INFO watchdog_ms > 0) that hangs in a request resets itself and sends a
RESET notice: the request raises BoardReset (a DeviceError) at once and the session stays usable
(the board runs again, its RAM state is gone). If the notice is lost, a timed-out request asks
INFO once more and raises BoardReset when watchdog_resets went up.
"""
from __future__ import annotations

import os
import struct
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tiny.device.protocol import (MAX_BODY, SEQ_UNTRUSTED, VERSION, BoardReset, Cmd, DeviceError,
                                  ProtocolError, Status, cmd_name, decode_frame, encode_frame,
                                  parse_info, parse_reply, request, status_name)
from tiny.device.transport import PipeTransport, Transport, TransportClosed

__all__ = ["BoardReset", "DeviceError", "Session", "host_session"]

_RETRY_STATUSES = (Status.BAD_CRC, Status.BAD_FRAME)


class _NoReply(Exception):
    """No frame within a handshake attempt's wait (internal: the handshake sends again)."""


class Session:
    def __init__(self, transport: Transport, board_name: str = "device", timeout: float = 5.0,
                 retries: int = 3) -> None:
        self.transport = transport
        self.board_name = board_name
        self.timeout = timeout
        self.retries = retries
        self._seq = 0
        self._info: dict[str, Any] | None = None
        self.last_cycles = 0  # from the last run()
        self.closed = False
        self.watchdog_resets = 0    # the board's count when last seen (INFO / RESET notice)
        self.last_reset: dict[str, Any] | None = None   # the last RESET notice's fields
        self._stale: list[int] = []   # seqs of handshake attempts that timed out (late replies are skipped)

    # -- plumbing -------------------------------------------------------------------------
    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) % SEQ_UNTRUSTED  # 0xFFFF is reserved for untrusted replies
        return self._seq

    def _fatal(self, msg: str, cause: BaseException | None = None) -> DeviceError:
        """Close everything (no orphan process) and build the error to raise."""
        diag = self.transport.diagnostics().strip()
        self.close()
        if diag:
            msg += "\n--- board output ---\n" + diag
        err = DeviceError(msg)
        err.__cause__ = cause
        return err

    def request(self, cmd: int, body: bytes = b"", timeout: float | None = None,
                _first_contact: bool = False) -> bytes:
        """Send one request and return the OK reply's body; DeviceError otherwise."""
        if self.closed:
            raise DeviceError(f"session with {self.board_name} is closed")
        timeout = self.timeout if timeout is None else timeout
        name = cmd_name(cmd)
        sent: list[int] = []
        last_problem = ""
        for _attempt in range(self.retries + 1):
            seq = self._next_seq()
            sent.append(seq)
            try:
                # Leading 0x00 ends any partial garbage the board may hold; it ignores empty frames.
                self.transport.write(b"\0" + encode_frame(request(cmd, seq, body)))
            except TransportClosed as e:
                raise self._fatal(f"lost connection to {self.board_name} sending {name}: {e}", e)
            retry = False
            while not retry:
                try:
                    wire = self.transport.read_frame(timeout)
                except TimeoutError as e:
                    if _first_contact:
                        self._stale = (self._stale + sent)[-64:]   # their replies may still come
                        raise _NoReply from e
                    reset = self._probe_reset(name, timeout)
                    if reset is not None:
                        raise reset from e
                    raise self._fatal(f"no reply from {self.board_name} within {timeout:g}s to "
                                      f"{name}; is the board running this firmware?", e)
                except TransportClosed as e:
                    raise self._fatal(f"lost connection to {self.board_name} waiting for the "
                                      f"reply to {name}: {e}", e)
                try:
                    rep = parse_reply(decode_frame(wire))
                except ProtocolError as e:
                    last_problem = f"corrupted reply ({e})"
                    retry = True
                    continue
                if rep.seq == SEQ_UNTRUSTED and rep.status == Status.RESET:
                    notice = parse_info(rep.body)
                    self._note_reset(notice)
                    if _first_contact:
                        continue   # a reset before this session's first request: nothing was lost
                    raise self._reset_error(name, notice)
                if rep.seq == SEQ_UNTRUSTED and rep.status in _RETRY_STATUSES:
                    last_problem = f"board reported {status_name(rep.status)}: {rep.message}"
                    retry = True
                    continue
                if rep.seq != seq and rep.seq != SEQ_UNTRUSTED:
                    if rep.seq in sent or rep.seq in self._stale or _first_contact:
                        continue  # late reply to an earlier attempt of this request
                    raise DeviceError(f"{self.board_name} answered {name} with seq {rep.seq}, "
                                      f"expected {seq}")
                if rep.status != Status.OK:
                    raise DeviceError(f"{self.board_name} answered {status_name(rep.status)} to "
                                      f"{name}: {rep.message}")
                if rep.version != VERSION:
                    raise DeviceError(f"{self.board_name} speaks protocol {rep.version}, tiny "
                                      f"speaks {VERSION}; rebuild the firmware")
                if rep.cmd != cmd or rep.seq != seq:
                    raise DeviceError(f"{self.board_name} answered {cmd_name(rep.cmd)} "
                                      f"(seq {rep.seq}) to {name} (seq {seq})")
                return rep.body
        raise DeviceError(f"{name} to {self.board_name} failed {self.retries + 1} times: "
                          f"{last_problem}")

    def _note_reset(self, fields: dict[str, Any]) -> None:
        self.last_reset = dict(fields)
        self.watchdog_resets = int(fields.get("watchdog_resets", self.watchdog_resets + 1) or 0)
        self._info = None          # what the board reports (reset_cause, counts) changed

    def _reset_error(self, name: str, fields: dict[str, Any]) -> BoardReset:
        n = fields.get("watchdog_resets", "?")
        ms = fields.get("watchdog_ms", "?")
        return BoardReset(f"{self.board_name} was reset by its watchdog during {name} (no progress for "
                          f"{ms} ms; watchdog reset #{n} since power-on): it runs again, but its RAM "
                          f"state (inputs, trained weights, step counter) is the flashed firmware's",
                          cause=str(fields.get("reset_cause", "watchdog")), resets=int(n) if n != "?" else 0,
                          during=name)

    def _probe_reset(self, name: str, timeout: float) -> BoardReset | None:
        """After a timeout on a board with a watchdog: did it reset (and its RESET notice get lost)?"""
        info = self._info or {}
        ms = int(info.get("watchdog_ms", 0) or 0)
        if not ms:
            return None
        known = self.watchdog_resets
        try:
            now = self.handshake(timeout=min(max(2.0, 2 * ms / 1000 + 1.0), 30.0), _fatal=False)
        except (_NoReply, DeviceError):
            return None
        if int(now.get("watchdog_resets", 0) or 0) > known and now.get("reset_cause") == "watchdog":
            self._note_reset(now)
            self._info = now
            return self._reset_error(name, now)
        return None

    def handshake(self, timeout: float | None = None, every: float = 1.0,
                  _fatal: bool = True) -> dict[str, Any]:
        """INFO, re-sent every `every` s until the board answers or `timeout` passes.

        A freshly started board may drop what arrives before its UART receiver is on (STM32
        USARTs under a loaded emulator), so the first request must not rely on one write."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                self._info = parse_info(self.request(Cmd.INFO, timeout=max(0.05, min(every, left)),
                                                     _first_contact=True))
                self.watchdog_resets = int(self._info.get("watchdog_resets", 0) or 0)
                return dict(self._info)
            except _NoReply:
                if time.monotonic() >= deadline:
                    if not _fatal:
                        raise
                    raise self._fatal(f"no reply from {self.board_name} within {timeout:g}s to "
                                      f"INFO; is the board running this firmware?") from None

    # -- commands -------------------------------------------------------------------------
    def info(self, refresh: bool = False) -> dict[str, Any]:
        if self._info is None or refresh:
            self._info = parse_info(self.request(Cmd.INFO))
            self.watchdog_resets = int(self._info.get("watchdog_resets", 0) or 0)
        return dict(self._info)

    def watchdog_test(self, when: int = 0) -> None:
        """WATCHDOG_TEST: make the board hang on purpose (when=0: now; else the next request of
        command `when` hangs). The board resets itself: BoardReset (now) / from that request."""
        self.request(Cmd.WATCHDOG_TEST, bytes([when]))

    @property
    def max_body(self) -> int:
        return int(self.info().get("max_body", MAX_BODY))

    def check_model(self, expected_hash: str) -> None:
        """Refuse to talk to firmware built for a different model (or codegen options)."""
        info = self.info()
        if info.get("hash") != expected_hash:
            raise DeviceError(
                f"{self.board_name} runs model {info.get('model', '?')!r} with hash "
                f"{info.get('hash', '?')}, but this model's hash is {expected_hash}; "
                f"build and flash the firmware for this model")

    def ping(self, data: bytes = b"tiny") -> bytes:
        echo = self.request(Cmd.PING, data)
        if echo != data:
            raise DeviceError(f"{self.board_name} echoed {echo!r} to PING {data!r}")
        return echo

    def write_input(self, index: int, array: np.ndarray | bytes) -> None:
        if isinstance(array, (bytes, bytearray)):
            data = bytes(array)
        else:
            data = np.ascontiguousarray(array).tobytes()
        want = self.info().get(f"input{index}_bytes")
        if want is not None and len(data) != want:
            raise DeviceError(f"input {index} of the model on {self.board_name} is {want} bytes, "
                              f"got {len(data)}")
        src = getattr(self, "preloaded", {}).get(data)
        if src is not None:   # already in the board's preloaded RAM: a copy instead of the UART
            self.request(Cmd.LOAD_INPUT, struct.pack("<BII", index, src, len(data)))
            return
        chunk = self.max_body - 5
        for off in range(0, max(len(data), 1), chunk):
            self.request(Cmd.WRITE_INPUT, struct.pack("<BI", index, off) + data[off:off + chunk])

    def invoke(self, stop_after: int = -1, timeout: float | None = None) -> int:
        """Run the model (ops 0..stop_after); returns cycles (0 where the board has no counter)."""
        body = self.request(Cmd.INVOKE, struct.pack("<i", stop_after), timeout)
        return struct.unpack("<I", body)[0]

    def reset_state(self) -> None:
        """Put the model's variable (state) tensors back to their reset values (RESET_STATE)."""
        self.request(Cmd.RESET_STATE, b"")

    def _read(self, cmd: int, head: bytes, nbytes: int) -> bytes:
        out = bytearray()
        chunk = self.max_body
        while len(out) < nbytes:
            n = min(chunk, nbytes - len(out))
            part = self.request(cmd, head + struct.pack("<IH", len(out), n))
            if len(part) != n:
                raise DeviceError(f"{self.board_name} returned {len(part)} bytes, asked for {n}")
            out += part
        return bytes(out)

    def read_output(self, index: int, nbytes: int | None = None) -> bytes:
        if nbytes is None:
            nbytes = int(self.info().get(f"output{index}_bytes", 0))
        return self._read(Cmd.READ_OUTPUT, struct.pack("<B", index), nbytes)

    def read_tensor(self, tid: int, nbytes: int) -> bytes:
        return self._read(Cmd.READ_TENSOR, struct.pack("<H", tid), nbytes)

    def run(self, inputs: Sequence[np.ndarray | bytes], stop_after: int = -1) -> list[bytes]:
        """Write every input, invoke, read every output (raw bytes, as laid out in the arena)."""
        info = self.info()
        if len(inputs) != info.get("n_inputs", len(inputs)):
            raise DeviceError(f"the model on {self.board_name} takes {info['n_inputs']} inputs, "
                              f"got {len(inputs)}")
        for i, x in enumerate(inputs):
            self.write_input(i, x)
        self.last_cycles = self.invoke(stop_after)
        return [self.read_output(i) for i in range(int(info.get("n_outputs", 0)))]

    def quit(self) -> None:
        """Ask the firmware to exit (host process / QEMU), then close the transport."""
        if not self.closed:
            try:
                self.request(Cmd.QUIT, timeout=min(self.timeout, 2.0))
            except DeviceError as e:
                # A board that exits as asked may close the line before its reply is out
                # (QEMU ends with the firmware): that is the QUIT done, not a failure.
                if "lost connection" not in str(e) or "exited with code 0" not in str(e):
                    raise
            finally:
                self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.transport.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def host_session(firmware: Path | str, timeout: float = 5.0, retries: int = 3) -> Session:
    """Start a host-board firmware (from tiny.build.host.build_host) and open a session."""
    env = dict(os.environ)
    # LeakSanitizer needs ptrace, which containers often forbid; the firmware never mallocs.
    env.setdefault("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=0")
    try:
        transport = PipeTransport([str(firmware)], env=env, name="host")
    except TransportClosed as e:
        raise DeviceError(f"cannot start the host board: {e}") from e
    return Session(transport, board_name="host", timeout=timeout, retries=retries)
