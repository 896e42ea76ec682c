"""The system properties every instance has, in one table: name, Cortex type, label, the
``documents`` column each comes from, and how it is shown.

Every rendering of them is built from ``SYSTEM_PROPERTY_TABLE``: the documents that reads and
exports return (``values_renderer``), the export fast path's documents and JSON text built from
raw rows (``raw_values_renderer``, ``raw_text_renderer``), and the types and labels of an
export's data dictionary (``describe_system_property``).

The renderers run for every document of every export, so they are not loops over the table: for
each selection of names a function is generated from the table once (Python source, compiled and
cached) that reads its columns and writes its keys in a straight line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from functools import lru_cache
from typing import Any

import orjson

from opencortex.clock import iso
from opencortex.instances.raw_rows import RAW_COLUMNS, RawRow


class Shown(Enum):
    """How a system property's value is shown."""

    IDENTIFIER = "the column's text (an ObjectId); always shown"
    OBJECT_NAME = "the object's name (no column); always shown"
    TEXT = "the column's text; left out when null"
    DATE = "ISO 8601 in UTC with milliseconds and Z; null when the column is"
    REFERENCE = "{_id, object} of the instance the column names; left out when empty"
    ACCESS = "the viewer's access level to the instance (no column), a number; always shown"


@dataclass(frozen=True)
class SystemProperty:
    name: str
    type_name: str  # Cortex's type name
    label: str
    column: str | None  # in the documents table; None for what comes from elsewhere
    shown: Shown
    source: str | None = None  # the object a REFERENCE names


# In the order documents show them.
SYSTEM_PROPERTY_TABLE: tuple[SystemProperty, ...] = (
    SystemProperty("_id", "ObjectId", "Id", "id", Shown.IDENTIFIER),
    SystemProperty("object", "String", "Object", None, Shown.OBJECT_NAME),
    SystemProperty("type", "String", "Type", "type", Shown.TEXT),
    SystemProperty("created", "Date", "Created", "created", Shown.DATE),
    SystemProperty("updated", "Date", "Updated", "updated", Shown.DATE),
    SystemProperty("owner", "Reference", "Owner", "owner", Shown.REFERENCE, source="account"),
    SystemProperty("creator", "Reference", "Creator", "creator", Shown.REFERENCE, source="account"),
    SystemProperty("updater", "Reference", "Updater", "updater", Shown.REFERENCE, source="account"),
    SystemProperty("access", "Number", "Access", None, Shown.ACCESS),
)
SYSTEM_PROPERTY_NAMES: tuple[str, ...] = tuple(prop.name for prop in SYSTEM_PROPERTY_TABLE)
_BY_NAME = {prop.name: prop for prop in SYSTEM_PROPERTY_TABLE}
_ALWAYS_SHOWN = (Shown.IDENTIFIER, Shown.OBJECT_NAME, Shown.DATE, Shown.ACCESS)

_REFERENCES_LIMIT = 4096  # distinct reference texts (owner, creator, updater) remembered per renderer
_UTC_OFFSET = timedelta(0)

ValuesRenderer = Callable[[Mapping[str, Any], int], dict[str, Any]]
RawValuesRenderer = Callable[[RawRow, int], "dict[str, Any] | None"]
RawTextRenderer = Callable[[RawRow, int], "str | None"]


def describe_system_property(name: str) -> tuple[str, str] | None:
    """(Cortex type, label) of a system property, or of a key inside one shown as a reference
    (``owner._id``, ``owner.object``, as flattened CSV columns name them); None for anything else."""
    prop = _BY_NAME.get(name)
    if prop is not None:
        return prop.type_name, prop.label
    head, _, key = name.partition(".")
    prop = _BY_NAME.get(head)
    if prop is not None and prop.shown is Shown.REFERENCE and key in ("_id", "object"):
        return ("ObjectId" if key == "_id" else "String"), prop.label
    return None


def values_renderer(names: tuple[str, ...], object_name: str) -> ValuesRenderer:
    """``render(row, access)``: the named system properties of a row read through the table's
    types (a mapping of column names: datetimes, parsed JSON), in table order."""
    return _compiled_values(_selected(names), object_name)


def raw_values_renderer(names: tuple[str, ...], object_name: str) -> RawValuesRenderer:
    """``values_renderer`` for a raw row (``instances.raw_rows``); None when a date or an id is
    not in the expected form (the ordinary path then reads the row through the table's types)."""
    return _compiled_raw_values(_selected(names), object_name)


def raw_text_renderer(names: tuple[str, ...], object_name: str) -> RawTextRenderer:
    """``render(row, access)``: the named system properties of a raw row as compact JSON text
    without the closing brace (what ``orjson`` writes for ``values_renderer``'s dict); None when
    a date is not in the expected form or an id would need escaping. The first name must be
    always shown (``_id``). Each call makes a new renderer, with its own cache of reference texts."""
    return _compiled_raw_text(_selected(names), object_name)(_references_text, {})


def iso_of_stored(stored: Any) -> str | None:
    """``clock.iso`` of a raw row's date: a datetime (PostgreSQL), or SQLAlchemy's SQLite text
    ('2026-11-28 19:37:21.051280'), sliced rather than parsed; None for any other form."""
    if type(stored) is str:
        if len(stored) != 26 or stored[10] != " " or stored[19] != ".":
            return None
        return f"{stored[:10]}T{stored[11:23]}Z"
    if isinstance(stored, datetime):
        if stored.utcoffset() == _UTC_OFFSET:  # PostgreSQL in a UTC session: half the work of ``iso``
            return stored.isoformat(timespec="milliseconds")[:23] + "Z"
        return iso(stored)
    return None


def is_plain(identifier: Any) -> bool:
    """Text that JSON writes as it is, between quotes (ObjectIds always are)."""
    return type(identifier) is str and identifier.isascii() and identifier.isalnum()


def _selected(names: tuple[str, ...]) -> tuple[SystemProperty, ...]:
    unknown = [name for name in names if name not in _BY_NAME]
    if unknown:
        raise ValueError(f"not system properties: {unknown}")
    return tuple(prop for prop in SYSTEM_PROPERTY_TABLE if prop.name in names)


# The generators. Keys, columns and constants enter the source only through ``repr`` (or as JSON
# inside a ``repr``), never as raw text.


def _define(source: str, name: str, namespace: dict[str, Any]) -> Any:
    exec(compile(source, f"<system properties: {name}>", "exec"), namespace)  # noqa: S102 - generated above
    return namespace[name]


@lru_cache(maxsize=256)
def _compiled_values(props: tuple[SystemProperty, ...], object_name: str) -> ValuesRenderer:
    return _define(_dict_source(props, object_name, raw=False), "render", {"iso": iso})  # type: ignore[no-any-return]


@lru_cache(maxsize=256)
def _compiled_raw_values(props: tuple[SystemProperty, ...], object_name: str) -> RawValuesRenderer:
    namespace = {"iso": iso_of_stored}
    return _define(_dict_source(props, object_name, raw=True), "render", namespace)  # type: ignore[no-any-return]


def _dict_source(props: tuple[SystemProperty, ...], object_name: str, raw: bool) -> str:
    """``render(row, access)`` making the dict: each value in a local (with its checks, for raw
    rows), then the dict, as a literal up to the first property that may be left out."""
    prelude: list[str] = []
    shown: list[tuple[str, str | None, str]] = []  # (key, condition or None, value expression)
    for number, prop in enumerate(props):
        local = f"v{number}"
        if prop.column is not None:
            column = str(RAW_COLUMNS.index(prop.column)) if raw else repr(prop.column)
            # A mapping from elsewhere may lack the columns that may be null.
            optional = not raw and prop.shown in (Shown.TEXT, Shown.REFERENCE)
            prelude.append(f"    {local} = row.get({column})" if optional else f"    {local} = row[{column}]")
        if prop.shown is Shown.IDENTIFIER:
            if raw:
                prelude += [f"    if not (type({local}) is str and {local}.isascii() and {local}.isalnum()):",
                            "        return None"]
            shown.append((prop.name, None, local))
        elif prop.shown is Shown.OBJECT_NAME:
            shown.append((prop.name, None, repr(object_name)))
        elif prop.shown is Shown.TEXT:
            shown.append((prop.name, f"{local} is not None", local))
        elif prop.shown is Shown.DATE:
            if raw:
                prelude += [f"    if {local} is not None:", f"        {local} = iso({local})",
                            f"        if {local} is None:", "            return None"]
                shown.append((prop.name, None, local))
            else:
                shown.append((prop.name, None, f"iso({local})"))
        elif prop.shown is Shown.REFERENCE:
            shown.append((prop.name, local, f"{{'_id': {local}, 'object': {prop.source!r}}}"))
        else:
            shown.append((prop.name, None, "int(access)"))
    leading = 0
    while leading < len(shown) and shown[leading][1] is None:
        leading += 1
    lines = ["def render(row, access):", *prelude,
             "    document = {" + ", ".join(f"{key!r}: {value}" for key, _, value in shown[:leading]) + "}"]
    for key, condition, value in shown[leading:]:
        if condition is None:
            lines.append(f"    document[{key!r}] = {value}")
        else:
            lines += [f"    if {condition}:", f"        document[{key!r}] = {value}"]
    lines.append("    return document")
    return "\n".join(lines) + "\n"


def _json(value: str) -> str:
    return orjson.dumps(value).decode()


@lru_cache(maxsize=256)
def _compiled_raw_text(props: tuple[SystemProperty, ...], object_name: str) -> Callable[..., RawTextRenderer]:
    """``make(references_text, cache)`` -> the renderer. The text is one f-string: fixed parts
    (keys, the object's name) as literals, each value as a local made above it."""
    if not props or props[0].shown not in _ALWAYS_SHOWN:
        raise ValueError("the first system property of a text must always be shown")
    body: list[str] = []
    template: list[str] = []  # f-string parts: literal text with braces doubled, or {local}

    def literal(text: str) -> None:
        template.append(text.replace("{", "{{").replace("}", "}}"))

    index = 0
    while index < len(props):
        prop = props[index]
        comma = "," if index else ""
        local = f"v{index}"
        at = RAW_COLUMNS.index(prop.column) if prop.column is not None else -1
        if prop.shown is Shown.REFERENCE:
            # A run of references shares one cached text: rows repeat the same few accounts.
            run = [prop]
            while index + len(run) < len(props) and props[index + len(run)].shown is Shown.REFERENCE:
                run.append(props[index + len(run)])
            columns = ", ".join(f"row[{RAW_COLUMNS.index(item.column or '')}]" for item in run)
            keys = tuple((("," if index + number else "") + _json(item.name) + ":", _json(item.source or ""))
                         for number, item in enumerate(run))
            body += [f"    key = ({columns},)", f"    {local} = cache.get(key, '')", f"    if {local} == '':",
                     f"        {local} = references_text(key, {keys!r})",
                     f"        if len(cache) < {_REFERENCES_LIMIT}:", f"            cache[key] = {local}",
                     f"    if {local} is None:", "        return None"]
            template.append(f"{{{local}}}")
            index += len(run)
            continue
        if prop.shown is Shown.IDENTIFIER:
            body += [f"    {local} = row[{at}]", f"    if not (type({local}) is str and {local}.isascii() and "
                     f"{local}.isalnum()):", "        return None"]
            literal(f"{comma}{_json(prop.name)}:\"")
            template.append(f"{{{local}}}")
            literal('"')
        elif prop.shown is Shown.OBJECT_NAME:
            literal(f"{comma}{_json(prop.name)}:{_json(object_name)}")
        elif prop.shown is Shown.TEXT:
            prefix = f"{comma}{_json(prop.name)}:"
            body += [f"    {local} = row[{at}]",
                     f"    {local} = '' if {local} is None else {prefix!r} + dumps({local}).decode()"]
            template.append(f"{{{local}}}")
        elif prop.shown is Shown.DATE:
            # ``iso_of_stored`` inlined for SQLite's text, the common case (after null: most
            # documents are never updated).
            body += [f"    {local} = row[{at}]", f"    if {local} is None:", f"        {local} = 'null'",
                     f"    elif type({local}) is str and len({local}) == 26 and {local}[10] == ' ' "
                     f"and {local}[19] == '.':",
                     f"        {local} = f'\"{{{local}[:10]}}T{{{local}[11:23]}}Z\"'", "    else:",
                     f"        {local} = iso({local})", f"        if {local} is None:", "            return None",
                     f"        {local} = f'\"{{{local}}}\"'"]
            literal(f"{comma}{_json(prop.name)}:")
            template.append(f"{{{local}}}")
        else:
            literal(f"{comma}{_json(prop.name)}:")
            template.append("{int(access)}")
        index += 1
    source = "\n".join([
        "def make(references_text, cache):",
        "    def render(row, access):",
        *("    " + line for line in body),
        f"        return f{'{{' + ''.join(template)!r}",
        "    return render",
    ]) + "\n"
    return _define(source, "make", {"iso": iso_of_stored, "dumps": orjson.dumps})  # type: ignore[no-any-return]


def _references_text(values: tuple[Any, ...], keys: tuple[tuple[str, str], ...]) -> str | None:
    """The text of a run of references (``,"owner":{"_id":…,"object":"account"}`` for each that
    is set), or None when an id would need escaping."""
    text = ""
    for value, (key, source) in zip(values, keys, strict=True):
        if value:
            if not is_plain(value):
                return None
            text += f'{key}{{"_id":"{value}","object":{source}}}'
    return text
