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


def _ordinary(plan: DocumentPlan, rows: list[Any]) -> list[bytes]:
    return [orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS)
            for document in plan.serialise_rows([to_row(row) for row in rows], None)]


def _spliced_count(splice: SplicePlan, rows: list[Any]) -> int:
    return sum(splice._splice(row) is not None for row in rows)


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
            10: {"c_name": {"c_first": "Ünïcødé \u2028 \"quoted\"", "c_last": "\\"}, "c_score": 1e300},
        }
        for index, body in odd.items():
            _set_body(connection, patient_ids[index], body)
        connection.execute(documents.update().where(documents.c.id == patient_ids[11]).values(type="c_unknown"))
    return site_ids, patient_ids


def test_system_viewer_splices_and_matches(platform, study_rows):
    with platform.runtime.database.connect() as connection, connection.begin():
        plan, rows = _scan(connection, platform, Viewer.system(platform.org["id"]))
        splice = SplicePlan.build(plan, platform.runtime.database.dialect)
        if platform.runtime.database.dialect != "sqlite":
            assert splice is None  # jsonb text is reordered and spaced: never spliced
            return
        assert splice is not None
        assert splice.encode_rows(rows) == _ordinary(plan, rows)
        # Everything but the rows made to fail a check (3-6, 12: _id not first, children out of order,
        # a scalar or a non-element as a Document, an unknown key in an element).
        assert _spliced_count(splice, rows) == len(rows) - 5


def test_included_optional_property_splices(platform, study_rows):
    _, patient_ids = study_rows
    with platform.runtime.database.connect() as connection, connection.begin():
        plan, rows = _scan(connection, platform, Viewer.system(platform.org["id"]),
                           parse_selection(None, ["c_notes"], None))
        splice = SplicePlan.build(plan, platform.runtime.database.dialect)
        if splice is None:
            assert platform.runtime.database.dialect != "sqlite"
            return
        assert splice.encode_rows(rows) == _ordinary(plan, rows)
        updated = next(row for row in rows if row[0] == patient_ids[0])
        assert splice._splice(updated) is not None  # c_notes now belongs to the plan


def test_plans_that_never_splice(platform, study_rows):
    with platform.runtime.database.connect() as connection, connection.begin():
        system = Viewer.system(platform.org["id"])
        for selection in (parse_selection(["c_number"], None, None), parse_selection(None, None, ["c_site"])):
            plan, _ = _scan(connection, platform, system, selection)
            assert SplicePlan.build(plan, "sqlite") is None


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
        splice = SplicePlan.build(plan, runtime.database.dialect)
        if runtime.database.dialect == "sqlite":
            assert splice is not None and splice.encode_rows(rows) == _ordinary(plan, rows)
            assert _spliced_count(splice, rows) > len(rows) // 2
    # A property only Update access may read: rows with Read alone must leave it out.
    with runtime.database.begin() as connection:
        definition = get_object(connection, org_id, "c_patient")
        score = definition.properties["c_score"]
        update_object(connection, org_id, "c_patient", {"properties": [{"_id": score.id, "readAccess": 6}]})
    with runtime.database.connect() as connection, connection.begin():
        viewer = as_principal(connection, org_id, monitor["id"])
        plan, rows = _scan(connection, platform, viewer)
        splice = SplicePlan.build(plan, runtime.database.dialect)
        if runtime.database.dialect == "sqlite":
            assert splice is not None and splice.min_access == 6
            encoded = splice.encode_rows(rows)
            assert encoded == _ordinary(plan, rows)
            shown = [orjson.loads(line) for line in encoded]
            assert any("c_score" not in document for document in shown)
            assert any("c_score" in document for document in shown)


def test_raw_rows_read_like_the_table(platform, study_rows):
    with platform.runtime.database.connect() as connection, connection.begin():
        through_types = {row["id"]: dict(row) for row in connection.execute(sa.select(documents)).mappings()}
        raw = connection.execute(sa.select(*raw_columns())).all()
        assert len(raw) == len(through_types) > 30
        for row in raw:
            converted = to_row(row)
            expected = through_types[converted["id"]]
            assert converted == {key: expected[key] for key in converted}
