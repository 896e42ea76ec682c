"""Real PNG portraits for the demo's File property, made in pure Python (zlib + struct).

``attach_demo_images(runtime, org)`` draws a small avatar per instance (a head and shoulders on a
coloured background, different for each) and uploads it through the same code as a direct upload
(``uploads.upload_file``): encrypted at rest, counted against the org's storage, ready to stream.
Instances whose property already holds a ready file are left alone, so running it twice is safe.
"""

from __future__ import annotations

import colorsys
import struct
import zlib
from collections.abc import Iterable, Sequence
from typing import Any, cast

import sqlalchemy as sa

from opencortex.acl.viewer import Viewer, as_principal
from opencortex.attachments.facets import READY
from opencortex.attachments.uploads import upload_file
from opencortex.model.objects import get_object
from opencortex.model.orgs import find_org
from opencortex.runtime import Runtime
from opencortex.store.tables import documents

DEFAULT_COUNT = 24
IMAGE_SIZE = 96


def attach_demo_images(
    runtime: Runtime,
    org: dict[str, Any] | str,
    *,
    object_name: str = "c_patient",
    property_name: str = "c_photo",
    instance_ids: Iterable[str] | None = None,
    count: int = DEFAULT_COUNT,
    principal: str | None = None,
    size: int = IMAGE_SIZE,
    replace: bool = False,
) -> list[str]:
    """Upload a generated PNG into ``property_name`` of each instance; returns the ids it filled.

    ``org`` is the org row or its code; ``instance_ids`` default to the object's first ``count``
    instances. The uploads act as ``principal`` (an account ``_id`` or email) when given, else
    with full access, as the server itself.
    """
    with runtime.database.connect() as connection:
        org_row = find_org(connection, org) if isinstance(org, str) else org
        if org_row is None:
            raise ValueError(f"no org {org!r}")
        definition = get_object(connection, org_row["id"], object_name)
        viewer = (
            as_principal(connection, org_row["id"], principal) if principal else Viewer.system(org_row["id"])
        )
        statement = sa.select(documents.c.id, documents.c.body).where(
            documents.c.org_id == org_row["id"], documents.c.object == definition.name
        )
        if instance_ids is None:
            statement = statement.order_by(documents.c.id).limit(count)
        else:
            statement = statement.where(documents.c.id.in_(list(instance_ids))).order_by(documents.c.id)
        rows = cast("Sequence[tuple[str, Any]]", connection.execute(statement).all())  # (_id, body)
    filled = []
    for number, (instance_id, body) in enumerate(rows):
        current = body.get(property_name) if isinstance(body, dict) else None
        if not replace and isinstance(current, dict) and current.get("state") == READY:
            continue
        image = avatar_png(number, size)
        upload_file(
            runtime,
            viewer,
            org_row,
            definition.name,
            instance_id,
            property_name,
            f"portrait-{instance_id[-6:]}.png",
            [image],
            content_type="image/png",
        )
        filled.append(instance_id)
    return filled


def avatar_png(seed: int, size: int = IMAGE_SIZE) -> bytes:
    """A ``size`` x ``size`` RGB portrait: background hue and skin/shirt tones vary with ``seed``."""
    hue = (seed * 0.137) % 1.0
    background = _rgb(hue, 0.35, 0.92)
    shirt = _rgb((hue + 0.5) % 1.0, 0.55, 0.55)
    skins = [(241, 194, 125), (224, 172, 105), (198, 134, 66), (141, 85, 36), (255, 219, 172)]
    skin = skins[seed % len(skins)]
    hair = [(40, 30, 20), (90, 60, 30), (200, 170, 90), (120, 40, 20), (30, 30, 30)][(seed // 5) % 5]
    centre = size / 2
    head_y, head_r = size * 0.40, size * 0.20
    rows = []
    for y in range(size):
        row = bytearray(b"\x00")  # filter type 0 (None) for each scanline
        for x in range(size):
            dx, dy = x + 0.5 - centre, y + 0.5 - head_y
            colour = background
            shoulders = ((x + 0.5 - centre) / (size * 0.38)) ** 2 + (
                (y + 0.5 - size * 1.0) / (size * 0.40)
            ) ** 2
            if shoulders <= 1:
                colour = shirt
            if dx * dx + dy * dy <= head_r * head_r:
                colour = hair if dy < -head_r * 0.45 else skin
                eye_y = head_y - head_r * 0.05
                for eye_x in (centre - head_r * 0.4, centre + head_r * 0.4):
                    if (x + 0.5 - eye_x) ** 2 + (y + 0.5 - eye_y) ** 2 <= (size * 0.018) ** 2 + 1:
                        colour = (35, 35, 45)
            row += bytes(colour)
        rows.append(bytes(row))
    return png(size, size, b"".join(rows))


def png(width: int, height: int, scanlines: bytes) -> bytes:
    """A truecolour (RGB, 8 bits) PNG from filtered scanlines."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(scanlines, 9))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def _rgb(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    red, green, blue = colorsys.hsv_to_rgb(hue, saturation, value)
    return round(red * 255), round(green * 255), round(blue * 255)
