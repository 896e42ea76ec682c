"""Encoded documents spliced from the stored JSON text, when serialising would not change it.

An export of every property of an object, on SQLite, mostly writes each stored body unchanged:
the serialised document is the system properties followed by the body's properties, copied as
stored. Building dicts only to encode them again was most of an export's time, so a
``SplicePlan`` writes ``{"_id":…,"access":7`` from the row's columns and appends the stored text
after it, byte for byte what ``orjson.dumps(plan.serialise_rows(...))`` gives.

It only does so when that is provably the same:

- once per plan: no ``paths`` (all system properties), no ``expand``, no property ``acl``, and
  every selected property (and sub-property of a Document) is shown as stored, except top-level
  References (stored as an id, shown as ``{_id, object}``): a body with one is re-encoded after
  its references are rewritten by the property itself, still without rebuilding any dict;
- per row: the keys of every Document value and array element are in the plan's order with
  nothing unknown (``_id`` first); top-level keys out of order, or that the plan leaves out (an
  ``optional`` property not included), mean a re-encode of the body; the viewer's access
  to the row reaches every selected property's ``readAccess``; the dates have SQLAlchemy's SQLite
  form and the ids are plain ASCII letters and digits.

A row that fails any check is serialised the ordinary way, so the output never depends on which
path a row took (tests compare both on the same rows). Only SQLite: it keeps the JSON text that
``orjson`` wrote (``store.database``); PostgreSQL's jsonb reorders keys and adds spaces.

The body's keys are read with ``orjson.loads`` (a few microseconds), which is the price of the
checks; shapes (key tuples) repeat, so each distinct shape is judged once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from opencortex.instances.raw_rows import ACL, BODY, CREATED, CREATOR, ID, OWNER, TYPE, UPDATED, UPDATER, RawRow, to_row
from opencortex.instances.serialise import SYSTEM_PROPERTIES, DocumentPlan, _PropertyPlan, serialises_as_stored
from opencortex.model.properties import PropertyDefinition

_SHAPES_LIMIT = 1024  # distinct key tuples remembered per plan (and per Document property)
_REJECT = False


# What a body key needs before the stored text can be used (see ``_Shapes.judge``).
_CHECK, _REWRITE, _DROP, _REORDER = range(4)


class _Shapes:
    """Judges key tuples against an ordered list of names, remembering the verdicts.

    A verdict is ``False`` (a Document element that is not as shown: take the ordinary path) or
    what the keys need: a Document value to check, a Reference to rewrite, and at the top level a
    key the plan leaves out (an optional property not included, say) to drop, as the ordinary
    serialiser drops every key it has no plan for, or the whole body to put in the plan's order
    (stored bodies keep the order their writer gave).
    """

    def __init__(self, names: tuple[str, ...], nested: Mapping[str, _Shapes], allow_id: bool,
                 rewritten: Mapping[str, PropertyDefinition]) -> None:
        self.position = {name: index for index, name in enumerate(names)}
        self.nested = nested
        self.rewritten = rewritten  # References: stored as ids, shown as {_id, object}
        self.allow_id = allow_id  # a Document element: ``_id`` first, nothing unknown, nothing rewritten
        self._verdicts: dict[tuple[str, ...], tuple[tuple[str, int], ...] | bool] = {}

    def judge(self, keys: tuple[str, ...]) -> tuple[tuple[str, int], ...] | bool:
        verdict = self._verdicts.get(keys)
        if verdict is None:
            verdict = self._judge(keys)
            if len(self._verdicts) < _SHAPES_LIMIT:
                self._verdicts[keys] = verdict
        return verdict

    def _judge(self, keys: tuple[str, ...]) -> tuple[tuple[str, int], ...] | bool:
        if self.allow_id and keys and keys[0] == "_id":
            keys = keys[1:]
        last = -1
        reorder = False
        needs: list[tuple[str, int]] = []
        for key in keys:
            index = self.position.get(key)
            if index is None:
                if self.allow_id:
                    return _REJECT
                needs.append((key, _DROP))
                continue
            if index <= last:
                if self.allow_id:
                    return _REJECT
                reorder = True
            last = max(last, index)
            if key in self.nested:
                needs.append((key, _CHECK))
            elif key in self.rewritten:
                needs.append((key, _REWRITE))
        if reorder:
            needs.append(("", _REORDER))  # last: rebuilding in plan order also drops unknown keys
        return tuple(needs)

    def accepts_value(self, value: Any) -> bool:
        """A Document property's stored value: null, one element, or an array of elements."""
        if value is None:
            return True
        if type(value) is dict:
            return self.judge(tuple(value)) is not _REJECT
        if type(value) is list:
            return all(type(element) is dict and self.judge(tuple(element)) is not _REJECT for element in value)
        return False


class SplicePlan:
    def __init__(self, plan: DocumentPlan, shapes: _Shapes, min_access: int) -> None:
        self.plan = plan
        self.shapes = shapes
        self.min_access = min_access
        self._object = orjson.dumps(plan.definition.name).decode()
        self._full_access = plan.viewer.full_access

    @classmethod
    def build(cls, plan: DocumentPlan, dialect: str) -> SplicePlan | None:
        """The splice plan for ``plan``, or None when no row could take it."""
        if dialect != "sqlite" or plan.system != SYSTEM_PROPERTIES:
            return None
        built = _shapes_of(plan.properties, allow_id=False)
        if built is None:
            return None
        shapes, min_access = built
        return cls(plan, shapes, min_access)

    def encode_rows(self, rows: list[RawRow]) -> list[bytes]:
        """The rows' documents encoded as compact JSON, in order."""
        return [self.encode(row) for row in rows]

    def encode(self, row: RawRow) -> bytes:
        spliced = self._splice(row)
        if spliced is not None:
            return spliced
        document = self.plan.serialise_rows([to_row(row)], None)[0]
        return orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS)

    def _splice(self, row: RawRow) -> bytes | None:
        text = row[BODY]
        if type(text) is not str:
            return None
        access = self.plan.access_for(row[OWNER], row[ACL])
        if not self._full_access and access < self.min_access:
            return None
        body = orjson.loads(text)
        if type(body) is not dict:
            return None
        shapes = self.shapes
        verdict = shapes.judge(tuple(body))
        if verdict is _REJECT:
            return None
        rewrite = False
        for name, need in verdict:  # type: ignore[union-attr]
            if need == _CHECK:
                if not shapes.nested[name].accepts_value(body[name]):
                    return None
            elif need == _REWRITE:
                body[name] = shapes.rewritten[name].serialise(body[name])
                rewrite = True
            elif need == _DROP:
                del body[name]
                rewrite = True
            else:
                body = {key: body[key] for key in shapes.position if key in body}
                rewrite = True
        head = self._system(row, access)
        if head is None:
            return None
        if not body:
            return (head + "}").encode()
        if rewrite:  # re-encoding the (already checked) body is still cheaper than rebuilding it
            return head.encode() + b"," + orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)[1:]
        return (head + "," + text[1:]).encode()

    def _system(self, row: RawRow, access: int) -> str | None:
        """``_all_system_values`` of the row as JSON text without its closing brace."""
        identifier, created = row[ID], _iso(row[CREATED])
        if created is None or not _plain(identifier):
            return None
        updated = row[UPDATED]
        if updated is None:
            updated_text = "null"
        else:
            updated_iso = _iso(updated)
            if updated_iso is None:
                return None
            updated_text = f'"{updated_iso}"'
        head = f'{{"_id":"{identifier}","object":{self._object}'
        if row[TYPE] is not None:
            head += ',"type":' + orjson.dumps(row[TYPE]).decode()
        head += f',"created":"{created}","updated":{updated_text}'
        for key, index in (("owner", OWNER), ("creator", CREATOR), ("updater", UPDATER)):
            account = row[index]
            if account:
                if not _plain(account):
                    return None
                head += f',"{key}":{{"_id":"{account}","object":"account"}}'
        return head + f',"access":{int(access)}'


def _shapes_of(plans: list[_PropertyPlan], allow_id: bool) -> tuple[_Shapes, int] | None:
    nested: dict[str, _Shapes] = {}
    rewritten: dict[str, PropertyDefinition] = {}
    min_access = 0
    for plan in plans:
        if plan.expand is not None or plan.extra_entries:
            return None
        if not serialises_as_stored(plan.prop):
            if allow_id or plan.prop.type_name != "Reference":
                return None
            rewritten[plan.prop.name] = plan.prop
        min_access = max(min_access, plan.read_access)
        if plan.prop.type_name == "Document":
            if plan.children is None:
                return None
            inner = _shapes_of(plan.children, allow_id=True)
            if inner is None or inner[0].nested or inner[0].rewritten:
                return None  # one level of Documents; deeper ones take the ordinary path
            nested[plan.prop.name] = inner[0]
            min_access = max(min_access, inner[1])
    if allow_id and any(plan.prop.name == "_id" for plan in plans):
        return None
    return _Shapes(tuple(plan.prop.name for plan in plans), nested, allow_id, rewritten), min_access


def _iso(stored: Any) -> str | None:
    """``clock.iso`` of a date as SQLAlchemy stores it on SQLite ('2026-11-28 19:37:21.051280')."""
    if type(stored) is not str or len(stored) != 26 or stored[10] != " " or stored[19] != ".":
        return None
    return f"{stored[:10]}T{stored[11:23]}Z"


def _plain(identifier: Any) -> bool:
    """Needs no JSON escaping (ObjectIds always; anything else takes the ordinary path)."""
    return type(identifier) is str and identifier.isascii() and identifier.isalnum()
