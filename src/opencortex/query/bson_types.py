"""Cortex's ``$type`` names, and which stored JSON values each one matches.

Cortex keeps instances in MongoDB, where every value has a BSON type; ``$type`` picks values by
that type. OpenCortex keeps bodies as JSON, so the BSON type a value would have is read from two
things: its JSON type, and the type of the property it belongs to (``Field.type``). This module
is the one statement of that mapping; ``compile.py`` (SQL) and ``evaluate.py`` (Python) both
follow it.

- ``string``, ``date``, ``objectId`` (and ``binData``): a JSON string, named by the property's
  type. Dates are stored as ISO text (``YYYY-MM-DD`` for ``dateOnly``), ObjectIds and References
  as hex text, Binary as base64 text: a Date property's strings are ``date``, an ObjectId's or a
  Reference's are ``objectId``, a Binary's are ``binData``, every other string (String and Any
  properties) is ``string``.
- ``bool``, ``null``, ``array``, ``object``: the JSON type of the same name (a Document, a
  Geometry or an Any holding an object is ``object``). ``null`` is a null actually stored, never
  a missing property.
- ``int``, ``long``, ``double``: numbers, by value, as Cortex (JavaScript numbers) stores them: a
  whole number from -2^31 to 2^31-1 is ``int`` (``5`` and ``5.0`` alike); Cortex stores every
  other number as a double, but OpenCortex keeps integers to 64 bits exactly, so a whole number
  beyond 32 bits and within 64 is ``long``; any other number is ``double``.
- ``regex``, ``timestamp``, ``decimal``, ``minKey``, ``maxKey``: no JSON value has these types, so
  they match nothing (they are accepted, as Cortex accepts them).
"""

from __future__ import annotations

from typing import Any, Literal

# Cortex's list, in its order (cortex-api.md §7.2.1).
TYPE_NAMES = (
    "double", "string", "object", "array", "binData", "objectId", "bool", "date", "null", "regex", "int",
    "timestamp", "long", "decimal", "minKey", "maxKey",
)

# What a type name asks of a stored value: a JSON type, or, for numbers, a class of number.
StoredKind = Literal["string", "boolean", "null", "array", "object", "int", "long", "double"]

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# The name a property type gives its stored strings (any type not listed: "string").
_TEXT_NAMES = {"Date": "date", "ObjectId": "objectId", "Reference": "objectId", "Binary": "binData"}
_JSON_NAMES: dict[str, StoredKind] = {
    "bool": "boolean", "null": "null", "array": "array", "object": "object", "int": "int", "long": "long",
    "double": "double",
}


def stored_kind(name: str, field_type: str) -> StoredKind | None:
    """What ``$type: name`` matches among the stored values of a property of ``field_type``;
    None when no stored value can have that type."""
    if name in ("string", "date", "objectId", "binData"):
        return "string" if _TEXT_NAMES.get(field_type, "string") == name else None
    return _JSON_NAMES.get(name)


def number_class(value: int | float) -> StoredKind:
    """``int``, ``long`` or ``double`` for a JSON number (see the module's docstring)."""
    # A float must lie strictly within 64 bits: -2^63 as a double is written -9.223372036854776e18,
    # which PostgreSQL reads as the decimal -9223372036854776000, beyond them.
    if isinstance(value, float) and (not value.is_integer() or not -(2.0**63) < value < 2.0**63):
        return "double"
    whole = int(value)
    if INT32_MIN <= whole <= INT32_MAX:
        return "int"
    return "long" if INT64_MIN <= whole <= INT64_MAX else "double"


def python_kind(value: Any) -> StoredKind | None:
    """The kind of a value as the evaluator holds it (decoded JSON)."""
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):  # before numbers: Python counts a bool as an int
        return "boolean"
    if isinstance(value, int | float):
        return number_class(value)
    if value is None:
        return "null"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else None
