"""Any (arbitrary JSON) and Binary (bytes, base64 in JSON): never indexed, never arrays."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from opencortex import faults
from opencortex.model.properties import options as read
from opencortex.model.properties.base import MISSING, PropertyDefinition, WriteContext
from opencortex.model.properties.options import Option
from opencortex.model.properties.scalars import check_text

MAX_SIZE = 1024 * 1024  # both types cap maxSize at 1 MiB


class AnyProperty(PropertyDefinition):
    """Any JSON value, stored as is; ``maxSize`` limits its serialised length (0 = unlimited)."""

    type_name = "Any"
    indexable = False
    arrayable = False
    static_defaults = False
    env_defaults = frozenset({"[]", "{}"})
    type_options = (
        Option("serializeData", read.boolean, True),
        Option("stubValue", read.choice("[]", "{}"), None),
        Option("maxSize", read.integer(0, MAX_SIZE), 0),
    )

    def coerce_value(self, value: Any, path: str, ctx: WriteContext, previous: Any) -> Any:
        try:
            size = len(orjson.dumps(value))
        except TypeError:
            raise faults.invalid_value("A JSON value is expected.", path=path) from None
        limit = self.options.get("maxSize", 0)
        if limit and size > limit:
            raise faults.too_large(f"Value too large ({size} / {limit} bytes).", path=path)
        _check_strings(value, path)
        return value

    def env_default(self, name: str, ctx: WriteContext) -> Any:
        return [] if name == "[]" else {} if name == "{}" else MISSING

    def serialise(self, stored: Any) -> Any:
        if stored is None and self.options.get("stubValue"):
            return [] if self.options["stubValue"] == "[]" else {}
        return stored


def _check_strings(value: Any, path: str) -> None:
    """Refuse NUL anywhere inside (keys included): PostgreSQL's jsonb cannot store it."""
    if isinstance(value, str):
        check_text(value, path)
    elif isinstance(value, list):
        for item in value:
            _check_strings(item, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key, path)
            _check_strings(item, path)


class BinaryProperty(PropertyDefinition):
    """Bytes, written and stored as base64; reads follow ``outputEncoding`` (exports use base64)."""

    type_name = "Binary"
    indexable = False
    arrayable = False
    type_options = (
        Option("outputEncoding", read.choice("base64", "hex", "array", "utf8", "raw"), "base64"),
        Option("maxSize", read.integer(1, MAX_SIZE), 10240),
    )

    def coerce_value(self, value: Any, path: str, ctx: WriteContext, previous: Any) -> str:
        if not isinstance(value, str):
            raise faults.invalid_value("A base64 string is expected.", path=path)
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise faults.invalid_value("The value is not valid base64.", path=path) from None
        limit = self.options.get("maxSize", 10240)
        if len(data) > limit:
            raise faults.too_large(f"Buffer too large ({len(data)} / {limit}).", path=path)
        return base64.b64encode(data).decode("ascii")

    def serialise_element(self, stored: Any) -> Any:
        encoding = self.options.get("outputEncoding", "base64")
        if encoding in ("base64", "raw"):  # JSON cannot carry raw bytes: raw reads as base64 here
            return stored
        data = base64.b64decode(stored)
        if encoding == "hex":
            return data.hex()
        if encoding == "array":
            return list(data)
        return data.decode("utf-8", errors="replace")
