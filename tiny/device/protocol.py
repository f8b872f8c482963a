"""tiny device protocol v1, host side: COBS framing, CRC-32, request/reply payloads.

See docs/protocol.md. A frame on the wire is ``COBS(payload || crc32le(payload)) 0x00``.
Pure functions, no I/O: the transports move bytes, the session sequences requests.
"""
from __future__ import annotations

import enum
import struct
import zlib
from dataclasses import dataclass

from tiny.ir import TinyError

VERSION = 1
MAX_BODY = 1024  # default; the device reports its own value in INFO (max_body)
SEQ_UNTRUSTED = 0xFFFF
REQ_HEADER = struct.Struct("<BBH")  # version, cmd, seq
REPLY_HEADER = struct.Struct("<BBHB")  # version, cmd|0x80, seq, status


class DeviceError(TinyError):
    """The board did not answer, answered with an error, or could not be reached."""


class BoardReset(DeviceError):
    """The board reset itself (its watchdog) instead of answering: it is running again, the session
    still works, but what it held in RAM (inputs, trained weights, the step counter) is gone."""

    def __init__(self, msg: str, cause: str = "watchdog", resets: int = 0, during: str = "") -> None:
        super().__init__(msg)
        self.cause = cause
        self.resets = resets
        self.during = during


class ProtocolError(DeviceError):
    """A frame could not be decoded (bad COBS, too short, wrong CRC)."""


class CrcError(ProtocolError):
    """The frame decoded but its CRC-32 does not match: corrupted in transit."""


class Cmd(enum.IntEnum):
    INFO = 0x01
    WRITE_INPUT = 0x02
    INVOKE = 0x03
    READ_OUTPUT = 0x04
    READ_TENSOR = 0x05
    PING = 0x06
    QUIT = 0x07
    LOAD_INPUT = 0x08
    WATCHDOG_TEST = 0x09
    RESET_STATE = 0x0A


class Status(enum.IntEnum):
    OK = 0
    BAD_FRAME = 1
    BAD_CRC = 2
    BAD_VERSION = 3
    UNKNOWN_CMD = 4
    BAD_ARG = 5
    TOO_LARGE = 6
    MODEL_ERROR = 7
    RESET = 8   # unsolicited, seq 0xFFFF: the board was just reset by its watchdog


# Names of the training commands (codes in tiny/train/device.py, checked against train.c by
# tests/unit/test_constants.py), for messages only.
TRAIN_CMD_NAMES = ("TRAIN_INFO", "TRAIN_STEP", "SET_HPARAMS", "READ_PARAM", "WRITE_PARAM", "SET_STEPS", "EVAL",
                   "PARAM_SIZE")


def cmd_name(cmd: int) -> str:
    """Readable command name for messages."""
    try:
        return Cmd(cmd).name
    except ValueError:
        if 0x10 <= cmd < 0x10 + len(TRAIN_CMD_NAMES):
            return TRAIN_CMD_NAMES[cmd - 0x10]
        return f"0x{cmd:02x}"


def status_name(status: int) -> str:
    try:
        return Status(status).name
    except ValueError:
        return f"status {status}"


def cobs_encode(data: bytes) -> bytes:
    """Canonical COBS: no 0x00 in the result; a full 254-byte run at the end adds no block."""
    out = bytearray()
    i, n = 0, len(data)
    while True:
        j = data.find(b"\0", i, min(i + 254, n))
        run = (min(i + 254, n) if j < 0 else j) - i
        out.append(run + 1)
        out += data[i:i + run]
        i += run
        if i >= n:
            break
        if run < 254:
            i += 1  # the zero this block stands for
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Inverse of cobs_encode (also accepts the non-canonical trailing 0x01 block)."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        code = data[i]
        if code == 0:
            raise ProtocolError("COBS: zero byte inside a frame")
        i += 1
        block = data[i:i + code - 1]
        if len(block) != code - 1:
            raise ProtocolError("COBS: block runs past the end of the frame")
        if 0 in block:
            raise ProtocolError("COBS: zero byte inside a frame")
        out += block
        i += code - 1
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


def encode_frame(payload: bytes) -> bytes:
    """Payload -> wire bytes, including the trailing 0x00 delimiter."""
    return cobs_encode(payload + struct.pack("<I", zlib.crc32(payload))) + b"\0"


def decode_frame(wire: bytes) -> bytes:
    """Wire bytes (delimiter optional) -> payload; raises ProtocolError / CrcError."""
    if wire.endswith(b"\0"):
        wire = wire[:-1]
    raw = cobs_decode(wire)
    if len(raw) < 4:
        raise ProtocolError(f"frame too short ({len(raw)} bytes)")
    payload, crc = raw[:-4], struct.unpack("<I", raw[-4:])[0]
    if zlib.crc32(payload) != crc:
        raise CrcError("CRC mismatch")
    return payload


def request(cmd: int, seq: int, body: bytes = b"", version: int = VERSION) -> bytes:
    """Request payload (not yet framed)."""
    return REQ_HEADER.pack(version, cmd, seq) + body


@dataclass(frozen=True)
class Reply:
    version: int
    cmd: int  # without the 0x80 reply bit
    seq: int
    status: int
    body: bytes

    @property
    def message(self) -> str:
        return self.body.decode("ascii", "replace")


def parse_reply(payload: bytes) -> Reply:
    if len(payload) < REPLY_HEADER.size:
        raise ProtocolError(f"reply too short ({len(payload)} bytes)")
    version, cmd, seq, status = REPLY_HEADER.unpack_from(payload)
    if not cmd & 0x80:
        raise ProtocolError(f"frame 0x{cmd:02x} is not a reply")
    return Reply(version, cmd & 0x7F, seq, status, payload[REPLY_HEADER.size:])


def reply(cmd: int, seq: int, status: int, body: bytes = b"") -> bytes:
    """Reply payload; used by tests and fake devices."""
    return REPLY_HEADER.pack(VERSION, cmd | 0x80, seq, status) + body


def parse_info(body: bytes) -> dict[str, int | str]:
    """INFO text (key=value lines) -> dict; numeric values become ints (not board/model/hash)."""
    info: dict[str, int | str] = {}
    for line in body.decode("ascii", "replace").splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        if key not in ("board", "model", "hash") and value.isdigit():
            info[key] = int(value)
        else:
            info[key] = value
    return info
