"""The demo's portraits: real PNGs, uploaded through the upload code, readable through the API."""

from __future__ import annotations

import struct
import zlib

from opencortex.attachments.demo_images import attach_demo_images, avatar_png


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


def test_attach_demo_images(world):
    ids = [world.patient_id, world.new_patient(), world.new_patient()]
    filled = attach_demo_images(world.runtime, world.platform.code, instance_ids=ids, size=48)
    assert sorted(filled) == sorted(ids)
    for instance_id in ids:
        facet = world.admin.get(
            f"c_patients/{instance_id}/c_photo/content", headers={"Accept": "application/json"}
        )
        assert facet.json()["state"] == 2 and facet.json()["mime"] == "image/png"
        image = world.admin.get(f"c_patients/{instance_id}/c_photo/content", headers={"Accept": "image/*"})
        assert image.headers["content-type"] == "image/png"
        assert decode_png(image.content)[:2] == (48, 48)
    assert world.usage()["files"] == 3
    # Running it again changes nothing.
    assert attach_demo_images(world.runtime, world.platform.org, instance_ids=ids) == []
    assert (
        attach_demo_images(
            world.runtime, world.platform.org, count=2, principal=world.platform.admin["email"], replace=True
        )
        != []
    )
    assert world.usage()["files"] == 3
