"""The import's line path (``bulk._Rows``) against ``new_row`` (``Instances.create``'s calls).

``_Rows`` decides once per import what ``new_row`` recomputes per line (the writer's access, the
properties it may write, the create plan, sharing) and encodes the row for the driver. For every
kind of writer and hand-made or generated lines, valid and hostile, it must give the very row
``new_row`` gives, encoded as SQLAlchemy would bind it, or the very fault.
"""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opencortex.acl.viewer import Viewer
from opencortex.demo.study import PATIENTS, patient_bodies
from opencortex.faults import Fault
from opencortex.ids import ANONYMOUS, ROLE_ADMINISTRATOR, ROLE_PROVIDER
from opencortex.instances.bulk import _Rows, new_row
from opencortex.instances.service import Instances
from opencortex.model.definitions import ObjectDefinition
from opencortex.store.database import _json_text
from opencortex.store.tables import documents

ORG = "65f0c0ffee00000000000001"
ADMIN = "65f0c0ffee00000000000002"
PROVIDER = "65f0c0ffee00000000000003"
READER = "65f0c0ffee00000000000004"
SITE = "65f0c0ffee00000000000005"
FAKE = "eeeeeeee"
NOW = datetime(2025, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)

GUARDED = ObjectDefinition.from_json({
    "name": "c_guarded",
    "label": "Guarded",
    "defaultAcl": [{"type": 3, "target": ROLE_ADMINISTRATOR, "allow": 7}, {"type": 3, "target": ROLE_PROVIDER,
                                                                           "allow": 6},
                   {"type": 1, "target": READER, "allow": 4}],
    "properties": [
        {"name": "c_open", "label": "Open", "type": "String"},
        {"name": "c_admin", "label": "Admin", "type": "String", "writeAccess": 7},
        {"name": "c_granted", "label": "Granted", "type": "String", "writeAccess": 7,
         "acl": [{"type": 3, "target": ROLE_PROVIDER, "allow": 7}]},
        {"name": "c_doc", "label": "Doc", "type": "Document", "properties": [
            {"name": "c_x", "label": "X", "type": "String"},
            {"name": "c_secret", "label": "Secret", "type": "String", "writeAccess": 8},
        ]},
        {"name": "c_docs", "label": "Docs", "type": "Document", "array": True, "properties": [
            {"name": "c_n", "label": "N", "type": "Number"},
            {"name": "c_deep", "label": "Deep", "type": "Document", "properties": [
                {"name": "c_top", "label": "Top", "type": "Number", "writeAccess": 7}]},
        ]},
        {"name": "c_when", "label": "When", "type": "Date", "defaultValue": {"type": "env", "value": "now"}},
        {"name": "c_who", "label": "Who", "type": "ObjectId", "defaultValue": {"type": "env", "value": "ac.principal"}},
        {"name": "c_scan", "label": "Scan", "type": "File"},
    ],
    "objectTypes": [
        {"name": "c_kind", "label": "Kind", "properties": [
            {"name": "c_typed", "label": "Typed", "type": "String", "writeAccess": 7},
            {"name": "c_shared", "label": "Shared", "type": "String"}]},
        {"name": "c_plain", "label": "Plain", "properties": [
            {"name": "c_count", "label": "Count", "type": "Number", "validators": [{"name": "required"}]},
            {"name": "c_shared", "label": "Shared", "type": "String", "writeAccess": 7}]},
    ],
})
PATIENT = ObjectDefinition.from_json(PATIENTS)
VIEWERS = {
    "system": Viewer.system(ORG),
    "admin": Viewer(ORG, ADMIN, frozenset({ROLE_ADMINISTRATOR})),
    "provider": Viewer(ORG, PROVIDER, frozenset({ROLE_PROVIDER})),
    "reader": Viewer(ORG, READER),
    "anonymous": Viewer(ORG, ANONYMOUS),
}
ENGINE = sa.create_engine("sqlite://", json_serializer=_json_text)


@pytest.fixture(autouse=True)
def _deterministic(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = itertools.count()

    def fake_id(at: float | None = None) -> str:
        return f"{FAKE}{next(counter):016x}"

    for module in ("opencortex.model.properties.compiled", "opencortex.model.properties.document",
                   "opencortex.model.properties.scalars", "opencortex.instances.bulk"):
        monkeypatch.setattr(f"{module}.new_object_id", fake_id)
    monkeypatch.setattr("opencortex.model.properties.scalars.utcnow", lambda: NOW)
    monkeypatch.setattr("opencortex.instances.bulk.utcnow", lambda: NOW)


def normalised(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: normalised(item) for key, item in value.items()}
    if isinstance(value, list):
        return [normalised(item) for item in value]
    if isinstance(value, str) and value.startswith(FAKE):
        return "<fresh id>"
    return value


def processors(dialect: Any) -> dict[str, Any]:
    return {name: documents.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in ("created", "updated", "acl", "body")}


def expected(instances: Instances, document: dict[str, Any], keep_ids: bool) -> tuple[str, Any]:
    """``new_row``'s row as ``_Rows.make`` should give it: bound as SQLAlchemy binds it, the
    ``_id`` only when kept (the writer gives fresh ones)."""
    try:
        row = new_row(instances, document, keep_ids=keep_ids)
    except Fault as fault:
        return "fault", fault.to_json()
    bind = processors(ENGINE.dialect)
    encoded = (
        row["kept"].get("_id"), row["type"], row["owner"], bind["created"](row["created"]),
        None if row["updated"] is None else bind["updated"](row["updated"]), bind["acl"](row["acl"]),
        bind["body"](normalised(row["body"])),
    )
    assert row["creator"] == row["owner"] and row["updater"] is None and row["sequence"] == 0
    return "row", encoded


def made(rows: _Rows, document: dict[str, Any]) -> tuple[str, Any]:
    try:
        row = rows.make(document)
    except Fault as fault:
        return "fault", fault.to_json()
    body = _json_text(normalised(orjson.loads(row[6])))
    return "row", (*row[:6], body)


def check(definition: ObjectDefinition, viewer: str, document: dict[str, Any], keep_ids: bool = False) -> str:
    instances = Instances(None, "sqlite", ORG, definition, VIEWERS[viewer])  # type: ignore[arg-type]
    reference = expected(instances, copy.deepcopy(document), keep_ids)
    assert made(_Rows(instances, keep_ids, ENGINE.dialect), copy.deepcopy(document)) == reference
    # As a validating process makes it: a dialect of the same class, built there.
    assert made(_Rows(instances, keep_ids, type(ENGINE.dialect)()), copy.deepcopy(document)) == reference
    return reference[0]


GOOD = {"c_open": "o", "c_doc": {"c_x": "x"}, "c_docs": [{"c_n": 1}, {"c_n": 2, "c_deep": {}}],
        "c_scan": "scan.png", "type": "c_plain", "c_count": 3}


@pytest.mark.parametrize("viewer", sorted(VIEWERS))
@pytest.mark.parametrize("document", [
    GOOD,
    {**GOOD, "c_admin": "a"},
    {**GOOD, "c_granted": "g"},
    {**GOOD, "c_doc": {"c_secret": "s"}},
    {**GOOD, "c_doc": [{"c_secret": "s"}]},
    {**GOOD, "c_docs": [{"c_n": 1}, {"c_deep": {"c_top": 1}}]},
    {**GOOD, "c_docs": [{"c_deep": [{"c_top": 1}]}]},
    {**GOOD, "c_docs": {"c_deep": {"c_top": 1}}},
    {**GOOD, "c_admin": "a", "c_doc": {"c_secret": "s"}, "c_nope": 1},
    {**GOOD, "type": "c_kind", "c_typed": "t"},
    {**GOOD, "type": "c_kind", "c_typed": "t", "c_count": None},
    {**GOOD, "type": "c_other", "c_typed": "t"},
    {**GOOD, "type": 5, "c_typed": "t"},
    {key: value for key, value in GOOD.items() if key != "type"},
    {**GOOD, "c_count": None},
    {**GOOD, "acl": [{"type": 1, "target": READER, "allow": 4}]},
    {**GOOD, "acl": [{"type": 3, "target": ROLE_PROVIDER, "allow": 6}, {"type": 1, "target": READER, "allow": 7}]},
    {**GOOD, "acl": [{"type": 1, "target": READER, "allow": 8}]},
    {**GOOD, "acl": [{"type": 2, "target": READER, "allow": 4}]},
    {**GOOD, "acl": [{"type": 1, "target": READER, "allow": True}]},
    {**GOOD, "acl": {"type": 1}},
    {**GOOD, "acl": []},
    {**GOOD, "object": "c_guarded", "owner": {"_id": ADMIN}, "creator": 1, "updater": None, "access": 7},
    {**GOOD, "object": "c_other"},
    {**GOOD, "_id": "65f0c0ffee000000000000aa", "created": "2024-03-01T10:00:00.000Z", "updated": None},
    {**GOOD, "_id": "65F0C0FFEE000000000000AA", "created": "2024-03-01", "updated": "2024-03-02T10:00:00+02:00"},
    {**GOOD, "_id": "nope", "created": "yesterday"},
    {**GOOD, "created": 5, "updated": "x"},
    {**GOOD, "c_when": "2024-01-01", "c_who": ADMIN.upper()},
    {**GOOD, "c_scan": {"content": "a.png", "thumb": "b.png"}},
    {**GOOD, "c_doc": "x", "c_docs": [None]},
    {**GOOD, "c_shared": "s"},
    {**GOOD, "type": "c_kind", "c_shared": "s"},
    {"type": "c_kind", "acl": [{"type": 1, "target": READER, "allow": 4}]},
    {"type": "c_kind", "acl": [{"type": 1, "target": READER, "allow": 1}]},
    {"type": "c_kind"},
    {},
])
def test_a_line_gives_new_rows_row_or_fault(viewer: str, document: dict[str, Any]) -> None:
    for keep_ids in (False, True):
        check(GUARDED, viewer, document, keep_ids)


def test_patients_as_the_benchmark_imports_them() -> None:
    shared = [{"type": 1, "target": READER, "allow": 4}]
    for number, body in enumerate(patient_bodies(200, [SITE])):
        if number % 2:
            body["acl"] = shared
        for viewer in ("system", "admin", "provider"):
            assert check(PATIENT, viewer, body) == "row"


_IDS = st.sampled_from([ADMIN, READER, "65F0C0FFEE000000000000AA", "nope", ANONYMOUS])
_VALUES = st.none() | st.booleans() | st.integers(-3, 9) | st.text(max_size=4) | _IDS
_JSON = st.recursive(_VALUES, lambda inner: st.lists(inner, max_size=2) | st.dictionaries(
    st.sampled_from(["c_x", "c_secret", "c_n", "c_deep", "c_top", "_id", "type", "target", "allow"]), inner,
    max_size=3), max_leaves=6)
_ENTRY = st.fixed_dictionaries({"type": st.sampled_from([1, 3, 2]), "target": _IDS | st.just(ROLE_PROVIDER),
                                "allow": st.integers(0, 8)})
_LINE = st.fixed_dictionaries({}, optional={
    "c_open": _JSON, "c_admin": _JSON, "c_granted": _JSON, "c_doc": _JSON, "c_docs": _JSON, "c_when": _JSON,
    "c_who": _JSON, "c_scan": _JSON, "c_typed": _JSON, "c_shared": _JSON, "c_count": _JSON, "c_nope": _JSON,
    "type": st.sampled_from(["c_kind", "c_plain", "c_none"]) | _JSON, "acl": st.lists(_ENTRY, max_size=3) | _JSON,
    "object": st.sampled_from(["c_guarded", "c_other"]), "_id": _IDS, "created": _JSON, "updated": _JSON,
    "owner": _JSON,
})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(_LINE, st.sampled_from(sorted(VIEWERS)), st.booleans())
def test_generated_lines_give_new_rows_row_or_fault(document: dict[str, Any], viewer: str, keep_ids: bool) -> None:
    check(GUARDED, viewer, document, keep_ids)
