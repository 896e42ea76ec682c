"""The system-property table and the renderers generated from it.

The three renderers (a row read through the table's types, a raw row as a dict, a raw row as JSON
text) must show the same thing for any selection of names; the raw ones step aside (None) for
what they cannot show safely, and the data dictionary reads its types and labels from the table.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from opencortex.instances.raw_rows import RAW_COLUMNS, to_row
from opencortex.instances.serialise import SYSTEM_PROPERTIES
from opencortex.instances.system_properties import (
    SYSTEM_PROPERTY_NAMES,
    SYSTEM_PROPERTY_TABLE,
    describe_system_property,
    raw_text_renderer,
    raw_values_renderer,
    values_renderer,
)

OWNER = "65f0c0ffee0000000000aa01"
OTHER = "65f0c0ffee0000000000aa02"


def _raw(**columns: Any) -> tuple[Any, ...]:
    row = {"id": "65f0c0ffee0000000000bb01", "type": None, "owner": OWNER, "creator": OWNER, "updater": None,
           "created": "2026-11-28 19:37:21.051280", "updated": None, "acl": "[]", "body": "{}", **columns}
    return tuple(row[name] for name in RAW_COLUMNS)


ROWS = [
    _raw(),  # as SQLite hands it out: dates as text
    _raw(type="c_kind", updater=OTHER, updated="2026-11-29 08:00:00.999999"),
    # As PostgreSQL does: aware datetimes (in UTC, and in another zone).
    _raw(created=datetime(2026, 11, 28, 19, 37, 21, 51280, tzinfo=UTC), owner=None, creator=None),
    _raw(created=datetime(2026, 11, 28, 21, 37, 21, 999000, tzinfo=timezone(timedelta(hours=2))),
         updated=datetime(2027, 1, 1, tzinfo=UTC), type='needs "escaping"\n'),
]
# The selections a plan makes: ``_id`` and ``object`` always, then any of the rest.
SELECTIONS = [("_id", "object", *rest) for size in (0, 1, 3) for rest in itertools.combinations(
    SYSTEM_PROPERTY_NAMES[2:], size)] + [SYSTEM_PROPERTY_NAMES]


def test_the_table_is_what_documents_show():
    assert SYSTEM_PROPERTIES == SYSTEM_PROPERTY_NAMES == (
        "_id", "object", "type", "created", "updated", "owner", "creator", "updater", "access")
    assert all(prop.column is None or prop.column in RAW_COLUMNS for prop in SYSTEM_PROPERTY_TABLE)


@pytest.mark.parametrize("names", SELECTIONS)
def test_the_renderers_agree(names):
    for raw in ROWS:
        expected = values_renderer(names, "c_patient")(to_row(raw), 6)
        assert raw_values_renderer(names, "c_patient")(raw, 6) == expected
        text = raw_text_renderer(names, "c_patient")(raw, 6)
        assert text is not None
        assert (text + "}").encode() == orjson.dumps(expected)  # the same keys, in the same order
        assert list(expected) == [name for name in SYSTEM_PROPERTY_NAMES if name in expected]


def test_what_a_full_document_shows():
    raw = ROWS[1]
    assert values_renderer(SYSTEM_PROPERTY_NAMES, "c_patient")(to_row(raw), 7) == {
        "_id": "65f0c0ffee0000000000bb01", "object": "c_patient", "type": "c_kind",
        "created": "2026-11-28T19:37:21.051Z", "updated": "2026-11-29T08:00:00.999Z",
        "owner": {"_id": OWNER, "object": "account"}, "creator": {"_id": OWNER, "object": "account"},
        "updater": {"_id": OTHER, "object": "account"}, "access": 7,
    }
    # Left out when empty: type, owner, creator, updater; updated is shown as null.
    shown = values_renderer(SYSTEM_PROPERTY_NAMES, "c_patient")(to_row(_raw(owner=None, creator="")), 4)
    assert shown == {"_id": "65f0c0ffee0000000000bb01", "object": "c_patient", "created": "2026-11-28T19:37:21.051Z",
                     "updated": None, "access": 4}


def test_raw_renderers_step_aside_for_what_they_cannot_show_safely():
    text = raw_text_renderer(SYSTEM_PROPERTY_NAMES, "c_patient")
    values = raw_values_renderer(SYSTEM_PROPERTY_NAMES, "c_patient")
    for odd in (_raw(id='q"1'), _raw(id="é1")):
        assert text(odd, 7) is None
        assert values(odd, 7) is None
    for odd_account in (_raw(owner='a"b'), _raw(updater="é")):
        assert text(odd_account, 7) is None  # would need escaping in the text
        assert values(odd_account, 7) == values_renderer(SYSTEM_PROPERTY_NAMES, "c_patient")(to_row(odd_account), 7)
    for odd_date in ("2024-03-01 09:30:00", "2024-03-01T09:30:00.123456", "2024-03-01 09:30:00.123456+00:00"):
        assert text(_raw(created=odd_date), 7) is None
        assert values(_raw(updated=odd_date), 7) is None


def test_the_text_renderers_cache_is_its_own():
    first, second = (raw_text_renderer(SYSTEM_PROPERTY_NAMES, name) for name in ("c_a", "c_b"))
    assert first(ROWS[0], 7) != second(ROWS[0], 7)
    assert orjson.loads((first(ROWS[0], 7) or "") + "}")["object"] == "c_a"


def test_an_object_name_that_needs_escaping():
    name = 'c_"{x}\\'
    text = raw_text_renderer(("_id", "object", "created"), name)(ROWS[0], 7)
    assert orjson.loads((text or "") + "}")["object"] == name


def test_selections_the_renderers_refuse():
    with pytest.raises(ValueError, match="c_name"):
        values_renderer(("_id", "c_name"), "c_patient")
    with pytest.raises(ValueError, match="always be shown"):
        raw_text_renderer(("type", "created"), "c_patient")


@pytest.mark.parametrize(("column", "described"), [
    ("_id", ("ObjectId", "Id")),
    ("object", ("String", "Object")),
    ("type", ("String", "Type")),
    ("created", ("Date", "Created")),
    ("updated", ("Date", "Updated")),
    ("owner", ("Reference", "Owner")),
    ("creator._id", ("ObjectId", "Creator")),
    ("updater.object", ("String", "Updater")),
    ("access", ("Number", "Access")),
    ("owner.path", None),
    ("created.x", None),
    ("c_name", None),
    ("acl", None),
])
def test_describe_system_property(column, described):
    assert describe_system_property(column) == described
