"""Entry names inside the archive, as Cortex gives them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from opencortex.exports.archive import validate_entry_name
from opencortex.exports.formats import CSV, JSON, NDJSON
from opencortex.exports.naming import data_entry_name, file_entry_name, file_extension, is_precompressed

CREATED = datetime(2017, 7, 5, 22, 42, 35, 30000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("media_type", "name"),
    [
        (NDJSON, "export-2017-07-05T22_42_35.030Z.ndjson"),
        (JSON, "export-2017-07-05T22_42_35.030Z.json"),
        (CSV, "export-2017-07-05T22_42_35.030Z.csv"),
    ],
)
def test_data_entry_name(media_type: str, name: str) -> None:
    assert data_entry_name(CREATED, media_type) == name
    assert validate_entry_name(name) == name


def test_data_entry_name_is_in_utc() -> None:
    local = CREATED.astimezone(timezone(timedelta(hours=2)))
    assert data_entry_name(local, NDJSON) == "export-2017-07-05T22_42_35.030Z.ndjson"


def test_file_entry_name() -> None:
    name = file_entry_name(7, "/c_things/5a1b2c3d4e5f601234567890/c_file/content", "image/png")
    assert name == "files/0000000007.c_things.5a1b2c3d4e5f601234567890.c_file.content.png"
    assert validate_entry_name(name) == name
    with pytest.raises(ValueError, match="10 digits"):
        file_entry_name(10**10, "/a", "image/png")


@pytest.mark.parametrize(
    ("mime", "extension"),
    [
        ("image/png", "png"),
        ("image/jpeg", "jpg"),
        ("application/pdf", "pdf"),
        ("text/csv; charset=utf-8", "csv"),
        ("application/x-unknown-thing", "dat"),
        ("", "dat"),
        (None, "dat"),
    ],
)
def test_file_extension(mime: str | None, extension: str) -> None:
    assert file_extension(mime) == extension


@pytest.mark.parametrize(
    ("mime", "stored"),
    [
        ("image/jpeg", True),
        ("image/png", True),
        ("video/mp4", True),
        ("application/zip", True),
        ("application/pdf", True),
        ("image/svg+xml", False),
        ("image/bmp", False),
        ("text/plain", False),
        ("application/json", False),
        (None, False),
    ],
)
def test_already_compressed_media_are_stored(mime: str | None, stored: bool) -> None:
    assert is_precompressed(mime) is stored
