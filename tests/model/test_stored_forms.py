"""Stored forms other layers rely on: dates that sort as strings, and the index expressions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from opencortex.clock import iso
from opencortex.model.indexes import index_name, index_sql
from tests.model.property_helpers import make

DATE = make("Date")
moments = st.datetimes(
    min_value=datetime(1000, 1, 1), max_value=datetime(9998, 12, 31), timezones=st.just(UTC)
)
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@given(moments, offsets)
def test_any_offset_is_stored_as_the_same_utc_instant(moment: datetime, offset: timezone) -> None:
    written = moment.astimezone(offset).isoformat()
    assert DATE.coerce(written, "c_when") == iso(moment)


@given(moments, moments)
def test_stored_dates_sort_like_the_instants(first: datetime, second: datetime) -> None:
    stored_first, stored_second = DATE.coerce(first.isoformat(), "a"), DATE.coerce(second.isoformat(), "b")
    first_ms, second_ms = (m.replace(microsecond=m.microsecond // 1000 * 1000) for m in (first, second))
    assert (stored_first < stored_second) == (first_ms < second_ms)


def test_index_expressions_per_dialect() -> None:
    assert index_sql("sqlite", "c_doc.c_sub") == "json_extract(body, '$.c_doc.c_sub')"
    assert index_sql("postgresql", "c_doc.c_sub") == "(body -> 'c_doc' -> 'c_sub')"
    name = index_name("5f0c6d7e8a9b0c1d2e3f4a5b", "c_thing", "c_name")
    assert name.startswith("ix_doc_") and len(name) <= 63
    assert name == index_name("5f0c6d7e8a9b0c1d2e3f4a5b", "c_thing", "c_name")
    assert name != index_name("5f0c6d7e8a9b0c1d2e3f4a5c", "c_thing", "c_name")
