"""The twelve property types by name, and parsing a list of property definitions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opencortex import faults
from opencortex.model.problems import Problems, child_path
from opencortex.model.properties.base import PropertyDefinition
from opencortex.model.properties.blobs import AnyProperty, BinaryProperty
from opencortex.model.properties.document import DocumentProperty
from opencortex.model.properties.file import FileProperty
from opencortex.model.properties.geometry import GeometryProperty
from opencortex.model.properties.reference import ListProperty, ReferenceProperty
from opencortex.model.properties.scalars import (
    BooleanProperty,
    DateProperty,
    NumberProperty,
    ObjectIdProperty,
    StringProperty,
)

PROPERTY_CLASSES: dict[str, type[PropertyDefinition]] = {
    cls.type_name: cls
    for cls in (
        AnyProperty,
        BinaryProperty,
        BooleanProperty,
        DateProperty,
        DocumentProperty,
        FileProperty,
        GeometryProperty,
        ListProperty,
        NumberProperty,
        ObjectIdProperty,
        ReferenceProperty,
        StringProperty,
    )
}
MAX_PROPERTIES = 500


def parse_property(data: Any, path: str, problems: Problems) -> PropertyDefinition | None:
    """One property definition, or None after adding its problems (paths start at ``path``)."""
    if not isinstance(data, Mapping):
        problems.add(faults.invalid_definition("A property definition is an object.", path=path))
        return None
    type_name = data.get("type")
    cls = PROPERTY_CLASSES.get(type_name) if isinstance(type_name, str) else None
    if cls is None:
        reason = "A property type is one of " + ", ".join(sorted(PROPERTY_CLASSES)) + "."
        if type_name is None:
            problems.add(faults.required(reason, path=f"{path}.type"))
        else:
            problems.add(faults.invalid_definition(reason, path=f"{path}.type"))
        return None
    return cls.parse(data, path, problems)


def parse_properties(
    value: Any,
    path: str,
    problems: Problems,
    max_count: int = MAX_PROPERTIES,
    taken: Mapping[str, str] | None = None,
) -> tuple[PropertyDefinition, ...]:
    """A list of property definitions with unique names.

    ``taken`` maps names already used at this level (an object type's base properties) to where
    they were defined, so a clash names both places.
    """
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > max_count:
        problems.add(
            faults.invalid_definition(f"properties is a list of at most {max_count} definitions.", path=path)
        )
        return ()
    parsed: list[PropertyDefinition] = []
    seen: dict[str, str] = dict(taken or {})
    for index, data in enumerate(value):
        prop_path = child_path(path, index)
        name = data.get("name") if isinstance(data, Mapping) else None
        if isinstance(name, str) and name in seen:
            problems.add(
                faults.invalid_definition(
                    f"Duplicate property name {name!r} (also at {seen[name]}).", path=f"{prop_path}.name"
                )
            )
            continue
        if isinstance(name, str):
            seen[name] = prop_path
        prop = parse_property(data, prop_path, problems)
        if prop is not None:
            parsed.append(prop)
    return tuple(parsed)
