"""Geometry: GeoJSON ``Point`` or ``MultiPoint`` (per ``geoType``), longitude first."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from opencortex import faults
from opencortex.model.problems import child_path
from opencortex.model.properties import options as read
from opencortex.model.properties.base import PropertyDefinition, WriteContext
from opencortex.model.properties.options import Option
from opencortex.model.properties.scalars import MAX_INDEXED_BYTES

MAX_POINTS = 1000


class GeometryProperty(PropertyDefinition):
    type_name = "Geometry"
    type_options = (Option("geoType", read.choice("Point", "MultiPoint"), "Point"),)

    def coerce_value(self, value: Any, path: str, ctx: WriteContext, previous: Any) -> dict[str, Any]:
        geo_type = self.options.get("geoType", "Point")
        if not isinstance(value, dict) or set(value) != {"type", "coordinates"}:
            raise faults.invalid_value(
                f'A GeoJSON {{"type": "{geo_type}", "coordinates": [...]}} is expected.', path=path
            )
        if value["type"] != geo_type:
            raise faults.invalid_value(
                f"This property holds {geo_type} geometries.", path=child_path(path, "type")
            )
        coordinates_path = child_path(path, "coordinates")
        coordinates = value["coordinates"]
        if geo_type == "Point":
            return {"type": geo_type, "coordinates": _position(coordinates, coordinates_path)}
        if not isinstance(coordinates, list) or len(coordinates) > MAX_POINTS:
            raise faults.invalid_coordinate(
                f"A list of at most {MAX_POINTS} [longitude, latitude] positions is expected.",
                path=coordinates_path,
            )
        positions = [
            _position(point, child_path(coordinates_path, index)) for index, point in enumerate(coordinates)
        ]
        if self.indexed and (size := _index_text_size(positions)) > MAX_INDEXED_BYTES:
            raise faults.too_large(
                f"An indexed MultiPoint holds at most {MAX_INDEXED_BYTES} bytes as text (this one has "
                f"{size}): use fewer points or shorter coordinates.",
                path=coordinates_path,
            )
        return {"type": geo_type, "coordinates": positions}


def _position(value: Any, path: str) -> list[float | int]:
    if not isinstance(value, list) or len(value) != 2 or not all(_is_number(axis) for axis in value):
        raise faults.invalid_coordinate(
            "Must be a valid 2 element coordinate array [longitude, latitude].", path=path
        )
    longitude, latitude = value
    if not -180 <= longitude <= 180:
        raise faults.invalid_coordinate("Longitude must be between -180 and 180.", path=child_path(path, 0))
    if not -90 <= latitude <= 90:
        raise faults.invalid_coordinate("Latitude must be between -90 and 90.", path=child_path(path, 1))
    return [longitude, latitude]


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _index_text_size(positions: list[list[float | int]]) -> int:
    """About the bytes of a MultiPoint in PostgreSQL's index (jsonb as text, numbers in plain
    notation: 1e-7 is 0.0000001); a Point never comes near the limit."""
    numbers = sum(len(format(Decimal(repr(axis)), "f")) for position in positions for axis in position)
    return len('{"type": "MultiPoint", "coordinates": []}') + numbers + 6 * len(positions)
