"""Reference (one instance of another object) and List (a virtual one-to-many view).

A Reference is stored as the target's id (a hex string), so the body path holds an ObjectId that
queries match directly; reads show ``{_id, object}``. A List stores nothing: it is a query over
``sourceObject`` described by ``where`` and ``linkedProperty``, resolved at read time.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from opencortex import faults
from opencortex.model.names import property_name_problem
from opencortex.model.problems import Problems
from opencortex.model.properties import options as read
from opencortex.model.properties.base import PropertyDefinition, WriteContext
from opencortex.model.properties.options import REQUIRED, Option
from opencortex.model.properties.scalars import coerce_object_id

_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_INPUT_PATH = re.compile(r"^input(\.[A-Za-z0-9_]+)+$")


def _object_name(value: Any, path: str) -> str:
    return read.text(1, 64)(value, path).lower()


def _grant(value: Any, path: str) -> int:
    return (
        0 if value == 0 and not isinstance(value, bool) else read.level(value, path)
    )  # 0: the expansion grants nothing extra


def _property_name(value: Any, path: str) -> str:
    name = read.text(1, 64)(value, path)
    if problem := property_name_problem(name):
        raise faults.invalid_definition(problem, path=path)
    return name


def where_template(value: Any, path: str) -> str:
    """A ``where`` template: JSON once each ``{{input.path}}`` placeholder is filled in."""
    template = read.text(1, 4096)(value, path)
    for match in _PLACEHOLDER.finditer(template):
        if not _INPUT_PATH.match(match.group(1)):
            raise faults.invalid_definition(
                f"Unsupported placeholder {match.group(0)!r}; use {{{{input._id}}}} or {{{{input.<path>}}}}.",
                path=path,
            )
    try:
        parsed = orjson.loads(_PLACEHOLDER.sub("000000000000000000000000", template))
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise faults.invalid_definition("where must be a JSON object (as a string).", path=path)
    return template


class ReferenceProperty(PropertyDefinition):
    type_name = "Reference"
    type_options = (
        Option("sourceObject", _object_name, REQUIRED),
        Option("expandable", read.boolean, False),
        Option("autoCreate", read.boolean, False),
        Option("grant", _grant, 0),
        Option("paths", read.string_list(100), []),
        Option("referenceAccess", read.level, 5),
        Option("pacl", read.acl("property"), []),
        Option("writeThrough", read.boolean, False),
        Option("cascadeDelete", read.boolean, False),
    )

    @property
    def source_object(self) -> str:
        return str(self.options["sourceObject"])

    def check_options(self, path: str, problems: Problems) -> None:
        if self.options.get("cascadeDelete") and (self.array or not self.indexed):
            problems.add(
                faults.invalid_definition(
                    "Cascade delete properties must also be indexed and cannot be arrays.",
                    path=f"{path}.cascadeDelete",
                )
            )

    def coerce_value(self, value: Any, path: str, ctx: WriteContext, previous: Any) -> str:
        if isinstance(value, dict):
            unknown = set(value) - {"_id", "object", "path"}
            if unknown or "_id" not in value:
                raise faults.invalid_value("A reference is an id or {_id, object}.", path=path)
            if value.get("object") not in (None, self.source_object):
                raise faults.invalid_value(
                    f"This property references {self.source_object} instances.", path=path
                )
            value = value["_id"]
        return coerce_object_id(value, path)

    def serialise_element(self, stored: Any) -> Any:
        return {"_id": stored, "object": self.source_object}


class ListProperty(PropertyDefinition):
    type_name = "List"
    indexable = False
    arrayable = False
    virtual = True
    static_defaults = False
    type_options = (
        Option("sourceObject", _object_name, REQUIRED),
        Option("grant", _grant, 0),
        Option("roles", read.string_list(100, read.text(1, 64)), []),
        Option("skipAcl", read.boolean, False),
        Option("where", where_template, None),
        Option("linkedProperty", _property_name, None),
        Option("readThrough", read.boolean, False),
        Option("writeThrough", read.boolean, False),
        Option("updateOnWriteThrough", read.boolean, False),
        Option("inheritInstanceRoles", read.boolean, False),
        Option("createAcl", read.acl("create"), []),
        Option("defaultAcl", read.acl("default"), []),
    )

    @property
    def source_object(self) -> str:
        return str(self.options["sourceObject"])

    def check_options(self, path: str, problems: Problems) -> None:
        # Nothing is ever stored, so a validator (required above all) could never be satisfied.
        if self.validators:
            problems.add(
                faults.invalid_definition("List properties take no validators.", path=f"{path}.validators")
            )

    def coerce_value(self, value: Any, path: str, ctx: WriteContext, previous: Any) -> Any:
        raise faults.property_update_denied("List properties are virtual and cannot be written.", path=path)

    def serialise(self, stored: Any) -> Any:
        return None  # the API layer fills lists from their query; nothing is stored
