"""Protocol v1 framing on the host side, cross-checked against the firmware's C COBS/CRC."""
from __future__ import annotations

import ctypes
import random
import struct
import zlib

import pytest

from tests.kernels.cbuild import build_lib
from tiny.device import protocol as P


def test_cobs_known_vectors() -> None:
    # From the COBS paper / Wikipedia examples.
    cases = [
        (b"", b"\x01"),
        (b"\x00", b"\x01\x01"),
        (b"\x00\x00", b"\x01\x01\x01"),
        (b"\x00\x11\x00", b"\x01\x02\x11\x01"),
        (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
        (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44"),
        (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
    ]
    for raw, enc in cases:
        assert P.cobs_encode(raw) == enc
        assert P.cobs_decode(enc) == raw


def test_cobs_long_runs() -> None:
    r254 = bytes(range(1, 255))                 # 254 non-zero bytes: one full block
    assert P.cobs_encode(r254) == b"\xff" + r254
    r255 = bytes(range(1, 256))                 # 255: full block + 1
    assert P.cobs_encode(r255) == b"\xff" + r255[:254] + b"\x02\xff"
    z255 = b"\x00" + r254                        # Wikipedia: 00 01..FE
    assert P.cobs_encode(z255) == b"\x01\xff" + r254
    r_then_zero = r254 + b"\x00"
    assert P.cobs_encode(r_then_zero) == b"\xff" + r254 + b"\x01\x01"
    for data in (r254, r255, z255, r_then_zero, bytes(253) + r254, b"\x07" * 1000):
        enc = P.cobs_encode(data)
        assert 0 not in enc
        assert P.cobs_decode(enc) == data
    # The non-canonical trailing empty block after a full block still decodes.
    assert P.cobs_decode(b"\xff" + r254 + b"\x01") == r254


def test_cobs_rejects_garbage() -> None:
    for bad in (b"\x05\x11\x22", b"\x00", b"\x03\x11\x00", b"\x02"):
        with pytest.raises(P.ProtocolError):
            P.cobs_decode(bad)


def test_cobs_random_round_trip() -> None:
    rng = random.Random(1)
    for _ in range(2000):
        n = rng.choice([0, 1, 2, 253, 254, 255, 256, 508, 509, rng.randrange(0, 1200)])
        zeros = rng.random()
        data = bytes(0 if rng.random() < zeros else rng.randrange(1, 256) for _ in range(n))
        enc = P.cobs_encode(data)
        assert 0 not in enc
        assert len(enc) <= len(data) + len(data) // 254 + 1
        assert P.cobs_decode(enc) == data


def test_frame_round_trip_and_crc() -> None:
    payload = P.request(P.Cmd.PING, 7, b"\x00hello\x00" * 50)
    wire = P.encode_frame(payload)
    assert wire.endswith(b"\x00") and 0 not in wire[:-1]
    assert P.decode_frame(wire) == payload
    assert P.decode_frame(wire[:-1]) == payload
    raw = P.cobs_decode(wire[:-1])
    assert struct.unpack("<I", raw[-4:])[0] == zlib.crc32(payload)
    flipped = bytearray(raw)
    flipped[3] ^= 0x10
    with pytest.raises(P.CrcError):
        P.decode_frame(P.cobs_encode(bytes(flipped)))
    with pytest.raises(P.ProtocolError):
        P.decode_frame(P.cobs_encode(b"\x01\x02"))


def test_reply_parse() -> None:
    rep = P.parse_reply(P.reply(P.Cmd.INVOKE, 0x1234, P.Status.BAD_ARG, b"nope"))
    assert (rep.version, rep.cmd, rep.seq, rep.status, rep.message) == (1, 3, 0x1234, 5, "nope")
    with pytest.raises(P.ProtocolError):
        P.parse_reply(P.request(P.Cmd.INFO, 1))  # no reply bit
    with pytest.raises(P.ProtocolError):
        P.parse_reply(b"\x01\x81")


def test_parse_info() -> None:
    info = P.parse_info(b"proto=1\nboard=host\nhash=0123456789012345\nmax_body=1024\njunk\n")
    assert info == {"proto": 1, "board": "host", "hash": "0123456789012345", "max_body": 1024}


@pytest.fixture(scope="module")
def clib() -> ctypes.CDLL:
    lib = build_lib(["protocol/cobs.c", "protocol/crc32.c"])
    lib.tiny_crc32.restype = ctypes.c_uint32
    lib.tiny_crc32.argtypes = [ctypes.c_uint32, ctypes.c_char_p, ctypes.c_uint32]
    for f in (lib.tiny_cobs_encode, lib.tiny_cobs_decode):
        f.restype = ctypes.c_uint32
        f.argtypes = [ctypes.c_char_p, ctypes.c_uint32, ctypes.c_char_p, ctypes.c_uint32]
    return lib


def test_c_crc32_matches_zlib(clib: ctypes.CDLL) -> None:
    rng = random.Random(2)
    assert clib.tiny_crc32(0, b"123456789", 9) == 0xCBF43926
    for n in (0, 1, 3, 64, 1000):
        data = rng.randbytes(n)
        assert clib.tiny_crc32(0, data, n) == zlib.crc32(data)
        # chained
        k = n // 2
        assert clib.tiny_crc32(clib.tiny_crc32(0, data[:k], k), data[k:], n - k) == zlib.crc32(data)


def test_c_cobs_matches_python(clib: ctypes.CDLL) -> None:
    rng = random.Random(3)
    for _ in range(500):
        n = rng.choice([0, 1, 254, 255, 509, rng.randrange(0, 1100)])
        data = bytes(0 if rng.random() < 0.1 else rng.randrange(1, 256) for _ in range(n))
        out = ctypes.create_string_buffer(n + n // 254 + 2)
        m = clib.tiny_cobs_encode(data, n, out, len(out))
        enc = out.raw[:m]
        assert enc == P.cobs_encode(data)
        dec = ctypes.create_string_buffer(max(m, 1))
        k = clib.tiny_cobs_decode(enc, m, dec, len(dec))
        assert dec.raw[:k] == data
    # Too small an output buffer and malformed input are errors, not overflows.
    assert clib.tiny_cobs_encode(b"\x01" * 10, 10, ctypes.create_string_buffer(5), 5) == 0xFFFFFFFF
    assert clib.tiny_cobs_decode(b"\x05\x11", 2, ctypes.create_string_buffer(8), 8) == 0xFFFFFFFF
    assert clib.tiny_cobs_decode(b"\x03\x11\x22", 3, ctypes.create_string_buffer(1), 1) == 0xFFFFFFFF
