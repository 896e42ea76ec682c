"""Random stored rows, principals and selections: the splice fast path gives what ``DocumentPlan`` gives.

``SplicePlan`` promises, for every row, the ordinary serialiser's document (``documents``) and its
``orjson`` encoding (``encode_rows``), whatever is stored: bodies with keys out of order, unknown
keys, missing properties, values of the wrong shape, text that needs escaping; system columns in
unexpected forms; rows a restricted principal sees with different access (per-instance ``acl``,
properties whose ``readAccess`` is above it). Each example stores rows in a transaction that is
rolled back, scans them as an export does, and compares both paths document by document.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from opencortex.acl.viewer import Viewer, as_principal
from opencortex.ids import ROLE_ADMINISTRATOR, ROLE_PROVIDER, new_object_id
from opencortex.instances.raw_rows import to_row
from opencortex.instances.selection import parse_selection
from opencortex.instances.serialise import DocumentPlan
from opencortex.instances.service import Instances
from opencortex.instances.splice import SplicePlan
from opencortex.model.accounts import create_account
from opencortex.model.objects import create_object, get_object
from opencortex.store.tables import documents
from tests.support.platform import OrgFixture

EXAMPLES = 120
ADMIN_DELETE = {"type": 3, "target": ROLE_ADMINISTRATOR, "allow": 7}
OWNER_DELETE = {"type": 4, "allow": 7}

TARGET = {
    "name": "c_target",
    "label": "Target",
    "defaultAcl": [ADMIN_DELETE, OWNER_DELETE],
    "createAcl": [{"type": 3, "target": ROLE_ADMINISTRATOR}],
    "properties": [
        {"name": "c_label", "label": "Label", "type": "String"},
        {"name": "c_rank", "label": "Rank", "type": "Number", "readAccess": 6},
    ],
}
SAMPLE = {
    "name": "c_sample",
    "label": "Sample",
    "defaultAcl": [ADMIN_DELETE, OWNER_DELETE],
    "createAcl": [{"type": 3, "target": ROLE_ADMINISTRATOR}],
    "properties": [
        {"name": "c_text", "label": "Text", "type": "String"},
        {"name": "c_count", "label": "Count", "type": "Number"},
        {"name": "c_flag", "label": "Flag", "type": "Boolean"},
        {"name": "c_when", "label": "When", "type": "Date"},
        {"name": "c_oid", "label": "Oid", "type": "ObjectId"},
        {"name": "c_tags", "label": "Tags", "type": "String", "array": True},
        {"name": "c_name", "label": "Name", "type": "Document", "properties": [
            {"name": "c_first", "label": "First", "type": "String"},
            {"name": "c_last", "label": "Last", "type": "String"},
            {"name": "c_born", "label": "Born", "type": "Date"},
        ]},
        {"name": "c_visits", "label": "Visits", "type": "Document", "array": True, "properties": [
            {"name": "c_kind", "label": "Kind", "type": "String"},
            {"name": "c_score", "label": "Score", "type": "Number", "readAccess": 5},
        ]},
        {"name": "c_target", "label": "Target", "type": "Reference", "sourceObject": "c_target",
         "expandable": True},
        {"name": "c_others", "label": "Others", "type": "Reference", "array": True, "sourceObject": "c_target"},
        {"name": "c_secret", "label": "Secret", "type": "String", "readAccess": 6},
        {"name": "c_notes", "label": "Notes", "type": "String", "optional": True},
        {"name": "c_deep", "label": "Deep", "type": "Document", "optional": True, "properties": [
            {"name": "c_inner", "label": "Inner", "type": "Document", "properties": [
                {"name": "c_leaf", "label": "Leaf", "type": "String"},
            ]},
        ]},
        {"name": "c_blob", "label": "Blob", "type": "Any", "optional": True},
        {"name": "c_guarded", "label": "Guarded", "type": "String", "optional": True,
         "acl": [{"type": 3, "target": ROLE_PROVIDER, "allow": 6}]},
    ],
}

# Text that needs escaping, looks like JSON or like a reference's key, or is not ASCII.
TRICKY = ['"', "\\", "\n", "\r\n", "\u2028", "é", "Ünïcødé", "😀", '"c_target":"', '{"_id":"x"}', "", " "]
texts = st.one_of(
    st.sampled_from(TRICKY),
    st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=10),
)
numbers = st.one_of(st.integers(-(2**53), 2**53), st.floats(allow_nan=False, allow_infinity=False))
moments = st.datetimes(datetime(1970, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC))
iso_dates = moments.map(lambda moment: moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"))
hex_ids = st.text("0123456789abcdef", min_size=24, max_size=24)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
anything = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
                        max_leaves=6)


def _with_odd(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly values of the property's type, sometimes null or anything at all."""
    return st.one_of(valid, valid, valid, st.none(), anything)


@st.composite
def _elements(draw: st.DrawFn, children: dict[str, st.SearchStrategy[Any]]) -> dict[str, Any]:
    """A Document value: some of its children in any order, maybe an ``_id`` anywhere, maybe
    keys no sub-property has."""
    names = draw(st.permutations(list(children)))
    kept = [name for name in names if draw(st.booleans())]
    element = {name: draw(children[name]) for name in kept}
    if draw(st.booleans()):
        element["_id"] = draw(hex_ids)
        if draw(st.booleans()):  # usually first, as stored by the writer
            element = {"_id": element.pop("_id"), **element}
    if draw(st.integers(0, 4)) == 0:
        element[draw(st.sampled_from(["c_gone", "c_extra", "_id2"]))] = draw(scalars)
    return element


NAME_CHILDREN = {"c_first": _with_odd(texts), "c_last": _with_odd(texts), "c_born": _with_odd(iso_dates)}
VISIT_CHILDREN = {"c_kind": _with_odd(texts), "c_score": _with_odd(numbers)}


def _values(target_ids: list[str]) -> dict[str, st.SearchStrategy[Any]]:
    references = st.one_of(st.sampled_from(target_ids), st.sampled_from(target_ids), hex_ids)  # or dangling
    return {
        "c_text": _with_odd(texts),
        "c_count": _with_odd(numbers),
        "c_flag": _with_odd(st.booleans()),
        "c_when": _with_odd(iso_dates),
        "c_oid": _with_odd(hex_ids),
        "c_tags": _with_odd(st.lists(texts, max_size=3)),
        "c_name": st.one_of(_elements(NAME_CHILDREN), _elements(NAME_CHILDREN), st.none(), anything,
                            st.lists(_elements(NAME_CHILDREN), max_size=2)),
        "c_visits": st.one_of(st.lists(_elements(VISIT_CHILDREN), max_size=3), st.none(), anything,
                              _elements(VISIT_CHILDREN), st.lists(st.one_of(_elements(VISIT_CHILDREN), scalars),
                                                                  min_size=1, max_size=2)),
        # Not-plain ids (quotes, non-ASCII) as well: the text rewrite must refuse them.
        "c_target": st.one_of(references, references, st.none(), st.sampled_from(['x"y', "é", ""]), anything,
                              st.lists(references, max_size=2)),
        "c_others": st.one_of(st.lists(references, max_size=3), st.none(), references, anything),
        "c_secret": _with_odd(texts),
        "c_notes": _with_odd(texts),
        "c_deep": st.one_of(st.none(), st.fixed_dictionaries({"c_inner": st.one_of(
            st.none(), st.fixed_dictionaries({"c_leaf": _with_odd(texts)}))}), anything),
        "c_blob": anything,
        "c_guarded": _with_odd(texts),
    }


def _written(target_ids: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """A body as the writer stores it: valid values, properties in definition order (some missing,
    none of the optional ones), Document elements ``_id`` first: the bodies the fast path splices."""
    name = st.fixed_dictionaries({}, optional={"c_first": texts, "c_last": texts, "c_born": iso_dates})
    visit = st.fixed_dictionaries({"_id": hex_ids}, optional={"c_kind": texts, "c_score": numbers})
    return st.fixed_dictionaries({"c_target": st.sampled_from(target_ids)}, optional={
        "c_text": texts, "c_count": numbers, "c_flag": st.booleans(), "c_when": iso_dates, "c_oid": hex_ids,
        "c_tags": st.lists(texts, max_size=3), "c_name": st.one_of(st.none(), name),
        "c_visits": st.lists(visit, max_size=2), "c_secret": texts,
    }).map(lambda body: {key: body[key] for key in _ORDER if key in body})


_ORDER = [prop["name"] for prop in SAMPLE["properties"]]  # type: ignore[index]


@st.composite
def _bodies(draw: st.DrawFn, values: dict[str, st.SearchStrategy[Any]]) -> dict[str, Any]:
    """Some of the properties (missing ones too), in definition order or shuffled, maybe with
    keys of removed properties or system names."""
    names = list(values)
    if draw(st.integers(0, 3)) == 0:
        names = draw(st.permutations(names))
    body = {name: draw(values[name]) for name in names if draw(st.integers(0, 5)) > 0}
    if draw(st.integers(0, 4)) == 0:
        body[draw(st.sampled_from(["c_gone", "owner", "_id", "access", "c_target2"]))] = draw(scalars)
    return body


# How the body is stored. "orjson" is what every writer of ours stores; the others are text no
# writer of ours makes (but a database may hold), equal as JSON: spaced (never spliced: the
# reference rewrite does not find its key and value), ASCII-escaped (spliced as it is), with line
# breaks between tokens (must not be spliced: one document per line).
BODY_FORMS = st.sampled_from(["orjson", "orjson", "orjson", "spaced", "ascii", "lines"])


@dataclass
class World:
    platform: OrgFixture
    admin: Viewer
    monitor_id: str
    account_ids: list[str]


# What a row may hold in a system column that needs care: an id or account that is not an ObjectId
# (needs escaping, or is empty), a type that needs escaping, and (SQLite only: PostgreSQL has a
# real timestamp type) a date as text not in SQLAlchemy's own form.
ODD_IDS = ['q"', "é", "z\\"]
ODD_ACCOUNTS = ['a"b', "é", ""]
ODD_TYPES = ['a"b', "é\n"]
ODD_SQLITE_DATES = ["2024-03-01 09:30:00", "2024-03-01 09:30:00.123456+00:00", "2024-03-01T09:30:00.123456"]
ODDITIES = [None] * 6 + ["id", "owner", "creator", "updater", "type", "created"]


@st.composite
def _rows(draw: st.DrawFn, world: World, target_ids: list[str]) -> list[dict[str, Any]]:
    values = _values(target_ids)
    accounts = st.one_of(st.none(), st.sampled_from(world.account_ids), hex_ids)
    grants = st.lists(st.fixed_dictionaries({
        "type": st.just(1), "target": st.sampled_from(world.account_ids), "allow": st.sampled_from([1, 4, 5, 6, 7]),
    }) | st.fixed_dictionaries({
        "type": st.just(3), "target": st.just(ROLE_PROVIDER), "allow": st.sampled_from([4, 6]),
    }), max_size=2)
    rows = []
    for index in range(draw(st.integers(1, 10))):
        odd = draw(st.sampled_from(ODDITIES))
        created = draw(moments)
        row = {
            "id": new_object_id(),  # in creation order
            "type": draw(st.one_of(st.none(), st.none(), st.just("c_kind"))),
            "owner": draw(accounts),
            "creator": draw(accounts),
            "updater": draw(accounts),
            "created": created,
            "updated": draw(st.one_of(st.none(), st.just(created + timedelta(microseconds=1)), moments)),
            "acl": draw(grants),
            "body": draw(st.one_of(_written(target_ids), _bodies(values))),
            "form": draw(BODY_FORMS),
            "odd_date": None,
        }
        if odd == "id":
            row["id"] = draw(st.sampled_from(ODD_IDS)) + str(index)
        elif odd in ("owner", "creator", "updater"):
            row[odd] = draw(st.sampled_from(ODD_ACCOUNTS))
        elif odd == "type":
            row["type"] = draw(st.sampled_from(ODD_TYPES))
        elif odd == "created":
            row["odd_date"] = draw(st.sampled_from(ODD_SQLITE_DATES))
        rows.append(row)
    return rows


PATHS = ["_id", "created", "owner", "access", "c_text", "c_name", "c_name.c_first", "c_visits.c_kind", "c_target",
         "c_target.c_label", "c_secret", "c_notes"]
selections = st.tuples(
    st.one_of(st.none(), st.none(), st.none(), st.lists(st.sampled_from(PATHS), min_size=1, max_size=4)),
    # c_notes keeps the fast path; the others are what it leaves to the ordinary one.
    st.one_of(st.just([]), st.just(["c_notes"]), st.lists(st.sampled_from(["c_notes", "c_deep", "c_blob", "c_guarded"]),
                                                          max_size=2)),
    st.sampled_from([[], ["c_target"]]),
)


@pytest.fixture
def world(platform: OrgFixture) -> World:
    org_id = platform.org["id"]
    with platform.runtime.database.begin() as connection:
        create_object(connection, org_id, TARGET)
        create_object(connection, org_id, SAMPLE)
        monitor = create_account(connection, org_id, email="monitor@example.test", password="unused-Passw0rd!")
    admin = Viewer(org_id, platform.admin["id"], frozenset(platform.admin["roles"]))
    return World(platform, admin, monitor["id"], [monitor["id"], platform.admin["id"], platform.provider["id"]])


def _insert(connection: sa.Connection, dialect: str, org_id: str, object_name: str, row: dict[str, Any]) -> None:
    body, form = row["body"], row["form"]
    values = {key: row[key] for key in ("id", "type", "owner", "creator", "updater", "created", "updated", "acl")}
    connection.execute(documents.insert().values(org_id=org_id, object=object_name, sequence=0, body={}, **values))
    if form != "orjson":
        text = {"spaced": json.dumps(body, ensure_ascii=False),
                "ascii": json.dumps(body, separators=(",", ":")),
                "lines": json.dumps(body, ensure_ascii=False, separators=(",", ":"), indent=0)}[form]
        cast = ":body" if dialect == "sqlite" else "CAST(:body AS jsonb)"
        connection.execute(sa.text(f"UPDATE documents SET body = {cast} WHERE id = :id"),  # noqa: S608
                           {"body": text, "id": row["id"]})
    else:
        connection.execute(documents.update().where(documents.c.id == row["id"]).values(body=body))
    if dialect == "sqlite" and row["odd_date"] is not None:
        connection.execute(sa.text("UPDATE documents SET created = :created WHERE id = :id"),
                           {"created": row["odd_date"], "id": row["id"]})


def _canonical(value: Any) -> bytes:
    """The value as ``orjson`` writes it: equal for equal JSON with the same key order, at every level."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def test_splice_gives_what_document_plan_gives(world: World) -> None:
    platform = world.platform
    database = platform.runtime.database
    org_id = platform.org["id"]
    seen: Counter[str] = Counter()

    @settings(max_examples=EXAMPLES, deadline=None, database=None)
    @given(data=st.data(), principal=st.sampled_from(["system", "admin", "provider", "monitor"]),
           selection=selections, batch=st.integers(1, 5))
    def check(data: st.DataObject, principal: str, selection: Any, batch: int) -> None:
        with database.engine.connect() as connection:
            transaction = connection.begin()
            try:
                targets = [new_object_id() for _ in range(2)]
                for identifier in targets:
                    connection.execute(documents.insert().values(
                        org_id=org_id, object="c_target", id=identifier, owner=world.monitor_id,
                        created=datetime(2024, 1, 1, tzinfo=UTC), sequence=0, acl=[],
                        body={"c_label": data.draw(texts), "c_rank": data.draw(numbers)}))
                rows = data.draw(_rows(world, targets))
                for row in rows:
                    _insert(connection, database.dialect, org_id, "c_sample", row)
                seen["compared rows"] += _compare(connection, world, principal, selection, batch, seen)
            finally:
                transaction.rollback()

    check()
    # And one comparison that expands for certain, whatever was drawn: Hypothesis seeds its draws
    # with constants from the modules the process has loaded, so this test draws differently in
    # the whole suite than alone, and a run may draw no row whose reference can be expanded.
    with database.engine.connect() as connection:
        transaction = connection.begin()
        try:
            target = new_object_id()
            connection.execute(documents.insert().values(
                org_id=org_id, object="c_target", id=target, owner=world.monitor_id,
                created=datetime(2024, 1, 1, tzinfo=UTC), sequence=0, acl=[], body={"c_label": "x", "c_rank": 1}))
            _insert(connection, database.dialect, org_id, "c_sample", {
                "id": new_object_id(), "type": None, "owner": world.account_ids[0], "creator": None, "updater": None,
                "created": datetime(2024, 1, 2, tzinfo=UTC), "updated": None, "acl": [],
                "body": {"c_text": "anchor", "c_target": target}, "form": "orjson", "odd_date": None})
            before = seen["expanded"]
            seen["compared rows"] += _compare(connection, world, "system", (None, [], ["c_target"]), 1, seen)
            assert seen["expanded"] == before + 1, seen
        finally:
            transaction.rollback()

    # Not vacuous: most plans had a fast path, rows took each path, and SQLite spliced text.
    assert seen["fast plans"] >= EXAMPLES // 4, seen
    assert seen["fast rows"] > 0 and seen["ordinary rows"] > 0, seen
    assert seen["spliced"] > 0 or database.dialect != "sqlite", seen


def _compare(connection: sa.Connection, world: World, principal: str, chosen: Any, batch: int,
             seen: Counter[str]) -> int:
    platform = world.platform
    org_id = platform.org["id"]
    dialect = platform.runtime.database.dialect
    viewer = {
        "system": lambda: Viewer.system(org_id),
        "admin": lambda: world.admin,
        "provider": lambda: as_principal(connection, org_id, platform.provider["id"]),
        "monitor": lambda: as_principal(connection, org_id, world.monitor_id),
    }[principal]()
    definition = get_object(connection, org_id, "c_sample")
    instances = Instances(connection, dialect, org_id, definition, viewer)
    plan = DocumentPlan.build(definition, viewer, parse_selection(*chosen))
    splice = SplicePlan.build(plan, dialect)
    if splice is None:
        return 0
    seen["fast plans"] += 1
    loader = instances.load_expanded
    compared = 0
    for rows in instances.scan_raw(None, batch):
        expected = plan.serialise_rows([to_row(row) for row in rows], loader)
        built = splice.documents(rows, loader)
        encoded = splice.encode_rows(rows, loader)
        assert len(built) == len(encoded) == len(expected) == len(rows)
        for row, document, line, wanted in zip(rows, built, encoded, expected, strict=True):
            assert document == wanted
            assert _canonical(document) == _canonical(wanted)  # the same key order, at every level
            # The line parses to the same document, keys in the same order...
            assert _canonical(orjson.loads(line)) == _canonical(wanted)
            # ...and is byte for byte its encoding, unless the stored text (spliced as it is)
            # was written by something other than orjson.
            assert line == _canonical(wanted) or _stored_by_other(row)
            assert b"\n" not in line and b"\r" not in line
            compared += 1
        before = splice.spliced
        fast = sum(splice._encode(row, [], False) is not None for row in rows)
        seen["fast rows"] += fast
        seen["ordinary rows"] += len(rows) - fast
        seen["spliced"] += splice.spliced - before
        seen["expanded"] += sum(isinstance(document.get("c_target"), dict) and "c_label" in document["c_target"]
                                for document in expected)
    return compared


def _stored_by_other(row: Any) -> bool:
    """Whether the row's stored body text differs from what ``orjson`` writes for it."""
    stored = row[-1]
    return isinstance(stored, str) and stored.encode() != _canonical(orjson.loads(stored))
