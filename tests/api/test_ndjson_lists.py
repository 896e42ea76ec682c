"""Lists streamed as NDJSON (``Accept: application/x-ndjson``), as the official client asks for them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from opencortex.acl.viewer import Viewer
from opencortex.demo.study import patient_bodies
from opencortex.faults import query_invalid
from opencortex.instances.bulk import import_ndjson
from opencortex.instances.serialise import DocumentPlan
from opencortex.instances.service import Instances, ListQuery
from opencortex.instances.streaming import ndjson_lines, stream_list
from opencortex.model.objects import find_object
from tests.instances.conftest import Study, load_study
from tests.support.memory import measure_peak_growth
from tests.support.platform import CortexClient, OrgFixture, assert_fault

NDJSON = {"Accept": "application/x-ndjson"}
MIB = 1024 * 1024


@pytest.fixture
def study(platform: OrgFixture, http: Any) -> Study:
    site_ids, patient_ids = load_study(platform, 30)
    client = CortexClient(http, platform.code, platform.session_app.key)
    client.login(platform.admin["email"])
    return Study(platform, client, site_ids, patient_ids)


def streamed(client: CortexClient, path: str, **params: Any) -> list[Any]:
    response = client.get(path, params=params, headers=NDJSON)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert not response.content.endswith(b"\n")
    return [orjson.loads(line) for line in response.content.split(b"\n")] if response.content else []


def listed(client: CortexClient, path: str, **params: Any) -> list[Any]:
    body = client.get(path, params={"limit": "1000", **params}).json()
    assert body["object"] == "list", body
    return list(body["data"])


def test_each_line_is_what_the_json_list_holds(study: Study) -> None:
    client = study.client
    assert streamed(client, "c_patients") == listed(client, "c_patients")
    arguments = {"where": json.dumps({"c_score": {"$lt": 60}}), "sort": json.dumps({"c_score": 1}),
                 "paths[]": ["c_score", "c_site"], "expand[]": "c_site", "skip": "2"}
    assert streamed(client, "c_patients", **arguments) == listed(client, "c_patients", **arguments)
    assert streamed(client, "c_patients", limit="3") == listed(client, "c_patients", limit="3")
    cursor = study.patient_ids[20]
    assert streamed(client, "c_patients", startingAfter=cursor) == listed(client, "c_patients", startingAfter=cursor)
    assert streamed(client, "c_patients", endingBefore=cursor, limit="4") == \
        listed(client, "c_patients", endingBefore=cursor, limit="4")


def test_pipelines_and_list_properties_stream_too(study: Study) -> None:
    client = study.client
    pipeline = json.dumps([{"$group": {"_id": "c_gender", "n": {"$count": "_id"}}}])
    assert streamed(client, "c_patients", pipeline=pipeline) == listed(client, "c_patients", pipeline=pipeline)
    site = study.site_ids[2]
    assert streamed(client, f"c_sites/{site}/c_patients") == listed(client, f"c_sites/{site}/c_patients")


def test_a_bad_query_is_a_fault_before_anything_streams(study: Study) -> None:
    response = study.client.get("c_patients", params={"where": "{"}, headers=NDJSON)
    assert_fault(response, "cortex.invalidArgument.query", 400)
    response = study.client.get("c_patients", params={"total": "true"}, headers=NDJSON)
    assert_fault(response, "cortex.invalidArgument.query", 400)
    response = study.client.get("c_patients", params={"endingBefore": study.patient_ids[3]}, headers=NDJSON)
    assert_fault(response, "cortex.invalidArgument.query", 400)


def test_a_failure_while_streaming_ends_with_a_fault_line(study: Study, monkeypatch: pytest.MonkeyPatch) -> None:
    real = DocumentPlan.serialise_rows
    calls = []

    def failing_second_batch(self: DocumentPlan, rows: Any, expand: Any, depth: int = 0) -> list[dict[str, Any]]:
        calls.append(1)
        if len(calls) == 2:
            raise query_invalid("stopped on purpose")
        return real(self, rows, expand, depth)

    monkeypatch.setattr("opencortex.instances.streaming.BATCH_SIZE", 10)
    monkeypatch.setattr(DocumentPlan, "serialise_rows", failing_second_batch)
    lines = streamed(study.client, "c_patients")
    assert len(lines) == 11 and all(line["object"] == "c_patient" for line in lines[:10])
    assert lines[-1]["object"] == "fault" and lines[-1]["reason"] == "stopped on purpose"


def test_ndjson_is_chosen_by_the_accept_header(study: Study) -> None:
    for accept in ("application/json, text/plain, */*", "application/x-ndjson;q=0"):
        response = study.client.get("c_patients", headers={"Accept": accept})
        assert response.json()["object"] == "list"
    response = study.client.get("c_patients", headers={"Accept": "Application/X-NDJSON; q=0.9"})
    assert response.headers["content-type"].startswith("application/x-ndjson")


def load_patients(platform: OrgFixture, count: int, site_ids: list[str]) -> None:
    viewer = Viewer(platform.org["id"], platform.admin["id"], frozenset(platform.admin["roles"]))
    lines = (orjson.dumps(body) for body in patient_bodies(count, site_ids, seed=11))
    report = import_ndjson(platform.runtime.database, platform.org["id"], "c_patients", viewer, lines, jobs=1)
    assert report.committed, report.problems[:3]


def test_20000_instances_stream_whole_in_flat_memory(platform: OrgFixture, http: Any) -> None:
    site_ids, first = load_study(platform, 0)
    assert first == []
    load_patients(platform, 20_000, site_ids)
    client = CortexClient(http, platform.code, platform.session_app.key)
    client.login(platform.admin["email"])
    lines = streamed(client, "c_patients")
    ids = [line["_id"] for line in lines]
    assert len(ids) == 20_000 and ids == sorted(ids, reverse=True) and len(set(ids)) == 20_000
    assert lines[:1000] == listed(client, "c_patients")
    assert lines[-500:] == listed(client, "c_patients", skip="19500")

    runtime = platform.runtime
    viewer = Viewer(platform.org["id"], platform.admin["id"], frozenset(platform.admin["roles"]))
    with runtime.database.connect() as connection:
        definition = find_object(connection, platform.org["id"], "c_patients")
        assert definition is not None
        instances = Instances(connection, runtime.database.dialect, platform.org["id"], definition, viewer)
        peak_growth = measure_peak_growth()
        size = sum(len(chunk) for chunk in ndjson_lines(stream_list(instances, ListQuery(), None)))
        growth = peak_growth()
    assert size > 15 * MIB  # ~1 KB a document went through
    assert growth < 10 * MIB, f"peak RSS grew by {growth / MIB:.1f} MiB streaming {size / MIB:.0f} MiB"


def test_the_last_line_is_the_fault_that_stopped_the_stream() -> None:
    def batches(error: Exception) -> Iterator[list[dict[str, int]]]:
        yield [{"a": 1}, {"a": 2}]
        raise error

    body = b"".join(ndjson_lines(batches(query_invalid("late"))))
    *items, last = body.split(b"\n")
    assert [orjson.loads(item) for item in items] == [{"a": 1}, {"a": 2}]
    assert orjson.loads(last)["errCode"] == "cortex.invalidArgument.query"
    body = b"".join(ndjson_lines(batches(RuntimeError("boom"))))
    fault = orjson.loads(body.split(b"\n")[-1])
    assert (fault["object"], fault["errCode"], fault["status"]) == ("fault", "cortex.error.unspecified", 500)
    assert "boom" not in body.decode()
