"""What an export reads: an object's instances, one instance's List, one instance's document array,
or the org's Logs.

``resolve_target`` decides it from ``objects`` and ``prefix``, the same way when the export is
created (``exports.validation``: ``paths``, ``include``, ``expand`` and ``where`` are checked
against what will really be read) and when it runs (``exports.sources``). So a ``prefix`` on a
List is checked against the List's source object, never against the object holding the List.

- ``OBJECT``: the instances of ``objects``.
- ``LIST``: ``<_id>.<list>``, the instances a List property of one instance lists (its source
  object's instances, narrowed by the List's own condition).
- ``DOCUMENT_ARRAY``: ``<_id>.<array>`` (or ``<_id>.<document>.<array>``), the elements of a
  document array of one instance; each element is one exported document (``_id`` and its
  properties, as a read of the instance shows them).
- ``LOGS``: the native ``logs`` object, read through the Logs API's ACL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection

from opencortex import faults
from opencortex.acl.viewer import Viewer
from opencortex.exports.jobs import ExportPrefix
from opencortex.instances.selection import Selection, parse_selection
from opencortex.instances.serialise import DocumentPlan, nameable, naming_ceiling
from opencortex.instances.service import Instances
from opencortex.logs import LOG_PROPERTIES, LOG_SCHEMA, require_log_reader
from opencortex.model.definitions import ObjectDefinition
from opencortex.model.objects import find_object
from opencortex.model.orgs import org_allowed_restricted_operators
from opencortex.model.properties import PropertyDefinition
from opencortex.query.ast import Node
from opencortex.query.parse import parse_where
from opencortex.query.schema import QueryableProperty, QuerySchema

LOGS_OBJECT, LOGS_PLURAL = "log", "logs"


class TargetKind(StrEnum):
    OBJECT = "object"
    LIST = "list"
    DOCUMENT_ARRAY = "documentArray"
    LOGS = "logs"


@dataclass(frozen=True)
class ExportTarget:
    kind: TargetKind
    definition: ObjectDefinition | None
    """Whose instances are read (for a List, its source object); for a document array, the object
    holding it; None for the Logs."""
    prefix: ExportPrefix | None = None
    array: PropertyDefinition | None = None
    """The document array (``DOCUMENT_ARRAY``)."""
    list_property: PropertyDefinition | None = None
    """The List (``LIST``)."""

    @property
    def array_path(self) -> str:
        assert self.prefix is not None and self.kind is TargetKind.DOCUMENT_ARRAY
        return self.prefix.property_path

    def element_properties(self) -> dict[str, PropertyDefinition]:
        """A document array's element properties."""
        assert self.array is not None
        children: dict[str, PropertyDefinition] = getattr(self.array, "properties", {})
        return children


def is_logs(name: object) -> bool:
    return name in (LOGS_OBJECT, LOGS_PLURAL)


def resolve_target(connection: Connection, dialect: str, org_id: str, definition: ObjectDefinition | None,
                   prefix: ExportPrefix | None, viewer: Viewer) -> ExportTarget:
    """The target of ``objects`` (``definition``; None for the Logs) and ``prefix``, as ``viewer``
    (the export's principal) sees it: the prefix's instance must be visible to it."""
    if definition is None:
        if prefix is not None:
            raise faults.invalid_argument("The Logs have no lists or document arrays: prefix cannot be used.",
                                          path="prefix")
        if not viewer.full_access:  # the system (no principal, no creator known) reads everything
            require_log_reader(viewer.roles, path="objects")
        return ExportTarget(TargetKind.LOGS, None)
    if prefix is None:
        return ExportTarget(TargetKind.OBJECT, definition)
    prop = _prefix_property(definition, prefix.property_path)
    Instances(connection, dialect, org_id, definition, viewer).get_row(prefix.instance_id)
    if prop.type_name == "List":
        source = find_object(connection, org_id, str(prop.option("sourceObject") or ""))
        if source is None:
            raise faults.source_object_not_found(path="prefix")
        return ExportTarget(TargetKind.LIST, source, prefix, list_property=prop)
    return ExportTarget(TargetKind.DOCUMENT_ARRAY, definition, prefix, array=prop)


def _prefix_property(definition: ObjectDefinition, path: str) -> PropertyDefinition:
    """A top-level List, or a document array reached through single Documents."""
    parts = path.split(".")
    found: PropertyDefinition | None = None
    for depth in range(len(parts)):
        found = definition.find_property(".".join(parts[: depth + 1]))
        if found is None:
            raise faults.invalid_argument(f"{'.'.join(parts[: depth + 1])} is not a property of {definition.name}.",
                                          path="prefix")
        last = depth == len(parts) - 1
        if not last and (found.type_name != "Document" or found.array):
            raise faults.invalid_argument(f"{found.name} is not a single Document: a prefix reaches a document "
                                          "array through Documents only.", path="prefix")
    assert found is not None
    if found.type_name == "List" and len(parts) == 1:
        return found
    if found.type_name == "Document" and found.array:
        return found
    raise faults.invalid_argument(f"{path} is neither a List nor a document array of {definition.name}.",
                                  path="prefix")


# Reading plans


def instance_plan(target: ExportTarget, viewer: Viewer, paths: Sequence[str], include: Sequence[str],
                  expand: Sequence[str]) -> DocumentPlan:
    """The read plan of an ``OBJECT``/``LIST`` export, or of the instance holding a document array
    (its selection moved under the array); faults as the read API's for a bad selection."""
    assert target.definition is not None
    if target.kind is TargetKind.DOCUMENT_ARRAY:
        check_element_selection(target, viewer, paths, include, expand)
        selection = element_selection(target.array_path, paths, include)
    else:
        selection = parse_selection(list(paths) or None, list(include), list(expand))
    return DocumentPlan.build(target.definition, viewer, selection)


def element_selection(array_path: str, paths: Sequence[str], include: Sequence[str]) -> Selection:
    """The selection of a read of the holding instance that shows exactly the array's elements as
    ``paths``/``include`` ask (an element's ``_id`` is always shown)."""
    inner = [path for path in paths if path != "_id"]
    selected = [f"{array_path}.{path}" for path in inner] if inner else [array_path]
    return parse_selection(selected, [f"{array_path}.{name}" for name in include], [])


def check_element_selection(target: ExportTarget, viewer: Viewer, paths: Sequence[str], include: Sequence[str],
                            expand: Sequence[str]) -> None:
    """Every path names an element property this viewer could read (the read plan would ignore
    an unknown one inside a Document, and an export must never silently drop what was asked)."""
    assert target.definition is not None
    ceiling = naming_ceiling(viewer, target.definition.settings)
    if expand:
        raise faults.invalid_argument(
            "expand is not available with a document-array prefix; name a reference's properties in paths "
            "(c_ref.c_name) to expand it.", path="expand")
    for name, values in (("paths", paths), ("include", include)):
        for value in values:
            if value == "_id" and name == "paths":
                continue  # an element's _id is always shown
            level: dict[str, PropertyDefinition] = target.element_properties()
            parts = value.split(".")
            for depth, part in enumerate(parts):
                prop = level.get(part)
                if prop is None or not nameable(viewer, prop, ceiling):
                    raise faults.invalid_argument(f"Unknown property {value!r} of {target.array_path}.", path=value)
                if prop.type_name == "Reference":
                    break  # the rest is read from the referenced object, as the read API does
                level = getattr(prop, "properties", {}) if prop.type_name == "Document" else {}
                if not level and depth < len(parts) - 1:
                    raise faults.invalid_argument(f"{value!r}: {part} has no properties.", path=value)


def check_log_selection(paths: Sequence[str], include: Sequence[str], expand: Sequence[str]) -> None:
    """The Logs' properties (``logs.LOG_PROPERTIES``); none is optional or a reference."""
    for value in [*paths, *include]:
        if value.split(".")[0] not in LOG_PROPERTIES:
            raise faults.invalid_argument(f"Unknown property {value!r} of the Logs.", path=value)
    for value in expand:
        raise faults.invalid_argument(f"{value!r} is not an expandable reference: the Logs have none.", path=value)


def check_selection(target: ExportTarget, viewer: Viewer, paths: Sequence[str], include: Sequence[str],
                    expand: Sequence[str]) -> None:
    """Fault for a selection the target cannot read (what ``instance_plan`` builds, or the Logs')."""
    if target.kind is TargetKind.LOGS:
        check_log_selection(paths, include, expand)
    else:
        instance_plan(target, viewer, paths, include, expand)


# where


def parse_target_where(target: ExportTarget, connection: Connection, dialect: str, org_id: str, viewer: Viewer,
                       document: dict[str, Any] | None) -> Node | None:
    """``where``, parsed as the target's own list reads parse it (the same faults)."""
    if target.kind is TargetKind.LOGS:
        return parse_where(document, LOG_SCHEMA.allowing(org_allowed_restricted_operators(connection, org_id)))
    assert target.definition is not None
    schema = Instances(connection, dialect, org_id, target.definition, viewer).query_schema()
    if target.kind is TargetKind.DOCUMENT_ARRAY:
        schema = element_schema(target, schema)
    return parse_where(document, schema)


def element_schema(target: ExportTarget, schema: QuerySchema) -> QuerySchema:
    """The holding object's query schema, seen from inside one element of the document array."""
    head = target.array_path + "."
    elements = QuerySchema(target.array_path, allowed_restricted=schema.allowed_restricted)
    elements.add(QueryableProperty(path="_id", type="ObjectId", indexed=True))
    for path, prop in schema.properties.items():
        if not path.startswith(head):
            continue
        inner = path[len(head):]
        elements.add(replace(prop, path=inner, array=_is_array_within(target, inner)))
    return elements


def _is_array_within(target: ExportTarget, path: str) -> bool:
    level = target.element_properties()
    for part in path.split("."):
        prop = level.get(part)
        if prop is None:
            return False
        if prop.array:
            return True
        level = getattr(prop, "properties", {})
    return False
