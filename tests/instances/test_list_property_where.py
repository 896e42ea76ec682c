"""A List property read takes ``where`` as a plain list does, with the same faults (issue 14).

``GET /{plural}/{id}/{listProperty}?where=...`` answered a 500 for a ``where`` that is not
JSON; every bad ``where`` now gets the fault the plain list of the source object gives.
"""

from __future__ import annotations

import json

import pytest

from tests.instances.conftest import Study
from tests.support.platform import assert_fault


@pytest.mark.parametrize(
    "where",
    [
        "{nope",
        "[1]",
        "5",
        '"text"',
        json.dumps({"$foo": 1}),
        json.dumps({"c_score": {"$foo": 1}}),
        json.dumps({"c_notes": "x"}),
        json.dumps({"c_name.c_first": {"$regex": "/(a+)+$/"}}),
    ],
)
def test_a_bad_where_on_a_list_property_gets_the_plain_list_fault(study: Study, where: str) -> None:
    site = study.site_ids[0]
    plain = assert_fault(study.client.get("c_patients", params={"where": where}), "cortex.invalidArgument.query", 400)
    listed = assert_fault(
        study.client.get(f"c_sites/{site}/c_patients", params={"where": where}), "cortex.invalidArgument.query", 400
    )
    assert (listed["reason"], listed.get("path")) == (plain["reason"], plain.get("path"))


def test_a_where_on_a_list_property_narrows_the_list(study: Study) -> None:
    site = study.site_ids[0]
    everyone = study.client.get(f"c_sites/{site}/c_patients", params={"limit": "1000"}).json()["data"]
    women = [patient["_id"] for patient in everyone if patient["c_gender"] == "f"]
    assert everyone and women and len(women) < len(everyone)
    for where in (json.dumps({"c_gender": "f"}), {"c_gender": "f"}):
        listed = study.client.get(f"c_sites/{site}/c_patients",
                                  params={"where": where if isinstance(where, str) else json.dumps(where),
                                          "limit": "1000"})
        assert [patient["_id"] for patient in listed.json()["data"]] == women
    for empty in ("", " ", "{}", "null"):
        listed = study.client.get(f"c_sites/{site}/c_patients", params={"where": empty, "limit": "1000"})
        assert [patient["_id"] for patient in listed.json()["data"]] == [patient["_id"] for patient in everyone]
