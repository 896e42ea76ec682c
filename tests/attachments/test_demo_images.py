"""The demo's portraits are real PNGs, different for each seed."""

from __future__ import annotations

import struct
import zlib

from opencortex.attachments.demo_images import avatar_png


def decode_png(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and the raw scanlines of an 8-bit RGB PNG (checking every chunk's CRC)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, width, height, idat = 8, 0, 0, b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc
        if kind == b"IHDR":
            width, height, depth, colour, _c, _f, _i = struct.unpack(">IIBBBBB", body)
            assert (depth, colour) == (8, 2)
        elif kind == b"IDAT":
            idat += body
        position += 12 + length
    return width, height, zlib.decompress(idat)


def test_avatars_are_valid_and_different():
    width, height, raw = decode_png(avatar_png(3, 64))
    assert (width, height) == (64, 64) and len(raw) == 64 * (1 + 64 * 3)
    assert (
        len({raw[row * (1 + 64 * 3) + 1 + 32 * 3 : row * (1 + 64 * 3) + 4 + 32 * 3] for row in range(64)})
        >= 3
    )
    assert avatar_png(1) != avatar_png(2)
