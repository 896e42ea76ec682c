"""An object definition as CDISC ODM 1.3.2 metadata: item groups and items, and where their values
are in an exported document.

The object is one form (``F.<object>``) of one study event (``SE.<object>``). Its top-level
values are the items of the root item group (``IG.<object>``). Every Document property is an
item group of its own (``IG.<object>.<path>``) holding its values, and every array (of documents
or of values) is a repeating item group: one ``ItemGroupData`` per element, keyed by the
element's position from 1 (``ItemGroupRepeatKey``; inside another array, the positions joined by
``.``: ``2.1``). ODM 1.3.2 item groups do not nest, so nesting lives in the OIDs and the keys.
Items are ``IT.<object>.<path>``; ``Name`` is the dotted path, the ``Description`` the label.

De-identification changes what some values are (``FormatContext.value_rule``): a dropped
property has no item at all, a hashed or truncated one is ``text``, a date cut to its year is a
``partialDate``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from opencortex.model.definitions import ObjectDefinition
from opencortex.model.properties import DocumentProperty, PropertyDefinition

# How a value is written (``odm.py``): as text, a number, a boolean, a date, JSON text, a
# reference's ``_id``, or a file's ``path``.
TEXT, NUMBER, BOOLEAN, DATE, JSON_TEXT, REFERENCE, FILE = "text", "number", "boolean", "date", "json", "ref", "file"
_TYPES: dict[str, tuple[str, str]] = {  # Cortex type -> (ODM DataType, how the value is written)
    "String": ("text", TEXT),
    "Number": ("float", NUMBER),
    "Boolean": ("boolean", BOOLEAN),
    "Date": ("datetime", DATE),
    "ObjectId": ("text", TEXT),
    "Reference": ("text", REFERENCE),
    "Geometry": ("text", JSON_TEXT),
    "Any": ("text", JSON_TEXT),
    "Binary": ("text", JSON_TEXT),
    "File": ("text", FILE),
}
# The system properties written (``object`` is the form itself; ``access`` is the reader's).
_SYSTEM: tuple[tuple[str, str, str, str], ...] = (
    ("_id", "text", TEXT, "Identifier"),
    ("type", "text", TEXT, "Object type"),
    ("created", "datetime", DATE, "Created"),
    ("updated", "datetime", DATE, "Updated"),
    ("creator", "text", REFERENCE, "Creator"),
    ("owner", "text", REFERENCE, "Owner"),
    ("updater", "text", REFERENCE, "Updater"),
)
SUBJECT_KEY_TYPES = frozenset({"String", "Number", "ObjectId"})

Selection = dict[str, "Selection | None"]
"""A tree of selected property names; ``None`` below a name: all of it."""


@dataclass(frozen=True)
class OdmItem:
    oid: str
    name: str
    """The dotted path from the document (``c_name.c_first``; ``c_visits.c_when``)."""
    key: str
    """Its key in the document (or element) holding it; for a value array, the array's own."""
    data_type: str
    label: str
    writes: str
    """How the value is written: ``text``, ``number``, ``boolean``, ``date``, ``json``, ``ref``, ``file``."""
    code_list: str | None = None
    codes: tuple[str, ...] = ()


@dataclass
class OdmGroup:
    oid: str
    name: str
    key: str
    """Its key in the document holding it (empty for the root)."""
    repeating: bool
    elements: str | None = None
    """For an array: ``documents`` or ``values``; None for the root and single Documents."""
    items: list[OdmItem] = field(default_factory=list)
    groups: list[OdmGroup] = field(default_factory=list)


@dataclass(frozen=True)
class OdmMetadata:
    object: str
    label: str
    description: str
    root: OdmGroup

    @property
    def form_oid(self) -> str:
        return f"F.{self.object}"

    @property
    def event_oid(self) -> str:
        return f"SE.{self.object}"

    def all_groups(self) -> Iterator[OdmGroup]:
        """Every item group, the root first, then depth first in definition order."""
        pending = [self.root]
        while pending:
            group = pending.pop(0)
            yield group
            pending[0:0] = group.groups

    def all_items(self) -> Iterator[OdmItem]:
        for group in self.all_groups():
            yield from group.items


def build_metadata(definition: ObjectDefinition, paths: Sequence[str], include: Sequence[str],
                   value_rule: Callable[[str], str | None]) -> OdmMetadata:
    """What an export of ``definition`` with ``paths``/``include`` holds, as ODM metadata."""
    name = definition.name
    properties = _all_properties(definition)
    selection = _selection(properties, paths, include)
    root = OdmGroup(f"IG.{name}", name, "", repeating=False)
    for key, data_type, writes, label in _SYSTEM:
        rule = value_rule(key)
        if rule != "drop" and (key == "_id" or not paths or key in selection):
            root.items.append(OdmItem(f"IT.{name}.{key}", key, key, _ruled(data_type, rule), label, _ruled_writes(
                writes, rule)))
    _fill(root, properties, selection, "", name, False, value_rule)
    return OdmMetadata(name, definition.label, str(definition.settings.get("description") or ""), root)


def _all_properties(definition: ObjectDefinition) -> dict[str, PropertyDefinition]:
    """The base properties and every object type's (the first definition of a name wins)."""
    properties = dict(definition.properties)
    for object_type in definition.object_types.values():
        for key, prop in object_type.properties.items():
            properties.setdefault(key, prop)
    return properties


def _selection(properties: Mapping[str, PropertyDefinition], paths: Sequence[str],
               include: Sequence[str]) -> Selection:
    chosen: Selection = {}
    if not paths:
        chosen = {key: None for key, prop in properties.items() if not prop.optional}
    for path in [*paths, *include]:
        level = chosen
        parts = path.split(".")
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            if part in level and level[part] is None:
                break  # already all of it
            if last:
                level[part] = None
            else:
                below = level.get(part)
                if below is None:
                    below = level[part] = {}
                level = below
    return chosen


def _fill(group: OdmGroup, properties: Mapping[str, PropertyDefinition], selection: Selection | None, prefix: str,
          name: str, repeating: bool, value_rule: Callable[[str], str | None]) -> None:
    for key, prop in properties.items():
        if selection is not None and key not in selection:
            continue
        path = prefix + key
        rule = value_rule(path)
        if rule == "drop" or not prop.readable or prop.type_name == "List":
            continue
        below = None if selection is None else selection[key]
        if isinstance(prop, DocumentProperty):
            child = OdmGroup(f"IG.{name}.{path}", path, key, repeating or prop.array,
                             "documents" if prop.array else None)
            child_below = _optional_free(prop.properties, below)
            _fill(child, prop.properties, child_below, path + ".", name, child.repeating, value_rule)
            if child.items or child.groups:
                group.groups.append(child)
            continue
        item = _item(prop, path, key, name, rule)
        if prop.array:
            child = OdmGroup(f"IG.{name}.{path}", path, key, True, "values", items=[item])
            group.groups.append(child)
        else:
            group.items.append(item)


def _optional_free(properties: Mapping[str, PropertyDefinition], below: Selection | None) -> Selection | None:
    """A whole Document's children, optional ones left out unless named."""
    if below is not None:
        return below
    return {key: None for key, prop in properties.items() if not prop.optional}


def _item(prop: PropertyDefinition, path: str, key: str, name: str, rule: str | None) -> OdmItem:
    data_type, writes = _TYPES.get(prop.type_name, ("text", JSON_TEXT))
    if prop.type_name == "Date" and prop.option("dateOnly"):
        data_type = "date"
    code_list: str | None = None
    codes: tuple[str, ...] = ()
    enum = prop.validator("stringEnum") if prop.type_name == "String" else None
    if enum is not None and rule is None:
        values = enum.definition.get("values") or []
        codes = tuple(str(value) for value in values)
        code_list = f"CL.{name}.{path}" if codes else None
    return OdmItem(f"IT.{name}.{path}", path, key, _ruled(data_type, rule), prop.label, _ruled_writes(writes, rule),
                   code_list, codes)


def _ruled(data_type: str, rule: str | None) -> str:
    """The DataType of a value once de-identified."""
    if rule in ("hash", "truncate"):
        return "text"
    if rule == "dateToYear":
        return "partialDate"
    return data_type


def _ruled_writes(writes: str, rule: str | None) -> str:
    if rule in ("hash", "truncate", "dateToYear") and writes not in (REFERENCE, FILE):
        return TEXT
    return writes
