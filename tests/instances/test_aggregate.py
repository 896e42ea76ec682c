"""Aggregation pipelines through the API: results, access control, paging, total and faults."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.instances.conftest import Study
from tests.support.platform import CortexClient, assert_fault, open_test_client


def run(client: CortexClient, pipeline: Any, path: str = "c_patients", **params: Any) -> dict[str, Any]:
    response = client.get(path, params={"pipeline": json.dumps(pipeline), **params})
    body = response.json()
    assert response.status_code == 200 and body["object"] == "list", body
    return dict(body)


def everyone(study: Study) -> list[dict[str, Any]]:
    return list(study.client.get("c_patients", params={"limit": "1000"}).json()["data"])


def test_group_count_by_an_indexed_property(study: Study) -> None:
    counts = Counter(patient["c_gender"] for patient in everyone(study))
    body = run(study.client, [{"$group": {"_id": "c_gender", "n": {"$count": "_id"}}}])
    assert body["data"] == [{"_id": gender, "n": counts[gender]} for gender in sorted(counts)]
    assert body["hasMore"] is False


def test_cortex_example_a_single_group_shows_no_null_id(study: Study) -> None:
    body = run(study.client, [{"$match": {"created": {"$gte": "2015-01-01T00:00:00.000Z"}}},
                              {"$group": {"_id": None, "count": {"$count": "_id"}}}])
    assert body == {"object": "list", "data": [{"count": 30}], "hasMore": False}
    empty = run(study.client, [{"$match": {"c_gender": "nobody"}}, {"$group": {"_id": None, "n": {"$sum": 1}}}])
    assert empty["data"] == []


def test_accumulators_and_numbers(study: Study) -> None:
    patients = everyone(study)
    scores = [patient["c_score"] for patient in patients]
    body = run(study.client, [{"$group": {
        "_id": None, "sum": {"$sum": "c_score"}, "avg": {"$avg": "c_score"}, "min": {"$min": "c_score"},
        "max": {"$max": "c_score"}, "ones": {"$sum": 1}, "tags": {"$count": "c_tags"},
        "sites": {"$addToSet": "c_site"}, "active": {"$max": "c_active"},
    }}])
    (record,) = body["data"]
    assert record["sum"] == pytest.approx(sum(scores)) and record["avg"] == pytest.approx(sum(scores) / 30)
    assert (record["min"], record["max"], record["ones"]) == (min(scores), max(scores), 30)
    assert record["tags"] == sum(len(patient["c_tags"]) for patient in patients)
    assert record["sites"] == sorted({patient["c_site"]["_id"] for patient in patients})
    assert record["active"] is True
    assert isinstance(record["ones"], int)


def test_first_last_and_push_follow_the_order(study: Study) -> None:
    body = run(study.client, [
        {"$sort": {"c_number": 1}},
        {"$group": {"_id": "c_site", "first": {"$first": "c_number"}, "last": {"$last": "c_number"},
                    "numbers": {"$push": "c_number"}}},
    ])
    by_site: dict[str, list[str]] = {}
    for patient in sorted(everyone(study), key=lambda patient: patient["c_number"]):
        by_site.setdefault(patient["c_site"]["_id"], []).append(patient["c_number"])
    assert [record["_id"] for record in body["data"]] == sorted(by_site)
    for record in body["data"]:
        numbers = by_site[record["_id"]]
        assert (record["first"], record["last"], record["numbers"]) == (numbers[0], numbers[-1], numbers)


def test_unwind_group_project_sort(study: Study) -> None:
    tags = Counter(tag for patient in everyone(study) for tag in patient["c_tags"])
    body = run(study.client, [
        {"$unwind": "c_tags"},
        {"$group": {"_id": "c_tags", "n": {"$sum": 1}}},
        {"$project": {"tag": {"$toUpper": "_id"}, "n": 1, "_id": 0}},
        {"$sort": {"n": -1, "tag": 1}},
    ])
    expected = sorted(((tag.upper(), count) for tag, count in tags.items()), key=lambda item: (-item[1], item[0]))
    assert [(record["tag"], record["n"]) for record in body["data"]] == expected


def test_visits_of_a_document_array(study: Study) -> None:
    visits = Counter(visit["c_kind"] for patient in everyone(study) for visit in patient["c_visits"])
    body = run(study.client, [{"$unwind": "c_visits"}, {"$group": {"_id": "c_visits.c_kind", "n": {"$count": "_id"}}}])
    assert {record["_id"]: record["n"] for record in body["data"]} == dict(visits)


def test_a_pipeline_ending_on_instances_returns_them_as_a_list_does(study: Study) -> None:
    client = study.client
    where = {"c_score": {"$gte": 50}}
    listed = client.get("c_patients", params={"where": json.dumps(where), "sort": json.dumps({"c_score": -1}),
                                              "limit": "5", "paths[]": ["c_score", "c_name"]}).json()
    body = run(client, [{"$match": where}, {"$sort": {"c_score": -1}}, {"$limit": 5}],
               **{"paths[]": ["c_score", "c_name"]})
    assert body["data"] == listed["data"]


def test_unwound_instances_hold_one_element(study: Study) -> None:
    patients = {patient["_id"]: patient for patient in everyone(study)}
    body = run(study.client, [{"$unwind": "c_tags"}], limit="1000")
    expected = [(patient_id, tag) for patient_id in sorted(patients, reverse=True)
                for tag in patients[patient_id]["c_tags"]]
    assert [(document["_id"], document["c_tags"]) for document in body["data"]] == expected


def test_unwound_document_arrays_hold_their_element(study: Study) -> None:
    patients = {patient["_id"]: patient for patient in everyone(study)}
    body = run(study.client, [{"$unwind": "c_visits"}], limit="1000")
    expected = [(patient_id, visit) for patient_id in sorted(patients, reverse=True)
                for visit in patients[patient_id]["c_visits"]]
    assert expected and [(document["_id"], document["c_visits"]) for document in body["data"]] == expected


def test_skip_limit_and_total(study: Study) -> None:
    pipeline = [{"$sort": {"c_number": 1}}, {"$project": {"number": "c_number"}}]
    numbers = sorted(patient["c_number"] for patient in everyone(study))
    body = run(study.client, pipeline, skip="5", limit="10", total="true")
    assert [record["number"] for record in body["data"]] == numbers[5:15]
    assert body["hasMore"] is True and body["total"] == 30
    last = run(study.client, pipeline, skip="25", limit="10")
    assert len(last["data"]) == 5 and last["hasMore"] is False and "total" not in last


def test_total_on_plain_lists_and_list_properties(study: Study) -> None:
    client = study.client
    body = client.get("c_patients", params={"limit": "3", "total": "true",
                                            "where": json.dumps({"c_gender": "f"})}).json()
    females = sum(patient["c_gender"] == "f" for patient in everyone(study))
    assert body["total"] == females and len(body["data"]) == min(3, females)
    site = study.site_ids[0]
    listed = client.get(f"c_sites/{site}/c_patients", params={"limit": "1", "total": "true"}).json()
    assert listed["total"] == sum(patient["c_site"]["_id"] == site for patient in everyone(study))
    assert_fault(client.get("c_patients", params={"total": "yes"}), "cortex.invalidArgument.query", 400)


def test_a_pipeline_on_a_list_property(study: Study) -> None:
    site = study.site_ids[1]
    mine = [patient for patient in everyone(study) if patient["c_site"]["_id"] == site]
    body = run(study.client, [{"$group": {"_id": None, "n": {"$count": "_id"}}}], path=f"c_sites/{site}/c_patients")
    assert body["data"] == ([{"n": len(mine)}] if mine else [])


@pytest.mark.parametrize(("pipeline", "path", "words"), [
    ([{"$lookup": {}}], "pipeline[0].$lookup", "$lookup"),
    ([{"$group": {"_id": None, "x": {"$stdDevPop": "c_score"}}}], "pipeline[0].$group.x.$stdDevPop", "$stdDevPop"),
    ([{"$group": {"_id": None, "x": {"$median": "c_score"}}}], "pipeline[0].$group.x.$median", "$median"),
    ([{"$project": {"x": {"$sqrt": "c_score"}}}], "pipeline[0].$project.x.$sqrt", "$sqrt"),
    ([{"$project": {"x": {"$frobnicate": "c_score"}}}], "pipeline[0].$project.x.$frobnicate", "$frobnicate"),
    ([{"$match": {"c_visits.c_kind": "baseline"}}], None, "indexed"),
    ([{"$group": {"_id": "c_nope"}}], "pipeline[0].$group._id", "c_nope"),
    ([{"$group": {"_id": "c_name"}}], "pipeline[0].$group._id", "Document"),
    ([{"$group": {"_id": "c_visits.c_kind"}}], "pipeline[0].$group._id", "$unwind c_visits"),
    ([{"$group": {"_id": "c_tags"}}], "pipeline[0].$group._id", "$unwind"),
    ([{"$group": {"_id": None}}, {"$match": {"c_gender": "f"}}], "pipeline[1].$match", "$match"),
    ([{"$group": {"_id": None, "n": {"$sum": 1}}}, {"$sort": {"c_score": 1}}], "pipeline[1].$sort.c_score",
     "c_score"),
    ([{"$sort": {"c_score": 1}, "$limit": 1}], "pipeline[0]", "exactly one key"),
    ([{"$limit": 0}], "pipeline[0].$limit", "$limit"),
    ([{"$skip": 1}] * 21, "pipeline", "20 stages"),
    ([{"$group": {"_id": None, "n": {"$sum": "c_gender"}}}], "pipeline[0].$group.n.$sum", "Number"),
    ([{"$project": {"x": {"$add": ["c_score", "c_gender"]}}}], "pipeline[0].$project.x.$add", "Number"),
    ([{"$project": {"x": 5}}], "pipeline[0].$project.x", "$number"),
    ([], "pipeline", "1 to 20 stages"),
])
def test_unsupported_or_invalid_pipelines_are_refused_by_name(study: Study, pipeline: Any, path: str | None,
                                                              words: str) -> None:
    response = study.client.get("c_patients", params={"pipeline": json.dumps(pipeline)})
    fault = assert_fault(response, "cortex.invalidArgument.query", 400)
    assert words in fault["reason"], fault
    if path is not None:
        assert fault["path"] == path, fault


@pytest.mark.parametrize("argument", ["where", "sort", "startingAfter", "endingBefore"])
def test_pipeline_excludes_where_sort_and_cursors(study: Study, argument: str) -> None:
    value = {"where": '{"c_gender": "f"}', "sort": "c_score"}.get(argument, study.patient_ids[3])
    response = study.client.get("c_patients", params={"pipeline": '[{"$skip": 0}]', argument: value})
    fault = assert_fault(response, "cortex.invalidArgument.query", 400)
    assert fault["path"] == "pipeline" and argument in fault["reason"]


def test_paths_apply_to_instances_only(study: Study) -> None:
    response = study.client.get("c_patients", params={"pipeline": '[{"$group": {"_id": "c_gender"}}]',
                                                      "paths[]": "c_score"})
    assert_fault(response, "cortex.invalidArgument.query", 400)


def test_bad_pipeline_json(study: Study) -> None:
    fault = assert_fault(study.client.get("c_patients", params={"pipeline": "[{"}), "cortex.invalidArgument.query", 400)
    assert "pipeline" in fault["reason"]


NOTES = {
    "name": "c_note", "label": "Note", "defaultAcl": ["owner.delete"],
    "createAcl": ["role.administrator", "role.provider"],
    "properties": [
        {"name": "c_kind", "label": "Kind", "type": "String", "indexed": True},
        {"name": "c_secret", "label": "Secret", "type": "String", "indexed": True, "readAccess": 6},
        {"name": "c_hidden", "label": "Hidden", "type": "String", "indexed": True, "readable": False},
        {"name": "c_score", "label": "Score", "type": "Number"},
    ],
}


@pytest.fixture
def notes(study: Study) -> Iterator[tuple[CortexClient, CortexClient]]:
    """Admin's notes a1, a2 and a3 (a3 shared with the provider for Read), the provider's p1, p2."""
    admin = study.client
    assert admin.post("objects", json=NOTES).status_code == 200
    provider_account = study.platform.provider
    shared = [{"type": 1, "target": provider_account["id"], "allow": 4}]
    for kind, secret, score, acl in (("x", "a1", 1, []), ("y", "a2", 2, []), ("x", "a3", 4, shared)):
        response = admin.post("c_notes", json={"c_kind": kind, "c_secret": secret, "c_score": score, "acl": acl})
        assert response.status_code == 200, response.text
    with open_test_client(study.platform.runtime) as http:
        provider = CortexClient(http, study.platform.code, study.platform.session_app.key)
        assert provider.login(provider_account["email"]).status_code == 200
        for kind, secret, score in (("x", "p1", 8), ("z", "p2", 16)):
            response = provider.post("c_notes", json={"c_kind": kind, "c_secret": secret, "c_score": score})
            assert response.status_code == 200, response.text
        yield admin, provider


def test_instances_the_caller_cannot_see_never_count(study: Study, notes: tuple[CortexClient, CortexClient]) -> None:
    admin, provider = notes
    group = [{"$group": {"_id": "c_kind", "n": {"$count": "_id"}, "total": {"$sum": "c_score"}}}]
    assert run(provider, group, path="c_notes")["data"] == [{"_id": "x", "n": 2, "total": 12},
                                                             {"_id": "z", "n": 1, "total": 16}]
    # No administrator bypass: the notes' ACL gives administrators nothing beyond their own.
    assert run(admin, group, path="c_notes")["data"] == [{"_id": "x", "n": 2, "total": 5},
                                                                 {"_id": "y", "n": 1, "total": 2}]


def test_properties_the_caller_cannot_read_never_contribute(study: Study,
                                                           notes: tuple[CortexClient, CortexClient]) -> None:
    _, provider = notes
    # a3 is visible to the provider, but its c_secret (readAccess Update) is not: it takes no part.
    by_secret = run(provider, [{"$group": {"_id": "c_secret", "n": {"$sum": 1}}}], path="c_notes")
    assert by_secret["data"] == [{"_id": "p1", "n": 1}, {"_id": "p2", "n": 1}]
    pushed = run(provider, [{"$group": {"_id": None, "all": {"$push": "c_secret"}}}], path="c_notes")
    assert pushed["data"] == [{"all": ["p2", "p1"]}]
    projected = run(provider, [{"$project": {"s": "c_secret", "_id": 0}}], path="c_notes")
    assert projected["data"] == [{"s": "p2"}, {"s": "p1"}]
    counted = run(provider, [{"$count": "n"}], path="c_notes")
    assert counted["data"] == [{"n": 3}]


def test_a_property_the_caller_can_never_read_gets_the_where_fault(study: Study,
                                                                  notes: tuple[CortexClient, CortexClient]) -> None:
    _, provider = notes
    where_fault = provider.get("c_notes", params={"where": json.dumps({"c_hidden": "x"})}).json()
    for pipeline, path in (([{"$group": {"_id": "c_hidden"}}], "pipeline[0].$group._id"),
                           ([{"$project": {"h": "c_hidden"}}], "pipeline[0].$project.h"),
                           ([{"$match": {"c_hidden": "x"}}], "c_hidden"),
                           ([{"$group": {"_id": None, "n": {"$count": "c_hidden"}}}], "pipeline[0].$group.n.$count")):
        fault = assert_fault(provider.get("c_notes", params={"pipeline": json.dumps(pipeline)}),
                             "cortex.invalidArgument.query", 400)
        assert (fault["reason"], fault["path"]) == (where_fault["reason"], path), fault
        assert fault["reason"] == "Unknown property c_hidden."
