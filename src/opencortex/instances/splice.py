"""Exported documents encoded straight from stored bodies, without rebuilding them value by value.

The ordinary serialiser (``DocumentPlan``) builds a new dict for every document, property by
property, and the writer encodes it; for a million documents that was most of an export's time.
Yet for most plans the serialised document is just the system properties followed by the stored
body's properties. A ``SplicePlan`` writes ``{"_id":…,"access":7`` as text from the row's
columns (``instances.system_properties``) and then, per row, does the least that gives the same bytes as
``orjson.dumps(plan.serialise_rows(...))``:

- **splice** (SQLite only): the stored JSON text is appended as it is. SQLite keeps the text
  ``orjson`` wrote (``store.database``); PostgreSQL's jsonb reorders keys and adds spaces.
- **re-encode**: the parsed body is fixed up and encoded once: top-level keys put in the plan's
  order (dropping those it has no property for, such as an ``optional`` one not included, as the
  ordinary serialiser does), Document values rebuilt in their sub-properties' order when they are
  not already, References rewritten to ``{_id, object}`` by the property itself, and expanded
  references filled in for the whole batch at once (``DocumentPlan.fill_expansions``).

Which keys need what is judged once per distinct key tuple (documents of one object share a few
shapes), so the per-row cost is ``orjson.loads`` (SQLite), a dict lookup, and the encoding.

A plan qualifies when it selects every system property (no ``paths``), no property has its own
``acl``, and every selected property is shown as stored, is a Document whose sub-properties are,
or is a top-level Reference. A row takes the ordinary path when the viewer's access to it does not
reach every selected property's ``readAccess``, when a Document value is neither null, an
element nor an array of elements, or when its dates or ids are not in the expected form; the output
never depends on which path a row took (tests compare both, row by row).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from opencortex.instances.raw_rows import ACL, BODY, OWNER, RawRow, to_row
from opencortex.instances.serialise import (
    SYSTEM_PROPERTIES,
    DocumentPlan,
    ExpandLoader,
    PendingExpansion,
    _PropertyPlan,
    serialises_as_stored,
)
from opencortex.instances.system_properties import is_plain, raw_text_renderer, raw_values_renderer
from opencortex.model.properties import PropertyDefinition

_SHAPES_LIMIT = 1024  # distinct key tuples remembered per plan (and per Document property)
_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS

# What a top-level key needs (see ``_Shapes.judge``).
_CHECK, _REWRITE, _EXPAND = range(3)


class _Shapes:
    """Judges key tuples against an ordered list of names, remembering the verdicts.

    At the top level a verdict is ``(spliceable, in_order, checks, changes, substitutions)``:
    whether the stored text can be used if the Document values are as shown (keys in order,
    nothing unknown, rewritten or expanded), whether the keys are in the plan's order with nothing
    unknown, the Document values to check (with their element shapes), the References to rewrite
    or expand, and, when the only changes are single References, how to make them in the text:
    ``(name, '"name":', source object as JSON)``. For a Document element it is whether
    the element is already as shown: ``_id`` first, then sub-properties in order, nothing else.
    """

    def __init__(self, names: tuple[str, ...], *, nested: Mapping[str, _Shapes] | None = None,
                 rewritten: Mapping[str, PropertyDefinition] | None = None,
                 expanded: Mapping[str, _PropertyPlan] | None = None, element: bool = False) -> None:
        self.names = names
        self.position = {name: index for index, name in enumerate(names)}
        self.nested = nested or {}
        self.rewritten = rewritten or {}  # References: stored as ids, shown as {_id, object}
        self.expanded = expanded or {}  # References replaced by the documents they name
        self.element = element
        self._verdicts: dict[tuple[str, ...], Any] = {}

    def judge(self, keys: tuple[str, ...]) -> Any:
        verdict = self._verdicts.get(keys)
        if verdict is None:
            verdict = self._judge_element(keys) if self.element else self._judge(keys)
            if len(self._verdicts) < _SHAPES_LIMIT:
                self._verdicts[keys] = verdict
        return verdict

    def _judge(self, keys: tuple[str, ...]) -> tuple[bool, bool, tuple[tuple[str, _Shapes], ...],
                                                      tuple[tuple[str, int], ...], Any]:
        last, in_order = -1, True
        needs: list[tuple[str, int]] = []
        for key in keys:
            index = self.position.get(key)
            if index is None:
                in_order = False  # a key the plan leaves out: rebuilding in plan order drops it
                continue
            if index < last:
                in_order = False
            last = max(last, index)
            if key in self.nested:
                needs.append((key, _CHECK))
            elif key in self.rewritten:
                needs.append((key, _REWRITE))
            elif key in self.expanded:
                needs.append((key, _EXPAND))
        substitutions = None
        if in_order and all(need == _CHECK or need == _REWRITE and not self.rewritten[key].array
                            for key, need in needs):
            substitutions = tuple((key, orjson.dumps(key).decode() + ":",
                                   orjson.dumps(self.rewritten[key].option("sourceObject")).decode())
                                  for key, need in needs if need == _REWRITE)
        checks = tuple((key, self.nested[key]) for key, need in needs if need == _CHECK)
        changes = tuple((key, need) for key, need in needs if need != _CHECK)
        return in_order and not changes, in_order, checks, changes, substitutions

    def _judge_element(self, keys: tuple[str, ...]) -> bool:
        if keys and keys[0] == "_id":
            keys = keys[1:]
        last = -1
        for key in keys:
            index = self.position.get(key, -1)
            if index <= last:
                return False
            last = index
        return True

    def state(self, value: Any) -> int:
        """A Document value: 0 as shown, 1 to rebuild, -1 not a Document value (ordinary path)."""
        if value is None:
            return 0
        if type(value) is dict:
            return 0 if self.judge(tuple(value)) else 1
        if type(value) is list:
            state = 0
            for element in value:
                if type(element) is not dict:
                    return -1
                if not self.judge(tuple(element)):
                    state = 1
            return state
        return -1

    def rebuild(self, value: Any) -> Any:
        """``value`` as the ordinary serialiser shows it (``_copy_document``)."""
        if type(value) is list:
            return [self._element(element) for element in value]
        return self._element(value)

    def _element(self, element: dict[str, Any]) -> dict[str, Any]:
        shown = {"_id": element["_id"]} if "_id" in element else {}
        for name in self.names:
            if name in element:
                shown[name] = element[name]
        return shown


class SplicePlan:
    def __init__(self, plan: DocumentPlan, shapes: _Shapes, min_access: int, splice_text: bool) -> None:
        self.plan = plan
        self.shapes = shapes
        self.min_access = min_access
        self._splice_text = splice_text
        # The plan's system properties, as a dict (``documents``) or as text (``encode_rows``).
        self._system_values = raw_values_renderer(plan.system, plan.definition.name)
        self._system = raw_text_renderer(plan.system, plan.definition.name)
        self._full_access = plan.viewer.full_access
        # A full-access viewer's access is the same for every row.
        self._access = plan.access_for(None, None) if self._full_access else None
        self.spliced = 0
        """Rows whose stored text was used as it is (the rest were re-encoded or took the ordinary path)."""

    @classmethod
    def build(cls, plan: DocumentPlan, dialect: str) -> SplicePlan | None:
        """The plan's fast path, or None when no row could take it. Stored text is spliced only
        on SQLite, where it is the text ``orjson`` wrote."""
        if plan.system != SYSTEM_PROPERTIES:
            return None
        nested: dict[str, _Shapes] = {}
        rewritten: dict[str, PropertyDefinition] = {}
        expanded: dict[str, _PropertyPlan] = {}
        min_access = 0
        for prop_plan in plan.properties:
            prop = prop_plan.prop
            if prop_plan.extra_entries:
                return None
            if prop_plan.expand is not None:
                expanded[prop.name] = prop_plan
            elif prop.type_name == "Document":
                children = prop_plan.children
                if children is None or any(
                    child.extra_entries or child.expand is not None or child.children is not None
                    or not serialises_as_stored(child.prop) or child.prop.name == "_id" for child in children
                ):
                    return None  # one level of plain sub-properties; anything deeper takes the ordinary path
                nested[prop.name] = _Shapes(tuple(child.prop.name for child in children), element=True)
                min_access = max([min_access, *(child.read_access for child in children)])
            elif not serialises_as_stored(prop):
                if prop.type_name != "Reference":
                    return None
                rewritten[prop.name] = prop
            min_access = max(min_access, prop_plan.read_access)
        names = tuple(prop_plan.prop.name for prop_plan in plan.properties)
        shapes = _Shapes(names, nested=nested, rewritten=rewritten, expanded=expanded)
        return cls(plan, shapes, min_access, splice_text=dialect == "sqlite")

    def encode_rows(self, rows: list[RawRow], loader: ExpandLoader | None = None) -> list[bytes]:
        """The rows' documents encoded as compact JSON, one line each, in order; ``loader``
        expands references."""
        pending: list[PendingExpansion] = []
        # Bytes, or (system text, body) waiting for its expansions, or None for the ordinary path.
        # Most rows are encoded at once, so their dicts die young (cheap for the cycle collector).
        out: list[Any] = [self._encode(row, pending, False) for row in rows]
        if pending:
            self.plan.fill_expansions(pending, loader, 0)
        elif None not in out:
            return out
        documents = self._ordinary(rows, out, loader)
        for index, item in enumerate(out):
            if item is None:
                out[index] = orjson.dumps(next(documents), option=_JSON_OPTIONS)
            elif type(item) is tuple:
                out[index] = _joined(*item)
        return out

    def documents(self, rows: list[RawRow], loader: ExpandLoader | None = None) -> list[dict[str, Any]]:
        """The rows' documents, as ``plan.serialise_rows`` gives them (for writers that need
        values, such as CSV), built from the parsed bodies with the same checks."""
        pending: list[PendingExpansion] = []
        out: list[Any] = [self._encode(row, pending, True) for row in rows]
        if pending:
            self.plan.fill_expansions(pending, loader, 0)
        if None in out:
            documents = self._ordinary(rows, out, loader)
            out = [next(documents) if item is None else item for item in out]
        return out

    def _ordinary(self, rows: list[RawRow], out: list[Any], loader: ExpandLoader | None) -> Iterator[dict[str, Any]]:
        """The ordinary serialiser's documents for the rows marked None in ``out``, in order."""
        ordinary = [row for row, item in zip(rows, out, strict=True) if item is None]
        return iter(self.plan.serialise_rows([to_row(row) for row in ordinary], loader))

    def _encode(self, row: RawRow, pending: list[PendingExpansion],
                as_document: bool) -> bytes | tuple[str, dict[str, Any]] | dict[str, Any] | None:
        """The row's document: encoded (bytes; or, while its expansions are pending, the system
        text and the body), or ``as_document``, a dict; None for the ordinary path."""
        access = self._access
        if access is None:
            access = self.plan.access_for(row[OWNER], row[ACL])
            if access < self.min_access:
                return None
        stored = row[BODY]
        owned = type(stored) is str  # parsed here, so ours to change
        body = orjson.loads(stored) if owned else stored
        if type(body) is not dict:
            return None
        shapes = self.shapes
        spliceable, in_order, checks, changes, substitutions = shapes.judge(tuple(body))
        rebuilt: list[tuple[str, _Shapes]] = []
        for name, nested in checks:
            value = body[name]
            # ``_Shapes.state``, unrolled for the common cases: this runs for most documents.
            if type(value) is list:
                state = 0
                for element in value:
                    if type(element) is not dict:
                        return None
                    if not nested.judge(tuple(element)):
                        state = 1
            elif type(value) is dict:
                state = 0 if nested.judge(tuple(value)) else 1
            else:
                state = nested.state(value)
                if state < 0:
                    return None
            if state:
                rebuilt.append((name, nested))
        if as_document:
            system = self._system_values(row, access)
            if system is None:
                return None
            # The system properties, then the body's in the plan's order (without unknown keys).
            system.update(body if in_order else {name: body[name] for name in shapes.names if name in body})
            body = system
        else:
            text = self._system(row, access)
            if text is None:
                return None
            head = text
            if self._splice_text and not rebuilt and (spliceable or substitutions is not None):
                shown = stored if spliceable else _substituted(stored, body, substitutions)
                # orjson never writes a raw line break; text that has one is re-encoded, so that
                # every output is one line (``write_encoded(single_line=True)``).
                if shown is not None and "\n" not in shown and "\r" not in shown:
                    # The stored text is (now) what the reader would get.
                    self.spliced += 1
                    return (head + ("," + shown[1:] if len(shown) > 2 else "}")).encode()
            if not owned or not in_order:
                # In the plan's order, without unknown keys (and never the driver's own dict).
                body = {name: body[name] for name in shapes.names if name in body}
        expanding = False
        for name, nested in rebuilt:
            body[name] = nested.rebuild(body[name])
        for name, change in changes:
            if change == _REWRITE:
                body[name] = shapes.rewritten[name].serialise(body[name])
            else:
                value = body[name]
                body[name] = shapes.expanded[name].prop.serialise(value)
                if value is not None:
                    ids = value if isinstance(value, list) else [value]
                    pending.append(PendingExpansion(shapes.expanded[name], body, name, [str(item) for item in ids],
                                                    isinstance(value, list)))
                    expanding = True
        if as_document:
            return body
        return (head, body) if expanding else _joined(head, body)


def _substituted(text: str, body: dict[str, Any], substitutions: tuple[tuple[str, str, str], ...]) -> str | None:
    """The stored text with each single Reference's id written as ``{"_id":…,"object":…}``, or
    None when that cannot be done safely (then the body is re-encoded)."""
    for name, key, source in substitutions:
        value = body[name]
        if value is None:
            continue  # null either way
        # The key occurs exactly once, so it is the top-level one, followed by its value (the
        # substring cannot occur inside a string value: its quotes would be escaped).
        if type(value) is not str or not is_plain(value) or text.count(key) != 1:
            return None
        replaced = text.replace(f'{key}"{value}"', f'{key}{{"_id":"{value}","object":{source}}}', 1)
        if len(replaced) == len(text):
            return None
        text = replaced
    return text


def _joined(head: str, body: dict[str, Any]) -> bytes:
    if not body:
        return (head + "}").encode()
    return head.encode() + b"," + orjson.dumps(body, option=_JSON_OPTIONS)[1:]
