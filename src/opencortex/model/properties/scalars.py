"""The scalar types: String, Number, Boolean, Date, ObjectId."""

from __future__ import annotations

import math
from typing import Any

from opencortex import faults
from opencortex.clock import utcnow
from opencortex.ids import is_object_id, new_object_id
from opencortex.model.problems import Problems
from opencortex.model.properties import options as read
from opencortex.model.properties.base import MISSING, PropertyDefinition, WriteContext
from opencortex.model.properties.dates import format_instant, parse_date_only, parse_instant
from opencortex.model.properties.options import Option

# Cortex numbers are JavaScript doubles: integers beyond 2^53 would silently lose precision.
MAX_SAFE_INTEGER = 2**53 - 1
# Values the server can supply at run time for an ObjectId default (the caller passes them in).
PRINCIPAL_ENV = frozenset({"ac.principal", "ac.originalPrincipal", "req._id", "req.client._id", "script._id"})
# A value of an indexed property (each element of an array) is an index entry. PostgreSQL's
# B-tree entries hold at most 2,704 bytes (with the instance's _id), and a character takes up
# to 4 bytes of UTF-8, so a limit in characters could not keep every value storable (1,024
# Chinese characters are 3,072 bytes): indexed Strings (and MultiPoint Geometries, as text)
# are limited in bytes, the same on both databases.
MAX_INDEXED_BYTES = 2048


def check_text(value: str, path: str) -> str:
    # PostgreSQL's jsonb cannot hold U+0000; refuse it here rather than fail in the database.
    if "\x00" in value:
        raise faults.invalid_value("Strings cannot contain NUL characters.", path=path)
    return value


def indexed_text_fits(value: str) -> bool:
    """True when ``value`` is short enough for an indexed property (``MAX_INDEXED_BYTES``)."""
    if len(value) <= MAX_INDEXED_BYTES // 4:  # whatever its characters
        return True
    return len(value) <= MAX_INDEXED_BYTES and utf8_length(value) <= MAX_INDEXED_BYTES


def utf8_length(value: str) -> int:
    return len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass"))


def check_indexed_text(value: str, path: str) -> str:
    if not indexed_text_fits(value):
        raise faults.invalid_string(
            f"An indexed string holds at most {MAX_INDEXED_BYTES} bytes of UTF-8 text "
            f"(this one has {utf8_length(value)}).",
            path=path,
        )
    return value


def _localization(value: Any, path: str) -> dict[str, Any]:
    settings = read.json_object()(value, path)
    if settings.get("enabled") is True:
        raise faults.invalid_definition(
            "Localized strings are not supported by this server.", path=f"{path}.enabled"
        )
    return settings


class StringProperty(PropertyDefinition):
    type_name = "String"
    type_options = (
        Option("trim", read.boolean, False),
        Option("lowercase", read.boolean, False),
        Option("uppercase", read.boolean, False),
        Option("localization", _localization, None),
    )

    def check_options(self, path: str, problems: Problems) -> None:
        if self.options.get("lowercase") and self.options.get("uppercase"):
            problems.add(
                faults.invalid_definition(
                    "A string cannot be both lowercase and uppercase.", path=f"{path}.uppercase"
                )
            )

    def coerce_value(self, value: Any, path: str, ctx: WriteContext, previous: Any) -> str:
        if not isinstance(value, str):
            raise faults.invalid_value("A string is expected.", path=path)
        # Cortex applies these before validation, so validators see the cleaned string.
        if self.options.get("trim"):
            value = value.strip()
        if self.options.get("lowercase"):
            value = value.lower()
        if self.options.get("uppercase"):
            value = value.upper()
        if self.indexed:
            check_indexed_text(value, path)
        return check_text(value, path)


class NumberProperty(PropertyDefinition):
    """A JSON number. ``min``/``max``/``allowDecimal`` here are an OpenCortex shorthand for the
    Cortex ``number`` validator's keys, which are supported too."""

    type_name = "Number"
    type_options = (
        Option("min", read.number, None),
        Option("max", read.number, None),
        Option("allowDecimal", read.boolean, True),
    )
    env_defaults = frozenset()  # Cortex's "increment" needs a per-org counter this server lacks

    def check_options(self, path: str, problems: Problems) -> None:
        low, high = self.options.get("min"), self.options.get("max")
        if low is not None and high is not None and low > high:
            problems.add(faults.invalid_definition("max must be at least min.", path=f"{path}.max"))

    def coerce_value(self, value: Any, path: str, ctx: WriteContext, previous: Any) -> int | float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise faults.invalid_value("A number is expected.", path=path)
        if abs(value) > MAX_SAFE_INTEGER:
            raise faults.number_expected(f"Numbers are limited to ±{MAX_SAFE_INTEGER}.", path=path)
        low, high = self.options.get("min"), self.options.get("max")
        if (low is not None and value < low) or (high is not None and value > high):
            raise faults.number_expected(f"Number out of range ({low} to {high}).", path=path)
        if not self.options.get("allowDecimal", True) and not float(value).is_integer():
            raise faults.number_expected("A whole number is expected.", path=path)
        return value


class BooleanProperty(PropertyDefinition):
    type_name = "Boolean"
    env_defaults = frozenset({"true", "false"})

    def coerce_value(self, value: Any, path: str, ctx: WriteContext, previous: Any) -> bool:
        if not isinstance(value, bool):
            raise faults.invalid_value("true or false is expected.", path=path)
        return value

    def env_default(self, name: str, ctx: WriteContext) -> Any:
        return name == "true"


class DateProperty(PropertyDefinition):
    """Instants stored as ISO UTC with milliseconds and ``Z``; ``dateOnly`` dates as ``YYYY-MM-DD``."""

    type_name = "Date"
    type_options = (Option("dateOnly", read.boolean, False),)
    env_defaults = frozenset({"now"})

    def coerce_value(self, value: Any, path: str, ctx: WriteContext, previous: Any) -> str:
        if self.options.get("dateOnly"):
            try:
                if isinstance(value, str):
                    return parse_date_only(value)
            except ValueError:
                pass
            raise faults.invalid_argument("String expected in YYYY-MM-DD format.", path=path)
        if not isinstance(value, str):
            raise faults.invalid_value("An ISO 8601 date string is expected.", path=path)
        try:
            return parse_instant(value)
        except ValueError:
            raise faults.invalid_value(
                "An ISO 8601 date is expected, e.g. 2024-01-02T03:04:05.000Z.", path=path
            ) from None

    def env_default(self, name: str, ctx: WriteContext) -> Any:
        now = format_instant(utcnow())
        return now[:10] if self.options.get("dateOnly") else now


class ObjectIdProperty(PropertyDefinition):
    type_name = "ObjectId"
    type_options = (
        Option("sourceObject", lambda value, path: read.text(1, 64)(value, path).lower(), None),
        Option("cascadeDelete", read.boolean, False),
    )
    env_defaults = PRINCIPAL_ENV | {"auto"}

    def check_options(self, path: str, problems: Problems) -> None:
        if self.options.get("cascadeDelete") and (self.array or not self.indexed):
            problems.add(
                faults.invalid_definition(
                    "Cascade delete properties must also be indexed and cannot be arrays.",
                    path=f"{path}.cascadeDelete",
                )
            )

    def coerce_value(self, value: Any, path: str, ctx: WriteContext, previous: Any) -> str:
        return coerce_object_id(value, path)

    def env_default(self, name: str, ctx: WriteContext) -> Any:
        if name == "auto":
            return new_object_id()
        found = ctx.env.get(name, MISSING)
        return found if found is MISSING or is_object_id(found) else MISSING


def coerce_object_id(value: Any, path: str) -> str:
    """A 24-digit hex id, stored lower-case so equal ids compare equal as strings."""
    if isinstance(value, str) and is_object_id(value.lower()):
        return value.lower()
    raise faults.invalid_value("A 24-digit hex ObjectId is expected.", path=path)
