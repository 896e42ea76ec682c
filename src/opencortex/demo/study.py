"""A realistic study model (sites and patients) and a generator of its instances.

Used by ``opencortex demo`` so a newcomer has something to query and export at once, and by
tests and benchmarks that need the same shapes.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from opencortex.ids import ROLE_ADMINISTRATOR, ROLE_PROVIDER

ADMIN_DELETE = {"type": 3, "target": ROLE_ADMINISTRATOR, "allow": 7}
PROVIDER_READ = {"type": 3, "target": ROLE_PROVIDER, "allow": 4}

SITES: dict[str, Any] = {
    "name": "c_site",
    "label": "Site",
    "description": "A clinic taking part in the study.",
    "defaultAcl": [ADMIN_DELETE, PROVIDER_READ, {"type": 4, "allow": 7}],
    "createAcl": [{"type": 3, "target": ROLE_ADMINISTRATOR}],
    "properties": [
        {"name": "c_name", "label": "Name", "type": "String", "indexed": True,
         "validators": [{"name": "required"}, {"name": "string", "definition": {"min": 1, "max": 100}}]},
        {"name": "c_country", "label": "Country", "type": "String", "indexed": True},
        {"name": "c_location", "label": "Location", "type": "Geometry", "indexed": True},
        {"name": "c_patients", "label": "Patients", "type": "List", "sourceObject": "c_patient",
         "linkedProperty": "c_site"},
    ],
}

PATIENTS: dict[str, Any] = {
    "name": "c_patient",
    "label": "Patient",
    "description": "A study participant.",
    "defaultAcl": [ADMIN_DELETE, PROVIDER_READ, {"type": 4, "allow": 7}],
    "createAcl": [{"type": 3, "target": ROLE_ADMINISTRATOR}, {"type": 3, "target": ROLE_PROVIDER}],
    "properties": [
        {"name": "c_number", "label": "Subject number", "type": "String", "indexed": True, "unique": True},
        {"name": "c_name", "label": "Name", "type": "Document", "properties": [
            {"name": "c_first", "label": "First name", "type": "String", "indexed": True},
            {"name": "c_last", "label": "Last name", "type": "String", "indexed": True},
        ]},
        {"name": "c_dob", "label": "Date of birth", "type": "Date", "dateOnly": True, "indexed": True},
        {"name": "c_gender", "label": "Gender", "type": "String", "indexed": True,
         "validators": [{"name": "stringEnum", "definition": {"values": ["f", "m", "n", "o", "u"]}}]},
        {"name": "c_site", "label": "Site", "type": "Reference", "sourceObject": "c_site", "expandable": True,
         "indexed": True},
        {"name": "c_tags", "label": "Tags", "type": "String", "array": True, "indexed": True},
        {"name": "c_enrolled", "label": "Enrolled", "type": "Date", "indexed": True},
        {"name": "c_score", "label": "Score", "type": "Number", "indexed": True},
        {"name": "c_active", "label": "Active", "type": "Boolean", "indexed": True},
        {"name": "c_visits", "label": "Visits", "type": "Document", "array": True, "maxItems": 50, "properties": [
            {"name": "c_when", "label": "When", "type": "Date"},
            {"name": "c_kind", "label": "Kind", "type": "String"},
            {"name": "c_systolic", "label": "Systolic", "type": "Number"},
        ]},
        {"name": "c_photo", "label": "Photo", "type": "File"},
        {"name": "c_notes", "label": "Notes", "type": "String", "optional": True},
        {"name": "c_home", "label": "Home", "type": "Geometry", "indexed": True},
    ],
}

FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Tim", "Zoë",
         "José", "Ngozi", "Yuki", "Mei", "Olu", "Søren", "Anaïs", "Ravi", "Fatima"]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Hamilton",
        "Berners-Lee", "Okafor", "García", "Tanaka", "Nakamura", "Kierkegaard", "Dubois", "Iyer", "Haddad"]
CITIES = [("Boston Clinic", "US", -71.06, 42.36), ("Lyon Hôpital", "FR", 4.84, 45.76),
          ("Osaka Medical", "JP", 135.50, 34.69), ("Lagos Teaching", "NG", 3.38, 6.52),
          ("Aarhus Universitet", "DK", 10.20, 56.16)]
TAGS = ["cohort-a", "cohort-b", "placebo", "treatment", "follow-up", "withdrawn", "high-risk"]


def site_bodies() -> list[dict[str, Any]]:
    return [
        {"c_name": name, "c_country": country, "c_location": {"type": "Point", "coordinates": [lng, lat]}}
        for name, country, lng, lat in CITIES
    ]


def patient_bodies(count: int, site_ids: list[str], seed: int = 7) -> Iterator[dict[str, Any]]:
    """``count`` patients, deterministic for a given seed."""
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for number in range(count):
        enrolled = start + timedelta(minutes=rng.randrange(0, 60 * 24 * 600))
        visits = [
            {"c_when": _iso(enrolled + timedelta(days=30 * visit + rng.randrange(0, 5))),
             "c_kind": rng.choice(["screening", "baseline", "follow-up"]),
             "c_systolic": rng.randrange(95, 165)}
            for visit in range(rng.randrange(0, 5))
        ]
        lng, lat = rng.uniform(-120, 140), rng.uniform(-40, 60)
        yield {
            "c_number": f"S-{number + 1:07d}",
            "c_name": {"c_first": rng.choice(FIRST), "c_last": rng.choice(LAST)},
            "c_dob": f"{rng.randrange(1940, 2006)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
            "c_gender": rng.choice(["f", "m", "n", "o", "u"]),
            "c_site": rng.choice(site_ids),
            "c_tags": rng.sample(TAGS, rng.randrange(0, 3)),
            "c_enrolled": _iso(enrolled),
            "c_score": round(rng.uniform(0, 100), 2),
            "c_active": rng.random() > 0.1,
            "c_visits": visits,
            "c_home": {"type": "Point", "coordinates": [round(lng, 5), round(lat, 5)]},
            **({"c_notes": "Prefers morning visits; \"fasting\" bloods, see chart."} if rng.random() < 0.2 else {}),
        }


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
