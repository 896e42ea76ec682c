"""Applying ``PUT /objects/{id}`` changes to a stored definition.

Definitions update like a document array in Cortex: a property (or object type) in the body
that matches an existing one by ``_id`` (or else by ``name``) updates it, option by option; any
other entry is added. Nothing is removed by omission. What cannot change after creation
(a property's ``name``, ``type``, ``array``; making it ``unique``; the object's ``name``) is a
fault at its path in the body. Faults of the merged definition are reported at the paths the
client wrote, through the map this module builds.
"""

from __future__ import annotations

import copy
from typing import Any

from opencortex import faults
from opencortex.faults import Fault
from opencortex.model.problems import Problems, child_path

_FIXED = {
    "name": "A property's name cannot change (add a new property instead).",
    "type": "A property's type cannot change.",
    "array": "array is set when a property is created and cannot change.",
}


class DefinitionMerge:
    """Merges changes into a definition's JSON and remembers where each merged entry came from."""

    def __init__(self) -> None:
        self.problems = Problems()
        self._paths: dict[str, str] = {}  # merged-JSON path -> the client's path

    def apply(self, current: dict[str, Any], changes: Any) -> dict[str, Any]:
        if not isinstance(changes, dict):
            raise faults.validation_failed(
                faults=[faults.invalid_definition("A definition is a JSON object.")]
            )
        merged = copy.deepcopy(current)
        for key, value in changes.items():
            if key == "name" and isinstance(value, str) and value.strip().lower() != current["name"]:
                self.problems.add(faults.invalid_definition("An object's name cannot change.", path="name"))
            elif key == "_id" and value != current["_id"]:
                self.problems.add(faults.invalid_definition("_id cannot change.", path="_id"))
            elif key == "properties":
                merged[key] = self._entries(current.get(key, []), value, key, key, self._property)
            elif key == "objectTypes":
                merged[key] = self._entries(current.get(key, []), value, key, key, self._object_type)
            elif key not in ("created", "updated"):
                merged[key] = value
        return merged

    def client_fault(self, fault: Fault) -> Fault:
        """``fault`` (and its children) with paths rewritten to where the client wrote them."""
        if fault.path is not None:
            best = max(
                (p for p in self._paths if fault.path == p or fault.path.startswith((p + ".", p + "["))),
                key=len,
                default=None,
            )
            if best is not None:
                fault.path = self._paths[best] + fault.path[len(best) :]
        for child in fault.faults:
            self.client_fault(child)
        return fault

    def _entries(
        self, current: list[Any], changes: Any, merged_path: str, client_path: str, merge: Any
    ) -> Any:
        self._paths[merged_path] = client_path
        if not isinstance(changes, list):
            return changes  # validation reports the bad shape at this path
        out = copy.deepcopy(current)
        for index, change in enumerate(changes):
            change_path = child_path(client_path, index)
            found = _match(out, change)
            if found == -2:
                self.problems.add(
                    faults.invalid_definition("No entry has this _id.", path=f"{change_path}._id")
                )
                continue
            if found == -1:
                out.append(change)
                self._paths[child_path(merged_path, len(out) - 1)] = change_path
                continue
            self._paths[child_path(merged_path, found)] = change_path
            out[found] = merge(out[found], change, child_path(merged_path, found), change_path)
        return out

    def _property(
        self, old: dict[str, Any], change: dict[str, Any], merged_path: str, client_path: str
    ) -> Any:
        for key, reason in _FIXED.items():
            if key in change and change[key] != old.get(key):
                self.problems.add(faults.invalid_definition(reason, path=f"{client_path}.{key}"))
        if change.get("unique") is True and not old.get("unique"):
            self.problems.add(
                faults.invalid_definition(
                    "Properties can only be made unique on creation.", path=f"{client_path}.unique"
                )
            )
        merged = {
            **old,
            **{key: value for key, value in change.items() if key not in (*_FIXED, "properties")},
        }
        if "properties" in change:
            merged["properties"] = self._entries(
                old.get("properties", []),
                change["properties"],
                f"{merged_path}.properties",
                f"{client_path}.properties",
                self._property,
            )
        return merged

    def _object_type(
        self, old: dict[str, Any], change: dict[str, Any], merged_path: str, client_path: str
    ) -> Any:
        if "name" in change and change["name"] != old.get("name"):
            self.problems.add(
                faults.invalid_definition("An object type's name cannot change.", path=f"{client_path}.name")
            )
        merged = {**old, **{key: value for key, value in change.items() if key not in ("name", "properties")}}
        if "properties" in change:
            merged["properties"] = self._entries(
                old.get("properties", []),
                change["properties"],
                f"{merged_path}.properties",
                f"{client_path}.properties",
                self._property,
            )
        return merged


def _match(entries: list[Any], change: Any) -> int:
    """Index of the entry ``change`` updates; -1 when it is new; -2 for an unknown ``_id``."""
    if not isinstance(change, dict):
        return -1
    if "_id" in change:
        wanted = change["_id"]
        return next((i for i, entry in enumerate(entries) if entry.get("_id") == wanted), -2)
    name = change.get("name")
    return next((i for i, entry in enumerate(entries) if name is not None and entry.get("name") == name), -1)
