"""Changing an export: ``label`` and ``description``, its only writable properties.

``PUT /exports/{id}`` sends ``{label?, description?}``; ``PATCH /exports/{id}`` sends Cortex's
operations array, ``[{op, path, value}]`` (``set``, ``unset``, ``remove``; ``$set``... too), the
same shape as an instance PATCH. Both become one ``{label?, description?}`` change, checked as
a whole: every other property is refused, by kind, in one ``validation_failed`` fault with a
child per refused path:

- what is set only when an export is created (``objects``, ``format``, ``paths``...):
  ``cortex.invalidArgument.creatableOnly``;
- what the server sets (``state``, ``dataFile``, ``stats``...): ``cortex.accessDenied.propertyUpdate``;
- anything else: ``cortex.notFound.property``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opencortex import faults
from opencortex.exports.validation import MAX_DESCRIPTION, MAX_LABEL
from opencortex.model.problems import Problems

WRITABLE = ("label", "description")
CREATABLE = frozenset({
    "objects", "format", "paths", "include", "expand", "where", "principal", "prefix", "exportFiles", "zipFiles",
    "afterScript", "storageId", "csv",
})
SYSTEM = frozenset({
    "_id", "object", "state", "stats", "progress", "expiresAt", "created", "creator", "owner", "updated", "access",
    "started", "completed", "fault", "dataFile", "sha256", "files", "events", "location",
})
OPERATIONS = frozenset({"set", "unset", "remove"})
MAX_OPERATIONS = 100


def parse_update(body: Any) -> dict[str, Any]:
    """A ``PUT`` body: the changes (``description: None`` removes it)."""
    if not isinstance(body, Mapping):
        raise faults.invalid_argument("A JSON object of the properties to change is expected.", path="body")
    problems = Problems()
    changes: dict[str, Any] = {}
    for key, value in body.items():
        if _writable(str(key), problems):
            changes[str(key)] = _value(str(key), value, problems)
    problems.raise_if_any()
    return changes


def parse_operations(body: Any) -> dict[str, Any]:
    """A ``PATCH`` body: the changes its operations make, in order (a later one wins)."""
    if body == {}:
        body = []  # an empty body reads as {}; the official client sends [] by default
    if not isinstance(body, list):
        raise faults.invalid_argument("A PATCH body is an array of operations: [{op, path, value}].", path="body")
    if len(body) > MAX_OPERATIONS:
        raise faults.invalid_argument(f"A PATCH holds at most {MAX_OPERATIONS} operations.", path="body")
    changes: dict[str, Any] = {}
    for index, raw in enumerate(body):
        try:
            changes.update(_operation(raw, index))
        except faults.Fault as fault:
            fault.index = index
            raise
    return changes


def _operation(raw: Any, index: int) -> dict[str, Any]:
    at = f"[{index}]"
    if not isinstance(raw, Mapping):
        raise faults.invalid_argument("An operation is an object {op, path, value}.", path=at)
    for key in raw:
        if key not in ("op", "path", "value"):
            raise faults.invalid_argument(f"{key!r} is not part of an operation.", path=f"{at}.{key}")
    name = raw.get("op")
    name = name[1:] if isinstance(name, str) and name.startswith("$") else name
    if name in ("push", "pull"):
        raise faults.invalid_argument(f"{name} applies to arrays; label and description are strings.",
                                      path=f"{at}.op")
    if not isinstance(name, str) or name not in OPERATIONS:  # (a list or an object is no name either)
        raise faults.invalid_argument("op is one of set, unset, remove.", path=f"{at}.op")
    path = raw.get("path", "")
    if not isinstance(path, str):
        raise faults.invalid_argument("path is a property name.", path=f"{at}.path")
    if name == "set":
        if "value" not in raw:
            raise faults.invalid_argument("set needs a value.", path=at)
        return parse_update({path: raw["value"]} if path else raw["value"])
    if "value" in raw:
        raise faults.invalid_argument(f"{name} takes no value (the path says what goes).", path=at)
    if not path:
        raise faults.invalid_argument(f"{name} needs a path.", path=f"{at}.path")
    if path == "label":
        raise faults.property_update_denied("label is required: it can be changed, not removed.", path="label")
    return parse_update({path: None})


def _writable(key: str, problems: Problems) -> bool:
    if key in WRITABLE:
        return True
    root = key.split(".")[0]
    if root in CREATABLE:
        problems.add(faults.creatable_only(f"{key} is set when the export is created; create a new export.",
                                           path=key))
    elif root in SYSTEM:
        problems.add(faults.property_update_denied(f"{key} is set by the server.", path=key))
    else:
        problems.add(faults.property_not_found(f"An export has no property {key!r}.", path=key))
    return False


def _value(key: str, value: Any, problems: Problems) -> Any:
    if key == "label":
        if not isinstance(value, str) or not 1 <= len(value.strip()) <= MAX_LABEL:
            problems.add(faults.invalid_string(f"label is 1-{MAX_LABEL} characters.", path="label"))
            return None
        return value.strip()
    if value is not None and (not isinstance(value, str) or len(value) > MAX_DESCRIPTION):
        problems.add(faults.invalid_string(f"description is at most {MAX_DESCRIPTION} characters.",
                                           path="description"))
    return value
