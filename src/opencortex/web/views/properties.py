"""What the export form offers for ``paths``, ``include`` and ``expand``: an object's properties,
nested Document properties under their parents, or the fields of the org's Logs records. The
choices only help pick; the export's own validation decides what is accepted."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from opencortex.logs import LOG_PROPERTIES, LOG_SCHEMA
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


# What each field of a Logs record holds (docs/logs.md), for the picker's labels.
LOG_LABELS = {
    "_id": "Record", "object": "Object (log)", "org": "Org", "req": "Request", "pid": "Principal",
    "oid": "Original principal", "beg": "Began", "end": "Ended", "src": "Source", "lvl": "Level",
    "dat": "What was logged", "err": "Fault", "trc": "Stack trace", "sts": "HTTP status", "exp": "Expires",
    "created": "Stored", "src_id": "Source's _id",
}


def log_choices() -> PropertyChoices:
    """The fields of a Logs record (``logs.LOG_PROPERTIES``, what an export of the Logs may name in
    ``paths``); none is optional or a reference, so ``include`` and ``expand`` offer nothing.
    A field is indexed when the Logs' ``where`` can match it (``logs.LOG_SCHEMA``)."""
    return PropertyChoices(
        paths=tuple(PropertyChoice(path=path, label=LOG_LABELS.get(path, path), type=kind, depth=0,
                                   indexed=LOG_SCHEMA.get(path) is not None)
                    for path, kind in LOG_PROPERTIES.items()),
        include=(),
        expand=(),
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
