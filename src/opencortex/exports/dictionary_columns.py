"""What each column of a CSV export holds, for its data dictionary: a Cortex type and a label.

A column is a path into the documents as reads show them (``c_visits[0].c_when``,
``c_site.c_name``). It is described by walking that path through what the export read:

- a property, at any depth inside Documents, has its own type and label: ``c_visits[0].c_when``
  is ``Date``, "When". A cell holds one value, so an array's columns have the element's type
  (``c_tags[0]``: ``String``); a Binary shown as an array of bytes has ``Number`` ones;
- a system property has the type and label of ``instances.system_properties`` (``created``:
  ``Date``, "Created"; ``owner._id``: ``ObjectId``, "Owner"); a Document element's ``_id`` is
  ``ObjectId``, "Id";
- a reference shows ``{_id, object}``, and both carry the reference's label: ``c_site._id`` is
  ``ObjectId``, "Site". Expanded, its other columns are the referenced object's properties
  (system ones included) with their own types, labelled with the reference's label, then
  ``LABEL_SEPARATOR``, then their own: ``c_site.c_name`` is ``String``, "Site: Name". A reference
  expanded inside it adds its label in turn ("Site: Region: Name");
- the parts of a File (its facet's keys, and each other facet under ``facets``) and of a
  Geometry have fixed types and labels: ``c_photo.mime`` is ``String``, "Photo: MIME type";
- inside an Any (and the Logs' ``dat``, ``err`` and ``trc``) there are no definitions: every
  column is ``Any``, labelled with the property's label and the keys below it (``dat.n``:
  "Data: n").

Labels name properties, never positions: ``c_tags[0]`` and ``c_tags[1]`` are both "Tags"; the
column names them apart. A column that nothing describes (the read API cannot produce one) gets
None, and the dictionary leaves its type and label empty.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from opencortex.instances.system_properties import describe_system_property
from opencortex.logs import LOG_PROPERTIES
from opencortex.model.definitions import ObjectDefinition
from opencortex.model.properties import PropertyDefinition

LABEL_SEPARATOR = ": "

Description = tuple[str, str]  # (Cortex type, label)
DescribeColumn = Callable[[str], Description | None]
FindObject = Callable[[str], ObjectDefinition | None]
"""An object's definition by name (for expanded references); None when there is none."""

# One step of a column: a key, the positions after it, then "." when more follows.
_STEP = re.compile(r"([^.\[]+)((?:\[\d+\])*)(\.|$)")
_POSITIONS = re.compile(r"\[\d+\]")

# A File's value: its root facet's keys, and the other facets under ``facets`` (each with the same
# keys). ``fault`` is a document of the store's: its keys are described as an Any's.
_FACET_PARTS: dict[str, Description] = {
    "name": ("String", "Name"),
    "filename": ("String", "Filename"),
    "mime": ("String", "MIME type"),
    "state": ("Number", "State"),
    "size": ("Number", "Size"),
    "ETag": ("String", "ETag"),
    "sha256": ("String", "SHA-256"),
    "location": ("Number", "Location"),
    "storageId": ("String", "Storage id"),
    "creator": ("ObjectId", "Creator"),
    "uploaded": ("Date", "Uploaded"),
    "path": ("String", "Path"),
    "url": ("String", "URL"),
    "originalPath": ("String", "Original path"),
    "copyFrom": ("String", "Copied from"),
    "fault": ("Any", "Fault"),
}
_FACETS_KEY = "facets"
_FACETS_LABEL = "Facet"
_GEOMETRY_PARTS: dict[str, Description] = {"type": ("String", "Type"), "coordinates": ("Number", "Coordinates")}

# The Logs' labels, beside their types (``logs.LOG_PROPERTIES``); names after cortex-api.md 4.4.
LOG_LABELS: dict[str, str] = {
    "_id": "Id", "object": "Object", "org": "Org", "req": "Request", "pid": "Principal",
    "oid": "Original principal", "beg": "Began", "end": "Ended", "src": "Source", "lvl": "Level",
    "dat": "Data", "err": "Error", "trc": "Trace", "sts": "Status", "exp": "Expires", "created": "Created",
    "src_id": "Source id",
}  # fmt: skip


@dataclass(frozen=True)
class _Level:
    """What the keys at one depth of a document name."""

    properties: Mapping[str, PropertyDefinition]
    prefix: str  # the labels of the references expanded on the way here, each with the separator
    system: bool = False  # an instance (the exported one or an expanded one): its system properties
    element: bool = False  # a Document (or an element of a Document array): its ``_id``


class ColumnDescriber:
    """``describe(column) -> (type, label) | None`` for the columns of one export's documents.

    Expanded references are described with their objects' definitions, from ``find_object`` (read
    once per object)."""

    def __init__(self, root: _Level, find_object: FindObject | None = None) -> None:
        self._root = root
        self._find_object = find_object
        self._objects: dict[str, ObjectDefinition | None] = {}

    def __call__(self, column: str) -> Description | None:
        level, at = self._root, 0
        while True:
            step = _STEP.match(column, at)
            if step is None:
                return None
            name, indexed, more = step.group(1), bool(step.group(2)), step.group(3) == "."
            at = step.end()
            rest = column[at:] if more else ""
            prop = level.properties.get(name)
            if prop is None:
                return _unnamed(level, name, indexed, rest)
            label = level.prefix + prop.label
            kind = prop.type_name
            if not more:
                return ("Number" if kind == "Binary" and indexed else kind, label)
            if kind == "Document":
                level = _Level(getattr(prop, "properties", {}), level.prefix, element=True)
            elif kind == "Reference":
                if rest in ("_id", "object"):  # the reference itself, expanded or not
                    return ("ObjectId" if rest == "_id" else "String", label)
                level = self._expanded(prop, label)
            elif kind == "File":
                return _file_part(label, rest)
            elif kind == "Geometry":
                return _fixed_part(_GEOMETRY_PARTS, label, rest)
            elif kind == "Any":
                return _any_part(label, rest)
            else:
                return None

    def _expanded(self, prop: PropertyDefinition, label: str) -> _Level:
        """The level inside an expanded reference: the referenced object's properties."""
        source = str(prop.option("sourceObject"))
        if source not in self._objects:
            self._objects[source] = self._find_object(source) if self._find_object is not None else None
        definition = self._objects[source]
        properties = all_properties(definition) if definition is not None else {}
        return _Level(properties, label + LABEL_SEPARATOR, system=True)


def describe_instance_columns(definition: ObjectDefinition, find_object: FindObject | None = None) -> DescribeColumn:
    """Columns of an object's instances (or a List's): system properties, then every property of
    the object and of its object types."""
    return ColumnDescriber(_Level(all_properties(definition), "", system=True), find_object)


def describe_element_columns(properties: Mapping[str, PropertyDefinition],
                             find_object: FindObject | None = None) -> DescribeColumn:
    """Columns of a document array's elements: their ``_id`` and the array's properties."""
    return ColumnDescriber(_Level(properties, "", element=True), find_object)


def describe_log_column(column: str) -> Description | None:
    """A column of the Logs (``logs.LOG_PROPERTIES`` with ``LOG_LABELS``)."""
    step = _STEP.match(column)
    if step is None or step.group(1) not in LOG_PROPERTIES:
        return None
    name, indexed, more = step.group(1), bool(step.group(2)), step.group(3) == "."
    kind, label = LOG_PROPERTIES[name], LOG_LABELS[name]
    if kind == "Any":
        return _any_part(label, column[step.end():] if more else "")
    return None if indexed or more else (kind, label)


def all_properties(definition: ObjectDefinition) -> dict[str, PropertyDefinition]:
    """The object's properties and those of each of its object types."""
    merged = dict(definition.properties)
    for object_type in definition.object_types.values():
        for name, prop in object_type.properties.items():
            merged.setdefault(name, prop)
    return merged


def _unnamed(level: _Level, name: str, indexed: bool, rest: str) -> Description | None:
    """A key that is no property of the level: a system property, or an element's ``_id``."""
    if indexed:
        return None
    if level.element and name == "_id" and not rest:
        return ("ObjectId", level.prefix + "Id")
    if level.system:
        described = describe_system_property(f"{name}.{rest}" if rest else name)
        if described is not None:
            return (described[0], level.prefix + described[1])
    return None


def _file_part(label: str, rest: str) -> Description:
    """A key of a File's value; ``facets[i].<key>``: a key of another of its facets."""
    head, _, tail = rest.partition(".")
    if tail and _POSITIONS.sub("", head) == _FACETS_KEY and head != _FACETS_KEY:
        return _fixed_part(_FACET_PARTS, label + LABEL_SEPARATOR + _FACETS_LABEL, tail)
    return _fixed_part(_FACET_PARTS, label, rest)


def _fixed_part(parts: Mapping[str, Description], label: str, rest: str) -> Description:
    """A key of a value whose keys are known (File, Geometry); ``Any`` for any other key, or for
    what lies below a key that is not an ``Any`` itself."""
    head, _, tail = rest.partition(".")
    known = parts.get(_POSITIONS.sub("", head))
    if known is None or (tail and known[0] != "Any"):
        return _any_part(label, rest)
    kind, part_label = known
    label += LABEL_SEPARATOR + part_label
    return _any_part(label, tail) if tail else (kind, label)


def _any_part(label: str, rest: str) -> Description:
    """A column inside an Any: its keys below the property, without positions."""
    keys = _POSITIONS.sub("", rest)
    return ("Any", f"{label}{LABEL_SEPARATOR}{keys}" if keys else label)
