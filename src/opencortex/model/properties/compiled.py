"""Compiled create writers: ``write_fields`` + ``coerce`` for a new instance, decided once per property.

``write_fields`` and ``PropertyDefinition.coerce`` are the reference: per value they re-read the
options (``writable``, ``array``, ``writeOnCreate``, ``required`` as a scan of the validators,
trim/min/max...), build paths and wrap every call in ``Problems.attempt``. Here everything that
does not depend on the value is decided when a level (a set of named properties) is compiled, so
that writing one body is a tight loop of plain calls.

The compiled path only ever *succeeds* with the very value the reference would store. Anything
it does not handle itself (a fault, a denied or unknown key, an unusual value) raises
``SlowPath`` or a ``Fault``: the caller then runs the reference path, which reports exactly the
faults it always has. So faults (code, path, message) cannot differ; only valid bodies are fast.

Paths matter to a stored value only for File properties (a facet's ``path`` is derived from it);
other types use them in faults alone, so levels without such properties skip building them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from typing import Any

import orjson

from opencortex.ids import is_object_id, new_object_id
from opencortex.model.properties.base import MISSING, PropertyDefinition, WriteContext
from opencortex.model.properties.blobs import AnyProperty, BinaryProperty
from opencortex.model.properties.dates import parse_instant
from opencortex.model.properties.document import DocumentProperty
from opencortex.model.properties.geometry import GeometryProperty
from opencortex.model.properties.reference import ListProperty, ReferenceProperty
from opencortex.model.properties.scalars import (
    MAX_SAFE_INTEGER,
    BooleanProperty,
    DateProperty,
    NumberProperty,
    ObjectIdProperty,
    StringProperty,
    indexed_text_fits,
)


class SlowPath(Exception):  # noqa: N818 (a signal, not an error)
    """The compiled path does not decide this body: the reference path must (and reports faults)."""


# (value, path, ctx) -> the stored value; raises SlowPath (or a Fault) when it cannot decide.
Writer = Callable[[Any, str, WriteContext], Any]
# (body, path of the body, ctx, result to fill) -> result.
LevelWriter = Callable[[Mapping[str, Any], str, WriteContext, dict[str, Any]], dict[str, Any]]

# Types whose coerce uses the path only to name faults: their stored value never depends on it.
_PATH_FREE_TYPES = (AnyProperty, BinaryProperty, BooleanProperty, DateProperty, GeometryProperty, ListProperty,
                    NumberProperty, ObjectIdProperty, ReferenceProperty, StringProperty)
# Stored instants, exactly as ``parse_instant`` writes them (hours 00-23: nothing to normalise).
_CANONICAL_INSTANT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")
_CANONICAL_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_from_date = date.fromisoformat
_from_instant = datetime.fromisoformat
_isfinite = math.isfinite


def compile_level(properties: Mapping[str, PropertyDefinition], *, skip: str | None = None,
                  exclude: Iterable[str] = ()) -> LevelWriter:
    """``write_fields(properties, body, MISSING, prefix, ctx, problems)`` (a new level) for bodies
    that it accepts; ``skip`` names a key taken out of the body beforehand (``type`` at the top,
    ``_id`` in a document-array element), ``exclude`` names keys the reference refuses before
    ``write_fields`` (system properties). ``result`` may hold keys already (an element's ``_id``)."""
    return _compile_level(properties, skip, frozenset(exclude))[0]


def _compile_level(properties: Mapping[str, PropertyDefinition], skip: str | None,
                   excluded: frozenset[str]) -> tuple[LevelWriter, bool]:
    """The level writer, and whether a stored value in it depends on the path."""
    writers: dict[str, Writer] = {}
    needs_path = False
    for key, prop in properties.items():
        if key in excluded or key == skip:
            continue
        compiled = create_writer(prop)
        if compiled is None:  # refused on create: the reference names the fault
            continue
        writers[key], path_used = compiled
        needs_path = needs_path or path_used
    defaults = tuple((key, prop.resolve_default) for key, prop in properties.items()
                     if not prop.virtual and prop.default is not None)
    required = tuple(key for key, prop in properties.items() if prop.required)
    get = writers.get

    def write_rest(result: dict[str, Any], ctx: WriteContext) -> dict[str, Any]:
        for key, resolve in defaults:
            if key not in result:
                value = resolve(ctx)
                if value is not MISSING:
                    result[key] = value
        for key in required:
            value = result.get(key)
            if value is None or value == [] or value == "":
                raise SlowPath(key)
        return result

    if skip is None and not needs_path:  # most levels: the tightest loop
        def write_level(body: Mapping[str, Any], prefix: str, ctx: WriteContext,
                        result: dict[str, Any]) -> dict[str, Any]:
            for key, value in body.items():
                writer = get(key)
                if writer is None:
                    raise SlowPath(key)
                result[key] = writer(value, prefix, ctx)
            return write_rest(result, ctx) if defaults or required else result

        return write_level, needs_path

    def write_level_generally(body: Mapping[str, Any], prefix: str, ctx: WriteContext,
                              result: dict[str, Any]) -> dict[str, Any]:
        for key, value in body.items():
            if key == skip:
                continue
            writer = get(key)
            if writer is None:
                raise SlowPath(key)
            result[key] = writer(value, (f"{prefix}.{key}" if prefix else key) if needs_path else prefix, ctx)
        return write_rest(result, ctx) if defaults or required else result

    return write_level_generally, needs_path


def create_writer(prop: PropertyDefinition) -> tuple[Writer, bool] | None:
    """``prop.coerce`` for a create, and whether the stored value depends on the path; None when
    a create may not write the property at all."""
    if prop.virtual or not prop.writable or (prop.array and not prop.options["writeOnCreate"]):
        return None
    validators = prop.validators
    checks = tuple((entry.spec.check, entry.definition) for entry in validators
                   if entry.spec.scope == "element" and entry.spec.check is not None)
    null_ok = all(entry.allows_null for entry in validators)
    # Null is stored as null before anything else is looked at (``coerce``); an array's elements
    # cannot be null, and with checks the wrapper below answers for it.
    compiled = _element_writer(prop, null_ok and not prop.array and not checks)
    if compiled is None:  # no compiled form: the property's own coerce, which is the reference
        return prop.coerce, type(prop) not in _PATH_FREE_TYPES
    element, needs_path = compiled
    if prop.array:
        return _array_writer(prop, element, needs_path, checks, null_ok), needs_path
    if not checks:
        return element, needs_path
    return _single_writer(element, checks, null_ok), needs_path


def _single_writer(element: Writer, checks: tuple[Any, ...], null_ok: bool) -> Writer:
    def write_checked(value: Any, path: str, ctx: WriteContext) -> Any:
        if value is None:
            if null_ok:
                return None
            raise SlowPath(path)
        cleaned = element(value, path, ctx)
        for check, definition in checks:
            check(definition, cleaned, path)
        return cleaned

    return write_checked


def _array_writer(prop: PropertyDefinition, element: Writer, needs_path: bool, checks: tuple[Any, ...],
                  null_ok: bool) -> Writer:
    options = prop.options
    max_items, min_items, max_shift = options["maxItems"], options["minItems"], options["maxShift"]
    unique = bool(options["uniqueValues"]) or prop.validator("uniqueInArray") is not None
    array_checks = tuple((entry.spec.check, entry.definition) for entry in prop.validators
                         if entry.spec.scope == "array" and entry.spec.check is not None)
    unique_ids = isinstance(prop, DocumentProperty)

    def write(value: Any, path: str, ctx: WriteContext) -> Any:
        if value is None:
            if null_ok:
                return None
            raise SlowPath(path)
        if type(value) is not list or (len(value) > max_items and not max_shift):
            raise SlowPath(path)
        cleaned: list[Any] = []
        append = cleaned.append
        for index, item in enumerate(value):
            if item is None:
                raise SlowPath(path)
            item_path = f"{path}[{index}]" if needs_path else path
            result = element(item, item_path, ctx)
            for check, definition in checks:
                check(definition, result, item_path)
            append(result)
        if len(cleaned) > max_items:
            if not max_shift:
                raise SlowPath(path)
            cleaned = cleaned[len(cleaned) - max_items:]
        if len(cleaned) < min_items:
            raise SlowPath(path)
        if unique:
            seen: set[bytes] = set()
            for item in cleaned:
                key = orjson.dumps(item, option=orjson.OPT_SORT_KEYS)
                if key in seen:
                    raise SlowPath(path)
                seen.add(key)
        for check, definition in array_checks:
            check(definition, cleaned, path)
        if unique_ids and len({element["_id"] for element in cleaned}) != len(cleaned):
            raise SlowPath(path)
        return cleaned

    return write


def _element_writer(prop: PropertyDefinition, null_ok: bool) -> tuple[Writer, bool] | None:
    """``prop.coerce_value`` for one value (an array's element), and whether the stored value
    depends on the path; None for types without a compiled form. ``null_ok``: null is stored as
    null (else it is refused). Each writer looks at null only once the value is not its type's,
    so that the common case pays nothing for it."""
    kind = type(prop)
    if kind is StringProperty:
        return _string(prop, null_ok), False
    if kind is NumberProperty:
        return _number(prop, null_ok), False
    if kind is BooleanProperty:
        return (_boolean_or_null if null_ok else _boolean), False
    if kind is DateProperty:
        return _date(prop, null_ok), False
    if kind is ReferenceProperty or kind is ObjectIdProperty:
        return _object_id(prop, null_ok), False
    if kind is GeometryProperty and prop.options.get("geoType", "Point") == "Point":
        return (_point_or_null if null_ok else _point), False
    if kind is DocumentProperty and isinstance(prop, DocumentProperty) and "_id" not in prop.properties:
        return _document(prop, null_ok)
    return None


def _other(value: Any, path: str, null_ok: bool) -> Any:
    """A value that is not the writer's type: null when null is stored as null, else refused.
    (Typed ``Any``: writers return what it returns, which is always None.)"""
    if value is None and null_ok:
        return None
    raise SlowPath(path)


def _string(prop: PropertyDefinition, null_ok: bool) -> Writer:
    options = prop.options
    trim, lower, upper = bool(options.get("trim")), bool(options.get("lowercase")), bool(options.get("uppercase"))
    indexed = prop.indexed
    if not (trim or lower or upper):
        if indexed:
            def plain_indexed(value: Any, path: str, ctx: WriteContext) -> str | None:
                if type(value) is str and "\x00" not in value and indexed_text_fits(value):
                    return value
                return _other(value, path, null_ok)

            return plain_indexed

        def plain(value: Any, path: str, ctx: WriteContext) -> str | None:
            if type(value) is str and "\x00" not in value:
                return value
            return _other(value, path, null_ok)

        return plain

    def cleaned(value: Any, path: str, ctx: WriteContext) -> str | None:
        if type(value) is not str:
            return _other(value, path, null_ok)
        if trim:
            value = value.strip()
        if lower:
            value = value.lower()
        if upper:
            value = value.upper()
        if "\x00" in value or (indexed and not indexed_text_fits(value)):
            raise SlowPath(path)
        return value

    return cleaned


def _number(prop: PropertyDefinition, null_ok: bool) -> Writer:
    options = prop.options
    low, high = options.get("min"), options.get("max")
    whole = not options.get("allowDecimal", True)
    top = MAX_SAFE_INTEGER

    def number(value: Any, path: str, ctx: WriteContext) -> int | float | None:
        kind = type(value)
        if kind is int:
            if not -top <= value <= top:
                raise SlowPath(path)
        elif kind is float:
            if not _isfinite(value) or not -top <= value <= top or (whole and not value.is_integer()):
                raise SlowPath(path)
        else:
            return _other(value, path, null_ok)
        if (low is not None and value < low) or (high is not None and value > high):
            raise SlowPath(path)
        return value

    return number


def _boolean(value: Any, path: str, ctx: WriteContext) -> bool:
    if value is True or value is False:
        return value
    raise SlowPath(path)


def _boolean_or_null(value: Any, path: str, ctx: WriteContext) -> bool | None:
    if value is True or value is False or value is None:
        return value
    raise SlowPath(path)


def _date(prop: PropertyDefinition, null_ok: bool) -> Writer:
    if prop.options.get("dateOnly"):
        def date_only(value: Any, path: str, ctx: WriteContext) -> str | None:
            # parse_date_only: ``date.fromisoformat(text).isoformat()``, which is the text itself
            # when it is ASCII YYYY-MM-DD and a real date.
            if type(value) is str and _CANONICAL_DATE.fullmatch(value):
                try:
                    _from_date(value)
                except ValueError:
                    raise SlowPath(path) from None
                return value
            return _other(value, path, null_ok)

        return date_only

    def instant(value: Any, path: str, ctx: WriteContext) -> str | None:
        if type(value) is not str:
            return _other(value, path, null_ok)
        if _CANONICAL_INSTANT.fullmatch(value):  # the stored form already: only its validity is in question
            try:
                _from_instant(value)
            except ValueError:
                raise SlowPath(path) from None
            return value
        try:
            return parse_instant(value)
        except ValueError:
            raise SlowPath(path) from None

    return instant


def _object_id(prop: PropertyDefinition, null_ok: bool) -> Writer:
    # ``coerce_object_id``; a Reference's {_id, object} form goes through the property's own code.
    coerce_value = prop.coerce_value
    objects = isinstance(prop, ReferenceProperty)

    def object_id(value: Any, path: str, ctx: WriteContext) -> str | None:
        if type(value) is str:
            lowered = value.lower()
            if is_object_id(lowered):
                return lowered
            raise SlowPath(path)
        if objects and type(value) is dict:
            return coerce_value(value, path, ctx, MISSING)  # type: ignore[no-any-return]
        return _other(value, path, null_ok)

    return object_id


def _point(value: Any, path: str, ctx: WriteContext) -> dict[str, Any]:
    # GeometryProperty.coerce_value for geoType Point: a fresh {type, coordinates: [lng, lat]}.
    if type(value) is dict and len(value) == 2 and value.get("type") == "Point":
        coordinates = value.get("coordinates")
        if type(coordinates) is list and len(coordinates) == 2:
            longitude, latitude = coordinates
            kinds = (type(longitude), type(latitude))
            if (
                (kinds[0] is float or kinds[0] is int) and (kinds[1] is float or kinds[1] is int)
                and _isfinite(longitude) and _isfinite(latitude)
                and -180 <= longitude <= 180 and -90 <= latitude <= 90
            ):
                return {"type": "Point", "coordinates": [longitude, latitude]}
    raise SlowPath(path)


def _point_or_null(value: Any, path: str, ctx: WriteContext) -> dict[str, Any] | None:
    return None if value is None else _point(value, path, ctx)


def _document(prop: DocumentProperty, null_ok: bool) -> tuple[Writer, bool]:
    children = prop.properties
    if not prop.array:
        level, needs_path = _compile_level(children, None, frozenset())

        def document(value: Any, path: str, ctx: WriteContext) -> dict[str, Any] | None:
            if type(value) is not dict:
                return _other(value, path, null_ok)
            return level(value, path, ctx, {})

        return document, needs_path

    element_level, needs_path = _compile_level(children, "_id", frozenset())

    def element(value: Any, path: str, ctx: WriteContext) -> dict[str, Any]:
        if type(value) is not dict:
            raise SlowPath(path)
        given = value.get("_id")
        if given is None:
            element_id = new_object_id()
        elif type(given) is str and is_object_id(lowered := given.lower()):
            element_id = lowered
        else:
            raise SlowPath(path)
        return element_level(value, path, ctx, {"_id": element_id})

    return element, needs_path
