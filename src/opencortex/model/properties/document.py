"""Document: a nested object with its own ``properties``. Elements of document arrays get ``_id``s.

Writing a single document merges into the stored one (sub-properties not named keep their values).
Writing a document array replaces the array; an element whose ``_id`` matches a stored element
is merged onto it, any other element is new and gets a fresh ``_id`` unless it brings one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opencortex import faults
from opencortex.ids import is_object_id, new_object_id
from opencortex.model.problems import Problems, child_path
from opencortex.model.properties import options as read
from opencortex.model.properties.base import MISSING, PropertyDefinition, WriteContext
from opencortex.model.properties.fields import write_fields
from opencortex.model.properties.options import Option

MAX_CHILDREN = 100


class DocumentProperty(PropertyDefinition):
    type_name = "Document"
    indexable = False
    extra_keys = frozenset({"properties"})
    type_options = (Option("uniqueKey", read.text(1, 64), None),)

    def __init__(self, id: str, name: str, options: dict[str, Any]) -> None:
        super().__init__(id, name, options)
        self.properties: dict[str, PropertyDefinition] = {}

    def parse_extra(self, data: Mapping[str, Any], path: str, problems: Problems) -> None:
        # Imported here because the registry imports this module to list the types.
        from opencortex.model.properties.registry import parse_properties

        children = parse_properties(data.get("properties", []), f"{path}.properties", problems, MAX_CHILDREN)
        self.properties = {child.name: child for child in children}
        key = self.options.get("uniqueKey")
        if key is not None and key not in self.properties:
            problems.add(
                faults.invalid_definition("uniqueKey must name a child property.", path=f"{path}.uniqueKey")
            )

    def coerce_value(self, value: Any, path: str, ctx: WriteContext, previous: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise faults.invalid_value("An object is expected.", path=path)
        problems = Problems()
        body = dict(value)
        element_id: str | None = None
        if self.array:
            given = body.pop("_id", None)
            if given is not None and not (isinstance(given, str) and is_object_id(given.lower())):
                raise faults.invalid_value(
                    "An element _id is a 24-digit hex ObjectId.", path=child_path(path, "_id")
                )
            element_id = given.lower() if given is not None else new_object_id()
        result = write_fields(self.properties, body, previous, path, ctx, problems)
        problems.raise_if_any()
        return {"_id": element_id, **result} if element_id is not None else result

    def _coerce_array(self, value: Any, path: str, ctx: WriteContext, previous: Any) -> list[Any]:
        cleaned = super()._coerce_array(value, path, ctx, previous)
        seen: set[str] = set()
        for index, element in enumerate(cleaned):
            if element["_id"] in seen:
                raise faults.unique_in_array(
                    "Element _ids must be unique.", path=child_path(child_path(path, index), "_id")
                )
            seen.add(element["_id"])
        return cleaned

    def previous_element(self, item: Any, previous: Any) -> Any:
        if (
            not isinstance(item, dict)
            or not isinstance(previous, list)
            or not isinstance(item.get("_id"), str)
        ):
            return MISSING
        wanted = item["_id"].lower()
        return next((old for old in previous if isinstance(old, dict) and old.get("_id") == wanted), MISSING)

    def serialise_element(self, stored: Any) -> Any:
        if not isinstance(stored, dict):
            return stored
        out = {key: value for key, value in stored.items() if key == "_id"}
        for key, value in stored.items():
            child = self.properties.get(key)
            if child is not None and child.readable:
                out[key] = child.serialise(value)
        return out

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out["properties"] = [child.to_json() for child in self.properties.values()]
        return out
