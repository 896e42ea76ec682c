"""Cortex's restricted operators ($ne, $nin, $type) follow the org setting
``configuration.queries.allowedRestrictedMatchOps``: refused by default ("Invalid operator $ne."),
allowed one by one or all with ``*``, in every place a request's ``where`` is parsed: instance
lists, List properties, pipelines' ``$match``, exports' ``where`` (at create and at run)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from opencortex.exports.worker import ExportWorker
from opencortex.model.orgs import set_allowed_restricted_operators
from tests.instances.conftest import Study
from tests.support.platform import assert_fault

QUERY = "cortex.invalidArgument.query"
USES = {
    "$ne": {"c_gender": {"$ne": "f"}},
    "$nin": {"c_tags": {"$nin": ["placebo", "treatment"]}},
    "$type": {"c_score": {"$type": "double"}},
}


def allow(study: Study, *operators: str) -> None:
    with study.platform.runtime.database.begin() as connection:
        set_allowed_restricted_operators(connection, study.platform.code, operators)


def everyone(study: Study) -> list[dict[str, Any]]:
    return list(study.client.get("c_patients", params={"limit": "1000"}).json()["data"])


def expected_ids(study: Study, operator: str) -> list[str]:
    """Who each use of ``USES`` should find, newest first as a list gives them."""
    def keeps(patient: dict[str, Any]) -> bool:
        if operator == "$ne":
            return bool(patient["c_gender"] != "f")
        if operator == "$nin":
            return not {"placebo", "treatment"} & set(patient["c_tags"])
        return not float(patient["c_score"]).is_integer()
    return [patient["_id"] for patient in everyone(study) if keeps(patient)]


def listed(study: Study, where: dict[str, Any]) -> Any:
    return study.client.get("c_patients", params={"where": json.dumps(where), "limit": "1000"})


def matched(study: Study, where: dict[str, Any]) -> Any:
    return study.client.get("c_patients", params={"pipeline": json.dumps([{"$match": where}]), "limit": "1000"})


def assert_refused(response: Any, operator: str, path: str) -> None:
    fault = assert_fault(response, QUERY, 400)
    assert fault["reason"] == f"Invalid operator {operator}.", fault
    assert fault["path"] == path, fault


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [document["_id"] for document in response.json()["data"]]


@pytest.mark.parametrize("operator", sorted(USES))
def test_refused_by_default_in_where_match_and_list_properties(study: Study, operator: str) -> None:
    where = USES[operator]
    path = next(iter(where))
    assert_refused(listed(study, where), operator, path)
    assert_refused(matched(study, where), operator, path)
    assert_refused(listed(study, {"$or": [{"c_active": True}, where]}), operator, path)
    site = study.site_ids[0]
    assert_refused(study.client.get(f"c_sites/{site}/c_patients", params={"where": json.dumps(where)}),
                   operator, path)
    assert_refused(study.client.get(f"c_sites/{site}/c_patients",
                                     params={"pipeline": json.dumps([{"$match": where}])}), operator, path)


def test_each_operator_is_allowed_on_its_own(study: Study) -> None:
    allow(study, "$ne")
    assert ids(listed(study, USES["$ne"])) == expected_ids(study, "$ne")
    assert_refused(listed(study, USES["$nin"]), "$nin", "c_tags")
    assert_refused(matched(study, USES["$type"]), "$type", "c_score")
    allow(study, "$nin", "$type")
    assert_refused(listed(study, USES["$ne"]), "$ne", "c_gender")
    assert ids(listed(study, USES["$nin"])) == expected_ids(study, "$nin")
    assert ids(matched(study, USES["$type"])) == expected_ids(study, "$type")
    allow(study)  # none again
    for operator, where in USES.items():
        assert_refused(listed(study, where), operator, next(iter(where)))


def test_a_star_allows_them_all_everywhere(study: Study) -> None:
    allow(study, "*")
    for operator, where in USES.items():
        wanted = expected_ids(study, operator)
        assert wanted and len(wanted) < len(study.patient_ids), operator  # the test tells something
        assert ids(listed(study, where)) == wanted, operator
        assert ids(matched(study, where)) == wanted, operator
    site = study.site_ids[1]
    at_site = ids(study.client.get(f"c_sites/{site}/c_patients", params={"limit": "1000"}))
    ne = ids(study.client.get(f"c_sites/{site}/c_patients", params={"where": json.dumps(USES["$ne"]),
                                                                      "limit": "1000"}))
    assert ne == [patient for patient in expected_ids(study, "$ne") if patient in at_site]
    counted = study.client.get("c_patients", params={"pipeline": json.dumps(
        [{"$match": USES["$nin"]}, {"$count": "n"}])})
    assert counted.json()["data"] == [{"n": len(expected_ids(study, "$nin"))}]


def test_type_names_on_the_study_properties(study: Study) -> None:
    allow(study, "$type")
    all_ids = [patient["_id"] for patient in everyone(study)]
    assert ids(listed(study, {"c_dob": {"$type": "date"}})) == all_ids  # dateOnly Dates too
    assert ids(listed(study, {"c_enrolled": {"$type": "date"}})) == all_ids
    assert ids(listed(study, {"c_enrolled": {"$type": "string"}})) == []
    assert ids(listed(study, {"c_site": {"$type": "objectId"}})) == all_ids  # a Reference
    assert ids(listed(study, {"c_name.c_first": {"$type": "string"}})) == all_ids
    assert ids(listed(study, {"c_active": {"$type": "bool"}})) == all_ids
    assert ids(listed(study, {"c_tags": {"$type": "array"}})) == all_ids  # empty arrays are arrays
    assert ids(listed(study, {"c_home": {"$type": "object"}})) == all_ids
    whole = [patient["_id"] for patient in everyone(study) if float(patient["c_score"]).is_integer()]
    assert ids(listed(study, {"c_score": {"$type": "int"}})) == whole
    assert ids(listed(study, {"c_score": {"$type": "long"}})) == []
    assert ids(listed(study, {"_id": {"$type": "objectId"}})) == all_ids
    assert ids(listed(study, {"c_score": {"$type": "decimal"}})) == []
    fault = assert_fault(listed(study, {"c_score": {"$type": "number"}}), QUERY, 400)
    assert fault["path"] == "c_score" and fault["reason"].startswith("$type expects one of double, string")


def test_exports_where_follows_the_setting_at_create_and_at_run(study: Study) -> None:
    body = {"label": "Not f", "objects": "c_patients", "where": json.dumps(USES["$ne"])}
    fault = assert_fault(study.client.post("exports", json=body), "cortex.invalidArgument.validation", 400)
    # The child is at "where"; its reason names the property inside it, as for any where fault.
    assert [(child["path"], child["errCode"], child["reason"]) for child in fault["faults"]] == [
        ("where", QUERY, "Invalid operator $ne. (c_gender)")]

    allow(study, "$ne")
    created = study.client.post("exports", json=body)
    assert created.status_code == 200, created.text
    worker = ExportWorker(study.platform.runtime, concurrency=1, lease_seconds=30)
    assert worker.run_once()
    ready = study.client.get(f"exports/{created.json()['_id']}").json()
    assert ready["state"] == "ready", ready
    assert ready["stats"]["docs"]["count"] == len(expected_ids(study, "$ne"))

    # An export is read when it runs: if the org no longer allows the operator, the run fails
    # with the fault a list would get, and reads nothing.
    later = study.client.post("exports", json=body)
    assert later.status_code == 200, later.text
    allow(study)
    assert worker.run_once()
    failed = study.client.get(f"exports/{later.json()['_id']}").json()
    assert failed["state"] == "error", failed
    assert failed["fault"]["errCode"] == QUERY and failed["fault"]["reason"] == "Invalid operator $ne.", failed


def test_the_export_list_and_a_logs_export_follow_the_setting_too(study: Study) -> None:
    unlabelled = {"label": {"$ne": "nothing"}}
    assert_refused(study.client.get("exports", params={"where": json.dumps(unlabelled)}), "$ne", "label")
    body = {"label": "Logs", "objects": "logs", "where": json.dumps({"lvl": {"$ne": 3}})}
    assert_fault(study.client.post("exports", json=body), "cortex.invalidArgument.validation", 400)

    allow(study, "$ne")
    assert study.client.get("exports", params={"where": json.dumps(unlabelled)}).status_code == 200
    created = study.client.post("exports", json=body)
    assert created.status_code == 200, created.text
