"""Documents for the export tests, shaped as the read API serialises them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# Nested documents, arrays of primitives and of documents, an array of arrays, unicode (accents,
# emoji beyond the BMP, right-to-left Hebrew), null, "", empty array and document, ints, floats,
# negative, large and tiny numbers, booleans, ISO dates, and quotes/commas/line breaks/tab/CR.
FIXTURE: list[dict[str, Any]] = [
    {
        "_id": "65f0c0ffee0000000000aa01",
        "object": "c_patient",
        "created": "2024-04-01T12:00:00.512Z",
        "c_name": {"first": "Ada", "last": "Lovelace"},
        "c_tags": ["a", "b"],
        "c_visits": [{"c_day": 1, "c_ok": True}, {"c_day": 2, "c_ok": False, "c_note": None}],
        "c_score": -12.5,
        "c_big": 9007199254740993,
        "c_empty": "",
        "c_none": [],
        "c_blank": {},
        "c_null": None,
    },
    {
        "_id": "65f0c0ffee0000000000aa02",
        "object": "c_patient",
        "created": "2024-04-02T08:30:00.000Z",
        "c_name": {"first": "Zoë 😀", "last": "שלום עולם"},
        "c_note": 'He said "hi", then left\nnext line',
        "c_ratio": 0.1,
        "c_tiny": 1e-7,
        "c_tags": ["=1+1", "-5", "@x"],
        "c_score": 3,
        "c_flags": [True, None, 2],
    },
    {
        "_id": "65f0c0ffee0000000000aa03",
        "object": "c_patient",
        "c_matrix": [[1, 2], [3]],
        "c_name": {"first": "\tindent", "last": "cr\rin"},
    },
]

_WORDS = ["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "tempor"]


def realistic_documents(count: int, *, start: int = 0) -> Iterator[dict[str, Any]]:
    """About 1 KB of JSON each, varied enough that deflate has real work to do; made lazily so
    a test's memory is the pipeline's, not the data set's."""
    for number in range(start, start + count):
        seed = (number * 2654435761) & 0xFFFFFFFF
        words = [_WORDS[(seed >> shift) % len(_WORDS)] for shift in range(0, 30, 2)]
        day = f"2024-{1 + seed % 12:02d}-{1 + seed % 28:02d}"
        yield {
            "_id": f"65f0c0ff{number:016x}",
            "object": "c_visit",
            "created": f"{day}T{seed % 24:02d}:{seed % 60:02d}:07.{seed % 1000:03d}Z",
            "updated": f"{day}T{seed % 24:02d}:{seed % 60:02d}:59.{seed % 997:03d}Z",
            "creator": {
                "_id": f"5516ee2634d8{seed:012x}",
                "object": "account",
                "path": f"/accounts/5516ee2634d8{seed:012x}",
            },
            "owner": {
                "_id": f"5532e499540b{seed:012x}",
                "object": "account",
                "path": f"/accounts/5532e499540b{seed:012x}",
            },
            "c_subject": {
                "c_number": f"S-{seed % 100000:05d}",
                "c_site": f"site-{seed % 37}",
                "c_arm": ["A", "B", "C"][seed % 3],
            },
            "c_measurements": [
                {
                    "c_code": f"M{(seed >> k) % 90 + 10}",
                    "c_value": ((seed >> k) % 100000) / 100,
                    "c_unit": "mg/dL",
                }
                for k in range(0, 30, 5)
            ],
            "c_flags": [bool(seed & 1), bool(seed & 2)],
            "c_comment": " ".join(words) + f" #{seed}",
            "c_score": (seed % 2001) - 1000,
            "c_visit_date": f"2024-{1 + seed % 12:02d}-{1 + (seed >> 3) % 28:02d}",
            "c_notes": None if seed % 5 else "follow up",
            "c_location": {
                "type": "Point",
                "coordinates": [(seed % 36000) / 100 - 180, (seed % 18000) / 100 - 90],
            },
        }
