"""The export fast path: spliced (or re-encoded) stored text equals the ordinary serialisation.

``SplicePlan.encode`` must give, for every row, exactly ``orjson.dumps`` of what
``DocumentPlan.serialise_rows`` gives; these tests run both over the same rows, including rows
made to fail each of the splice checks, and check that the fast path is really taken (on SQLite)
where it should be, so that a regression to "always the slow path" fails too.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from opencortex.acl.viewer import Viewer, as_principal
from opencortex.instances.raw_rows import raw_columns, to_row
from opencortex.instances.selection import parse_selection
from opencortex.instances.serialise import DocumentPlan
from opencortex.instances.service import Instances
from opencortex.instances.splice import SplicePlan
from opencortex.model.accounts import create_account
from opencortex.model.objects import get_object, update_object
from opencortex.store.tables import documents
from tests.instances.conftest import load_study


def _set_body(connection: Any, instance_id: str, body: dict[str, Any]) -> None:
    connection.execute(documents.update().where(documents.c.id == instance_id).values(body=body))


def _scan(connection: Any, platform: Any, viewer: Viewer, selection: Any = None) -> tuple[DocumentPlan, list[Any]]:
    dialect = platform.runtime.database.dialect
    definition = get_object(connection, platform.org["id"], "c_patient")
    instances = Instances(connection, dialect, platform.org["id"], definition, viewer)
    plan = DocumentPlan.build(definition, viewer, selection or parse_selection(None, None, None))
    rows = [row for batch in instances.scan_raw(None, 7) for row in batch]
    return plan, rows


def _assert_same(splice: SplicePlan, plan: DocumentPlan, rows: list[Any], loader: Any = None) -> None:
    """Both fast-path outputs equal the ordinary serialiser's, row by row."""
    expected = plan.serialise_rows([to_row(row) for row in rows], loader)
    assert splice.documents(rows, loader) == expected
    assert [list(document) for document in splice.documents(rows, loader)] == [list(document) for document in expected]
    assert splice.encode_rows(rows, loader) == [orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS)
                                                for document in expected]


def _paths_taken(splice: SplicePlan, rows: list[Any]) -> tuple[int, int]:
    """(rows encoded from their stored body, of which spliced as stored text)."""
    before = splice.spliced
    fast = sum(splice._encode(row, [], False) is not None for row in rows)
    return fast, splice.spliced - before


@pytest.fixture
def study_rows(platform):
    """30 study patients, then rows made odd in every way the splice checks look for."""
    site_ids, patient_ids = load_study(platform, 30)
    runtime = platform.runtime
    org_id = platform.org["id"]
    with runtime.database.begin() as connection:
        definition = get_object(connection, org_id, "c_patient")
        admin = Viewer(org_id, platform.admin["id"], frozenset(platform.admin["roles"]))
        patients = Instances(connection, runtime.database.dialect, org_id, definition, admin)
        # An update appends c_notes (optional: left out unless included) and changes the name.
        patients.update(patient_ids[0], {"c_notes": "seen", "c_name": {"c_last": "King"}})
        visit = {"_id": "6b0b206b660cb1d895e35acc", "c_when": "2024-03-01T09:30:00.000Z", "c_kind": "x"}
        odd = {
            1: {"c_score": 3, "c_number": "odd-order"},  # keys out of definition order
            2: {"c_number": "stale", "c_gone": 1},  # a key no property has (a removed property)
            3: {"c_visits": [{"c_kind": "x", "_id": "6b0b206b660cb1d895e35acd"}]},  # _id not first
            4: {"c_visits": [{"c_kind": "y", "c_when": "2024-03-01T09:30:00.000Z"}]},  # children out of order
            5: {"c_name": "not a document"},
            6: {"c_visits": ["not an element"]},
            7: {"c_name": None, "c_site": None, "c_tags": [], "c_visits": [visit]},
            8: {},
            9: {"c_number": "odd-reference", "c_site": [site_ids[0]]},  # a list where one id is stored
            12: {"c_visits": [{**visit, "c_extra": 1}]},  # an element with a key no sub-property has
            # Text that looks like the reference's key and value, where the rewrite must not look.
            13: {"c_number": f'"c_site":"{site_ids[1]}"', "c_site": site_ids[2], "c_tags": ['\\"c_site":"x"']},
            10: {"c_name": {"c_first": "Ünïcødé \u2028 \"quoted\"", "c_last": "\\"}, "c_score": 1e300},
        }
        for index, body in odd.items():
            _set_body(connection, patient_ids[index], body)
        connection.execute(documents.update().where(documents.c.id == patient_ids[11]).values(type="c_unknown"))
        # JSON text with raw line breaks (as no writer of ours makes it): never spliced as it is.
        raw = '{"c_number":\n"S-raw",\r\n"c_score":\n1}'
        cast = ":body" if runtime.database.dialect == "sqlite" else "CAST(:body AS jsonb)"
        connection.execute(sa.text(f"UPDATE documents SET body = {cast} WHERE id = :id"),  # noqa: S608
                           {"body": raw, "id": patient_ids[14]})
    return site_ids, patient_ids


def test_system_viewer_matches_the_ordinary_path(platform, study_rows):
    with platform.runtime.database.connect() as connection, connection.begin():
        plan, rows = _scan(connection, platform, Viewer.system(platform.org["id"]))
        splice = SplicePlan.build(plan, platform.runtime.database.dialect)
        assert splice is not None
        _assert_same(splice, plan, rows)
        # Only rows 5 and 6 (a scalar, and a non-element, as a Document) take the ordinary path. On
        # SQLite the stored text is used (with c_site rewritten in it) for all but those, the eight
        # made to need a re-encode (0: c_notes, optional, to drop; 1: out of order; 2: an unknown
        # key; 3, 4, 12: elements to rebuild; 9: a list in c_site; 14: raw line breaks) and the three
        # other patients with c_notes (out of order: written after c_home).
        notes = sum("c_notes" in orjson.loads(row[-1]) for row in rows) if isinstance(rows[0][-1], str) else 0
        assert notes == 4 or platform.runtime.database.dialect != "sqlite"
        spliced = len(rows) - 2 - 8 - 3 if platform.runtime.database.dialect == "sqlite" else 0
        assert _paths_taken(splice, rows) == (len(rows) - 2, spliced)


def test_bodies_without_references_are_spliced(platform, study_rows):
    _, patient_ids = study_rows
    with platform.runtime.database.connect() as connection, connection.begin():
        definition = get_object(connection, platform.org["id"], "c_patient")
        plan = DocumentPlan.build(definition, Viewer.system(platform.org["id"]), parse_selection(None, None, None))
        plan.properties = [prop for prop in plan.properties if prop.prop.name != "c_site"]
        splice = SplicePlan.build(plan, platform.runtime.database.dialect)
        assert splice is not None
        _, rows = _scan(connection, platform, Viewer.system(platform.org["id"]))
        _assert_same(splice, plan, rows)
        by_id = {row[0]: row for row in rows}
        spliced = {index for index in range(13) if _paths_taken(splice, [by_id[patient_ids[index]]])[1]}
        if platform.runtime.database.dialect == "sqlite":
            # Only the bodies in order with nothing to drop (c_site is unknown to this plan) or rebuild:
            # 8 (empty) and 10. Not 0 (c_notes, optional), 1 (out of order), 2 (c_gone), 3, 4, 12
            # (elements to rebuild), 5, 6 (the ordinary path), 7, 9, 11 (c_site).
            assert spliced == {8, 10}
        else:
            assert spliced == set()  # jsonb text is reordered and spaced: never spliced


def test_included_optional_property(platform, study_rows):
    _, patient_ids = study_rows
    with platform.runtime.database.connect() as connection, connection.begin():
        plan, rows = _scan(connection, platform, Viewer.system(platform.org["id"]),
                           parse_selection(None, ["c_notes"], None))
        splice = SplicePlan.build(plan, platform.runtime.database.dialect)
        assert splice is not None
        _assert_same(splice, plan, rows)
        updated = next(row for row in rows if row[0] == patient_ids[0])
        assert splice._encode(updated, [], False) is not None


def test_expanded_references_match(platform, study_rows):
    with platform.runtime.database.connect() as connection, connection.begin():
        org_id = platform.org["id"]
        dialect = platform.runtime.database.dialect
        definition = get_object(connection, org_id, "c_patient")
        instances = Instances(connection, dialect, org_id, definition, Viewer.system(org_id))
        plan = DocumentPlan.build(definition, instances.viewer, parse_selection(None, None, ["c_site"]))
        rows = [row for batch in instances.scan_raw(None, 1000) for row in batch]
        splice = SplicePlan.build(plan, platform.runtime.database.dialect)
        assert splice is not None
        _assert_same(splice, plan, rows, instances.load_expanded)
        encoded = splice.encode_rows(rows, instances.load_expanded)
        sites = [orjson.loads(line).get("c_site") for line in encoded]
        assert sum(isinstance(site, dict) and "c_name" in site for site in sites) == 18  # every stored c_site


def test_plans_that_never_splice(platform, study_rows):
    with platform.runtime.database.connect() as connection, connection.begin():
        system = Viewer.system(platform.org["id"])
        for selection in (parse_selection(["c_number"], None, None),):
            plan, _ = _scan(connection, platform, system, selection)
            assert SplicePlan.build(plan, platform.runtime.database.dialect) is None


def test_principal_rows_splice_only_with_enough_access(platform, study_rows):
    site_ids, patient_ids = study_rows
    org_id = platform.org["id"]
    runtime = platform.runtime
    with runtime.database.begin() as connection:
        monitor = create_account(connection, org_id, email="monitor@example.test", password="unused-Passw0rd!")
        # Read for the monitor on even patients, Update on every third: what a principal sees differs per row.
        for index, instance_id in enumerate(patient_ids):
            grants = []
            if index % 2 == 0:
                grants.append({"type": 1, "target": monitor["id"], "allow": 4})
            if index % 3 == 0:
                grants.append({"type": 1, "target": monitor["id"], "allow": 6})
            connection.execute(documents.update().where(documents.c.id == instance_id).values(acl=grants))
    with runtime.database.connect() as connection, connection.begin():
        viewer = as_principal(connection, org_id, monitor["id"])
        plan, rows = _scan(connection, platform, viewer)
        assert len(rows) == len([i for i in range(30) if i % 2 == 0 or i % 3 == 0])
        splice = SplicePlan.build(plan, platform.runtime.database.dialect)
        assert splice is not None
        _assert_same(splice, plan, rows)
        assert _paths_taken(splice, rows)[0] == len(rows) - 1  # row 6 takes the ordinary path; 5 is hidden
    # A property only Update access may read: rows with Read alone must leave it out.
    with runtime.database.begin() as connection:
        definition = get_object(connection, org_id, "c_patient")
        score = definition.properties["c_score"]
        update_object(connection, org_id, "c_patient", {"properties": [{"_id": score.id, "readAccess": 6}]})
    with runtime.database.connect() as connection, connection.begin():
        viewer = as_principal(connection, org_id, monitor["id"])
        plan, rows = _scan(connection, platform, viewer)
        splice = SplicePlan.build(plan, platform.runtime.database.dialect)
        assert splice is not None and splice.min_access == 6
        _assert_same(splice, plan, rows)
        encoded = splice.encode_rows(rows)
        shown = [orjson.loads(line) for line in encoded]
        assert any("c_score" not in document for document in shown)
        assert any("c_score" in document for document in shown)
        fast = sum(splice._encode(row, [], False) is not None for row in rows)
        assert 0 < fast < len(rows)  # Update rows take the fast path, Read-only rows the ordinary one


def test_raw_rows_read_like_the_table(platform, study_rows):
    with platform.runtime.database.connect() as connection, connection.begin():
        through_types = {row["id"]: dict(row) for row in connection.execute(sa.select(documents)).mappings()}
        raw = connection.execute(sa.select(*raw_columns(platform.runtime.database.dialect))).all()
        assert len(raw) == len(through_types) > 30
        for row in raw:
            converted = to_row(row)
            expected = through_types[converted["id"]]
            assert converted == {key: expected[key] for key in converted}
