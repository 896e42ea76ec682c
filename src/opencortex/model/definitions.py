"""Object definitions: what ``POST /objects`` accepts and ``GET /objects`` shows.

``ObjectDefinition.from_json`` validates a whole definition and raises one ``validation_failed``
fault whose children name every bad option by its path in the posted JSON (``name``,
``properties[2].min``, ``objectTypes[0].properties[1].type``). ``build_query_schema`` tells the
query layer which dotted paths exist, their types, and which are indexed.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opencortex import faults
from opencortex.clock import iso
from opencortex.ids import is_object_id, new_object_id
from opencortex.model.acl_shape import check_acl, check_share_chain
from opencortex.model.names import (
    default_plural,
    object_name_problem,
    plural_name_problem,
    property_name_problem,
)
from opencortex.model.problems import Problems, child_path
from opencortex.model.properties import DocumentProperty, PropertyDefinition, parse_properties
from opencortex.model.properties import options as read
from opencortex.model.properties.file import FileProperty
from opencortex.model.properties.options import Option
from opencortex.model.properties.reference import ReferenceProperty
from opencortex.query.schema import QueryableProperty, QuerySchema

MAX_OBJECT_TYPES = 50
# Object options kept as given (after their shape is checked) for the layers that act on them.
SETTINGS: tuple[Option, ...] = (
    Option("description", read.text(0, 1024), ""),
    Option("allowConnections", read.boolean, False),
    Option("allowTransfers", read.boolean, False),
    Option(
        "connectionOptions",
        read.json_object(("requireAccept", "requiredAccess", "sendNotifications")),
        {"requireAccept": True, "requiredAccess": 5, "sendNotifications": True},
    ),
    Option("auditing", read.json_object(("enabled",)), {"enabled": False}),
    Option("hasETag", read.boolean, False),
    Option("isDeletable", read.boolean, True),
    Option("isUnmanaged", read.boolean, False),
    Option("isVersioned", read.boolean, False),
)
ACL_SETTINGS = {"createAcl": "create", "defaultAcl": "default", "shareAcl": "share"}
DEFAULT_SHARE_CHAIN = ["share", "read", "connected"]
# Keys of the definition as the API shows it: accepted back unchanged, and otherwise ignored.
SHOWN_ONLY = frozenset({"_id", "object", "created", "updated"})
KNOWN_KEYS = (
    frozenset({"name", "label", "pluralName", "properties", "objectTypes", "shareChain"})
    | frozenset(ACL_SETTINGS)
    | {option.key for option in SETTINGS}
    | SHOWN_ONLY
)


@dataclass
class ObjectType:
    """A subtype: its own name and the properties it adds to the base ones."""

    id: str
    name: str
    label: str
    properties: dict[str, PropertyDefinition]

    def to_json(self) -> dict[str, Any]:
        return {
            "_id": self.id,
            "name": self.name,
            "label": self.label,
            "properties": [prop.to_json() for prop in self.properties.values()],
        }


@dataclass
class ObjectDefinition:
    id: str
    name: str
    label: str
    plural_name: str
    properties: dict[str, PropertyDefinition]
    object_types: dict[str, ObjectType] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)  # ACLs, shareChain and the SETTINGS above
    created: datetime | None = None
    updated: datetime | None = None

    @classmethod
    def from_json(cls, body: Any, *, id: str | None = None) -> ObjectDefinition:
        """A validated definition; raises ``validation_failed`` naming every bad path."""
        problems = Problems()
        if not isinstance(body, Mapping):
            raise faults.validation_failed(
                faults=[faults.invalid_definition("A definition is a JSON object.")]
            )
        for key in body:
            if key not in KNOWN_KEYS:
                problems.add(
                    faults.invalid_definition(f"{key!r} is not an object definition option.", path=key)
                )
        if body.get("object", "object") != "object":
            problems.add(faults.invalid_definition("object must be 'object'.", path="object"))
        name = _read_name(body.get("name"), "name", object_name_problem, problems)
        plural = body.get("pluralName")
        if plural is None:
            plural_name = default_plural(name) if name else ""  # a missing name is reported once
        else:
            plural_name = _read_name(plural, "pluralName", plural_name_problem, problems)
        ok, label = problems.attempt(read.text(1, 128), body.get("label"), "label")
        settings: dict[str, Any] = {}
        for option in SETTINGS:
            if option.key in body:
                accepted, value = problems.attempt(option.read, body[option.key], option.key)
                settings[option.key] = value if accepted else option.default
            else:
                settings[option.key] = copy.deepcopy(option.default)
        for key, kind in ACL_SETTINGS.items():
            settings[key] = check_acl(body.get(key), key, kind, problems)  # type: ignore[arg-type]
        settings["shareChain"] = (
            check_share_chain(body["shareChain"], "shareChain", problems)
            if "shareChain" in body
            else list(DEFAULT_SHARE_CHAIN)
        )
        properties = parse_properties(body.get("properties", []), "properties", problems)
        base = {prop.name: prop for prop in properties}
        # Where each base name was written, so a clash inside an object type names both places.
        given = body.get("properties")
        taken = {
            entry["name"]: f"properties[{index}]"
            for index, entry in enumerate(given if isinstance(given, list) else [])
            if isinstance(entry, Mapping) and entry.get("name") in base
        }
        object_types = _read_object_types(body.get("objectTypes", []), taken, problems)
        problems.raise_if_any()
        given_id = id or body.get("_id")
        return cls(
            id=str(given_id) if is_object_id(given_id) else new_object_id(),
            name=name,
            label=str(label),
            plural_name=plural_name,
            properties=base,
            object_types=object_types,
            settings=settings,
        )

    def properties_for(self, type_name: str | None = None) -> dict[str, PropertyDefinition]:
        """The properties an instance of ``type_name`` has: the base ones plus its type's."""
        if type_name is None:
            return dict(self.properties)
        object_type = self.object_types.get(type_name)
        if object_type is None:
            raise faults.enum_value("One of: " + ", ".join(self.object_types), path="type")
        return {**self.properties, **object_type.properties}

    def find_property(self, path: str, type_name: str | None = None) -> PropertyDefinition | None:
        """The property at a dotted path (``c_doc.c_sub``), through Documents."""
        level: Mapping[str, PropertyDefinition] = self.properties_for(type_name)
        found: PropertyDefinition | None = None
        for part in path.split("."):
            found = level.get(part)
            if found is None:
                return None
            level = found.properties if isinstance(found, DocumentProperty) else {}
        return found

    def iter_properties(self) -> Iterator[tuple[str, PropertyDefinition]]:
        """Every property with its path in the definition JSON, nested ones included."""
        yield from _walk(self.properties.values(), "properties")
        for type_index, object_type in enumerate(self.object_types.values()):
            yield from _walk(object_type.properties.values(), f"objectTypes[{type_index}].properties")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "_id": self.id,
            "object": "object",
            "name": self.name,
            "label": self.label,
            "pluralName": self.plural_name,
            "description": self.settings.get("description", ""),
            "properties": [prop.to_json() for prop in self.properties.values()],
            "objectTypes": [object_type.to_json() for object_type in self.object_types.values()],
        }
        for key, value in self.settings.items():
            out.setdefault(key, copy.deepcopy(value))
        if self.created is not None:
            out["created"] = iso(self.created)
        if self.updated is not None:
            out["updated"] = iso(self.updated)
        return out


def _read_name(value: Any, path: str, check: Any, problems: Problems) -> str:
    if not isinstance(value, str) or not value.strip():
        problems.add(faults.required(f"{path} is required.", path=path))
        return ""
    name = value.strip().lower()
    if problem := check(name):
        problems.add(faults.invalid_definition(problem, path=path))
    return name


def _read_object_types(value: Any, taken: dict[str, str], problems: Problems) -> dict[str, ObjectType]:
    if not isinstance(value, list) or len(value) > MAX_OBJECT_TYPES:
        problems.add(
            faults.invalid_definition(
                f"objectTypes is a list of at most {MAX_OBJECT_TYPES} types.", path="objectTypes"
            )
        )
        return {}
    types: dict[str, ObjectType] = {}
    for index, entry in enumerate(value):
        path = f"objectTypes[{index}]"
        if not isinstance(entry, Mapping):
            problems.add(faults.invalid_definition("An object type is {name, label, properties}.", path=path))
            continue
        for key in set(entry) - {"_id", "name", "label", "properties"}:
            problems.add(
                faults.invalid_definition(f"{key!r} is not an object type option.", path=f"{path}.{key}")
            )
        name = entry.get("name")
        if not isinstance(name, str):
            problems.add(faults.required("An object type needs a name.", path=f"{path}.name"))
            name = ""
        elif problem := property_name_problem(name):
            problems.add(faults.invalid_definition(problem, path=f"{path}.name"))
        elif name in types:
            problems.add(faults.invalid_definition(f"Duplicate object type {name!r}.", path=f"{path}.name"))
        problems.attempt(read.text(1, 128), entry.get("label"), f"{path}.label")
        properties = parse_properties(
            entry.get("properties", []), f"{path}.properties", problems, taken=taken
        )
        type_id = entry.get("_id")
        types[name] = ObjectType(
            id=str(type_id) if is_object_id(type_id) else new_object_id(),
            name=name,
            label=str(entry.get("label")),
            properties={prop.name: prop for prop in properties},
        )
    return types


def _walk(properties: Any, path: str) -> Iterator[tuple[str, PropertyDefinition]]:
    for index, prop in enumerate(properties):
        prop_path = child_path(path, index)
        yield prop_path, prop
        if isinstance(prop, DocumentProperty):
            yield from _walk(prop.properties.values(), f"{prop_path}.properties")


def build_query_schema(definition: ObjectDefinition, type_name: str | None = None) -> QuerySchema:
    """Every queryable dotted path of the object (of one type, or of all types together).

    Without a type, a path two types define differently (type or array-ness) is left out:
    such a query must name its type. List and File properties are not queryable.
    """
    schema = QuerySchema.with_system_properties(definition.name)
    if type_name is not None:
        for prop in _queryable(definition.properties_for(type_name).values(), "", False, True):
            schema.add(prop)
        return schema
    for prop in _queryable(definition.properties.values(), "", False, True):
        schema.add(prop)
    conflicts: set[str] = set()
    for object_type in definition.object_types.values():
        for prop in _queryable(object_type.properties.values(), "", False, True):
            known = schema.get(prop.path)
            if known is None and prop.path not in conflicts:
                schema.add(prop)
            elif known is not None and (known.type, known.array) != (prop.type, prop.array):
                conflicts.add(prop.path)
                del schema.properties[prop.path]
            elif known is not None and prop.indexed and not known.indexed:
                schema.add(prop)  # the index covers every row of the object, whatever its type
    return schema


def _queryable(properties: Any, prefix: str, in_array: bool, readable: bool) -> Iterator[QueryableProperty]:
    for prop in properties:
        if prop.virtual or isinstance(prop, FileProperty):
            continue
        path = prefix + prop.name
        array = in_array or prop.array
        visible = readable and prop.readable
        # A Reference is stored as the target's id, so it matches and sorts as an ObjectId.
        kind = "ObjectId" if isinstance(prop, ReferenceProperty) else prop.type_name
        yield QueryableProperty(path=path, type=kind, array=array, indexed=prop.indexed, readable=visible)
        if isinstance(prop, DocumentProperty):
            yield from _queryable(prop.properties.values(), path + ".", array, visible)
