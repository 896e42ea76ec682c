"""Property access through the URL: ``/{plural}/{id}/{prop}[/{element _id}][/{sub}...]``.

Reads walk the serialised document (so access control is exactly that of a full read); writes
turn the URL path into the body of an ordinary update.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opencortex import faults

_MISSING = object()


def read_path(document: Mapping[str, Any], parts: list[str]) -> Any:
    """The value at ``parts``: document keys, document-array elements by ``_id``, array indexes."""
    value: Any = document
    for depth, part in enumerate(parts):
        path = ".".join(parts[: depth + 1])
        if isinstance(value, Mapping):
            value = value.get(part, _MISSING)
        elif isinstance(value, list):
            value = _element(value, part)
        else:
            value = _MISSING
        if value is _MISSING:
            raise faults.property_not_found(path=path)
    return value


def _element(values: list[Any], part: str) -> Any:
    for element in values:
        if isinstance(element, Mapping) and element.get("_id") == part:
            return element
    if part.isdigit() and len(part) < 10 and int(part) < len(values):  # an index, not an ObjectId
        return values[int(part)]
    return _MISSING


def body_for_set(stored: Mapping[str, Any], parts: list[str], value: Any) -> dict[str, Any]:
    """The update body that sets ``parts`` to ``value`` and leaves everything else alone."""
    if len(parts) == 1:
        return {parts[0]: value}
    head, rest = parts[0], parts[1:]
    current = stored.get(head)
    if isinstance(current, list):
        element_id = rest[0]
        if not any(isinstance(item, Mapping) and item.get("_id") == element_id for item in current):
            raise faults.property_not_found(path=".".join(parts[:2]))
        elements = [
            ({"_id": item["_id"], **body_for_set(item, rest[1:], value)} if len(rest) > 1 else value)
            if isinstance(item, Mapping) and item.get("_id") == element_id
            else {"_id": item["_id"]} if isinstance(item, Mapping) else item
            for item in current
        ]
        if len(rest) == 1 and isinstance(value, Mapping):
            elements = [
                {**value, "_id": element_id} if isinstance(item, Mapping) and item.get("_id") == element_id
                else item for item in elements
            ]
        return {head: elements}
    if current is None or isinstance(current, Mapping):
        return {head: body_for_set(current or {}, rest, value)}
    raise faults.property_not_found(path=".".join(parts[:2]))


def body_for_push(stored: Mapping[str, Any], name: str, values: list[Any]) -> dict[str, Any]:
    """Appending to an array: existing elements are kept (document elements by ``_id``)."""
    current = stored.get(name) or []
    kept = [{"_id": item["_id"]} if isinstance(item, Mapping) and "_id" in item else item for item in current]
    return {name: kept + values}


def body_for_pull(stored: Mapping[str, Any], name: str, value: str) -> tuple[dict[str, Any], bool]:
    """Removing from an array by element ``_id`` or, for primitives, every equal value."""
    current = stored.get(name) or []
    kept = []
    removed = False
    for item in current:
        if isinstance(item, Mapping):
            if item.get("_id") == value:
                removed = True
                continue
            kept.append({"_id": item["_id"]})
        elif _equal(item, value):
            removed = True
        else:
            kept.append(item)
    return {name: kept}, removed


def _equal(stored: Any, text: str) -> bool:
    """URL segments are text; compare them with stored primitives of any JSON type."""
    if isinstance(stored, bool):
        return text in ("true", "false") and stored == (text == "true")
    if isinstance(stored, (int, float)):
        try:
            return float(text) == stored
        except ValueError:
            return False
    return str(stored) == text
