"""What the export form offers for ``paths``, ``include`` and ``expand``: an object's properties,
nested Document properties under their parents. The choices only help pick; the export's own
validation decides what is accepted."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from opencortex.model.definitions import ObjectDefinition
from opencortex.model.properties import DocumentProperty, PropertyDefinition, ReferenceProperty


@dataclass(frozen=True)
class PropertyChoice:
    path: str
    label: str
    type: str
    depth: int
    """0 for a property of the object, 1 for one inside a Document, ..."""
    indexed: bool
    """Only indexed properties can be named in a ``where``."""


@dataclass(frozen=True)
class PropertyChoices:
    paths: tuple[PropertyChoice, ...]
    include: tuple[PropertyChoice, ...]
    """Optional properties: left out unless included."""
    expand: tuple[PropertyChoice, ...]
    """Expandable references."""

    def to_json(self) -> dict[str, Any]:
        return {name: [asdict(choice) for choice in getattr(self, name)] for name in ("paths", "include", "expand")}


def property_choices(definition: ObjectDefinition) -> PropertyChoices:
    properties = list(definition.properties.values())
    for object_type in definition.object_types.values():
        properties += object_type.properties.values()
    walked = list(_walk(properties, "", 0))
    unique = {path: (prop, depth) for path, prop, depth in reversed(walked)}  # the first definition of a path wins
    ordered = [(path, *unique[path]) for path in dict.fromkeys(path for path, _prop, _depth in walked)]
    return PropertyChoices(
        paths=tuple(_choice(path, prop, depth) for path, prop, depth in ordered),
        include=tuple(_choice(path, prop, depth) for path, prop, depth in ordered if prop.optional),
        expand=tuple(_choice(path, prop, 0) for path, prop, depth in ordered
                     if depth == 0 and isinstance(prop, ReferenceProperty) and prop.option("expandable")),
    )


def _walk(properties: Iterable[PropertyDefinition], prefix: str, depth: int
          ) -> Iterator[tuple[str, PropertyDefinition, int]]:
    for prop in properties:
        if not prop.readable:
            continue
        path = prefix + prop.name
        yield path, prop, depth
        if isinstance(prop, DocumentProperty):
            yield from _walk(prop.properties.values(), path + ".", depth + 1)


def _choice(path: str, prop: PropertyDefinition, depth: int) -> PropertyChoice:
    kind = prop.type_name + ("[]" if prop.array else "")
    return PropertyChoice(path=path, label=prop.label, type=kind, depth=depth, indexed=prop.indexed)
