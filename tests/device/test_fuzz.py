"""Throw >= 10,000 malformed frames at the host board: it must answer each with an error reply,
never hang or crash, and afterwards still compute correct results."""
from __future__ import annotations

import random
import struct
import time
from pathlib import Path

import numpy as np
import pytest

from tests.device.fixtures import N, build_fixture, expected
from tiny.device import protocol as P
from tiny.device.session import host_session

MAX_WIRE = 5 + 1024 + 4 + (5 + 1024 + 4) // 254 + 1  # TINY_PROTO_MAX_WIRE for max_body 1024
CMDS = [c for c in range(256) if c != P.Cmd.QUIT]   # QUIT would end the run


def _valid(rng: random.Random, seq: int) -> bytes:
    """A well-formed request with random (often nonsensical) arguments."""
    cmd = rng.choice([P.Cmd.INFO, P.Cmd.WRITE_INPUT, P.Cmd.INVOKE, P.Cmd.READ_OUTPUT,
                      P.Cmd.READ_TENSOR, P.Cmd.PING])
    body = {
        P.Cmd.INFO: b"",
        P.Cmd.WRITE_INPUT: struct.pack("<BI", rng.randrange(3), rng.choice(
            [0, rng.randrange(N + 10), 0xFFFFFFFF])) + rng.randbytes(rng.randrange(40)),
        P.Cmd.INVOKE: struct.pack("<i", rng.choice([-1, 0, 1, 2, -5, 2**31 - 1])),
        P.Cmd.READ_OUTPUT: struct.pack("<BIH", rng.randrange(3), rng.randrange(N + 10),
                                       rng.choice([0, 1, 64, 1024, 1025, 65535])),
        P.Cmd.READ_TENSOR: struct.pack("<HIH", rng.randrange(8), rng.randrange(N + 10),
                                       rng.choice([0, 4, 1024, 4000])),
        P.Cmd.PING: rng.randbytes(rng.randrange(64)),
    }[cmd]
    return P.request(cmd, seq, body)


KINDS = ["random", "random0", "truncated", "bitflip", "oversized", "version", "cmd", "short", "bigbody", "valid"]


def _case(rng: random.Random, seq: int, weights: list[float] | None = None,
          max_oversize: int = 3000) -> tuple[str, bytes]:
    """(kind, wire bytes incl. the final 0x00)."""
    kind = rng.choices(KINDS, weights=weights)[0] if weights else rng.choice(KINDS)
    if kind == "random":
        return kind, bytes(rng.randrange(1, 256) for _ in range(rng.randrange(1, 80))) + b"\0"
    if kind == "random0":
        return kind, rng.randbytes(rng.randrange(1, 80)) + b"\0"
    if kind == "truncated":
        wire = P.encode_frame(_valid(rng, seq))[:-1]
        return kind, wire[:rng.randrange(1, len(wire))] + b"\0"
    if kind == "bitflip":
        wire = bytearray(P.encode_frame(_valid(rng, seq))[:-1])
        for bit in rng.sample(range(8 * len(wire)), rng.choice([1, 1, 2, 3])):  # distinct bits
            wire[bit // 8] ^= 1 << (bit % 8)
        return kind, bytes(wire) + b"\0"
    if kind == "oversized":
        return kind, bytes(rng.randrange(1, 256) for _ in range(rng.randrange(MAX_WIRE + 1, max_oversize))
                           ) + b"\0"
    if kind == "version":
        return kind, P.encode_frame(P.request(P.Cmd.PING, seq, b"v", version=rng.choice([0, 2, 255])))
    if kind == "cmd":
        return kind, P.encode_frame(P.request(rng.choice(CMDS), seq, rng.randbytes(rng.randrange(12))))
    if kind == "short":
        return kind, P.encode_frame(rng.randbytes(rng.randrange(0, 4)))
    if kind == "bigbody":  # CRC-valid and fits the receive buffer, but body > max_body
        return kind, P.encode_frame(P.request(P.Cmd.PING, seq, b"\x01" * rng.randrange(1025, 1030)))
    return kind, P.encode_frame(_valid(rng, seq))


def _expected_replies(wire: bytes) -> int:
    """The board answers every non-empty frame between delimiters exactly once."""
    return sum(1 for seg in wire.split(b"\0") if seg)


def _fuzz(firmware: Path, n: int, seed: int) -> dict[str, int]:
    with host_session(firmware, timeout=5.0) as s:
        return fuzz_session(s, n, seed)


def fuzz_session(s, n: int, seed: int, weights: list[float] | None = None, max_oversize: int = 3000,
                 reply_timeout: float = 2.0) -> dict[str, int]:
    """Send n seeded malformed frames through an open session to the fixture model, check every
    reply, then check the board still computes the right thing."""
    rng = random.Random(seed)
    counts: dict[str, int] = {}
    if True:
        t = s.transport
        for i in range(n):
            seq = i % 0xFFFF
            kind, wire = _case(rng, seq, weights, max_oversize)
            counts[kind] = counts.get(kind, 0) + 1
            t.write(wire)
            for _ in range(_expected_replies(wire)):
                rep = P.parse_reply(P.decode_frame(t.read_frame(reply_timeout)))  # always a valid frame
                assert rep.version == 1
                if kind in ("random", "random0", "truncated", "bitflip", "short"):
                    assert rep.status != P.Status.OK, (kind, wire)
                elif kind == "oversized" or kind == "bigbody":
                    assert (rep.status, rep.seq) == (P.Status.TOO_LARGE, P.SEQ_UNTRUSTED)
                elif kind == "version":
                    assert (rep.status, rep.seq) == (P.Status.BAD_VERSION, seq)
                else:
                    assert rep.seq == seq
                if rep.seq == P.SEQ_UNTRUSTED:
                    assert rep.status in (P.Status.BAD_FRAME, P.Status.BAD_CRC, P.Status.TOO_LARGE)
        # Nothing left over, and a normal session afterwards computes the right thing.
        with pytest.raises(TimeoutError):
            t.read_frame(0.05)
        x = np.random.default_rng(seed).integers(-128, 128, N, dtype=np.int8)
        _, out0, out1 = expected(x, 17)
        assert s.run([x, np.array([17], np.int32)]) == [out0, out1]
        s.quit()
    return counts


@pytest.fixture(scope="module")
def firmware(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_fixture(tmp_path_factory.mktemp("fuzz"))


def test_fuzz_host_board(firmware: Path) -> None:
    t0 = time.monotonic()
    counts = _fuzz(firmware, 10_000, seed=1234)
    assert sum(counts.values()) == 10_000 and min(counts.values()) > 500
    assert time.monotonic() - t0 < 30


def test_fuzz_sanitized(tmp_path_factory: pytest.TempPathFactory) -> None:
    exe = build_fixture(tmp_path_factory.mktemp("fuzz-san"), sanitize=True)
    _fuzz(exe, 5_000, seed=99)
