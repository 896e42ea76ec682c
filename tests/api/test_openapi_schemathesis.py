"""Schemathesis against the app's own ``/openapi.json``, in process, on both databases.

Every operation gets generated requests, valid and invalid ones, as an administrator, as an
account with no role, and with whatever credentials the generator makes up; then a set of
explicit requests that must succeed (downloads with Range and If-None-Match, NDJSON, uploads,
forms...). Every answer must be no 5xx, in a documented content type and status, conform to its
schema (faults included: a fault's ``status`` is the HTTP status), and carry the server's headers.

The org is seeded first (two objects with indexed properties, instances, an uploaded file, a
ready and a pending export, an upload target), and the test's copy of the document steers path
parameters to those real ids and names (and one that does not exist), and query arguments to
real property names and valid queries as often as to anything the schema allows. Deterministic
(``derandomize``), with a fixed number of examples per operation:
``OPENCORTEX_SCHEMATHESIS_EXAMPLES`` (4: about 650 requests per database) raises it for a deeper run.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from opencortex.acl.viewer import Viewer
from opencortex.attachments.uploads import upload_file
from opencortex.exports import operations, scheduling
from opencortex.exports.deidentify import profiles
from opencortex.exports.worker import ExportWorker
from opencortex.model.accounts import create_account
from tests.instances.conftest import load_study
from tests.support.platform import PASSWORD, OrgFixture

EXAMPLES = int(os.environ.get("OPENCORTEX_SCHEMATHESIS_EXAMPLES", "4"))
MISSING_ID = "0" * 24
PNG = b"\x89PNG\r\n\x1a\n fake image bytes"


@dataclass
class Seeded:
    patient_ids: list[str]
    site_ids: list[str]
    ready_export: str
    pending_export: str
    spare_export: str
    archive_etag: str
    account_ids: list[str]
    upload_token: str
    schedule_id: str


def seed(platform: OrgFixture, http: Any) -> Seeded:
    """Objects with indexed properties, instances, a ready file, exports, an upload target."""
    site_ids, patient_ids = load_study(platform, 12)
    runtime, org = platform.runtime, platform.org
    admin = Viewer(org["id"], platform.admin["id"], frozenset(platform.admin["roles"]))
    upload_file(runtime, admin, org, "c_patient", patient_ids[0], "c_photo", "face.png", [PNG])
    ready = operations.create(runtime, org, platform.admin["id"], {
        "label": "seeded", "objects": "c_patients", "format": "text/csv", "paths": ["c_number", "c_score"],
        "where": '{"c_score": {"$gte": 10}}'})
    ExportWorker(runtime, concurrency=1).run_once()
    pending = operations.create(runtime, org, platform.admin["id"], {"label": "waiting", "objects": "c_sites"})
    spare = operations.create(runtime, org, platform.admin["id"], {"label": "to delete", "objects": "c_sites"})
    with runtime.database.begin() as connection:
        nobody = create_account(connection, org["id"], email="nobody@acme.test", password=PASSWORD, roles=[])
    platform.accounts["nobody"] = nobody
    written = http.put(f"/{platform.code}/v2/c_patients/{patient_ids[1]}", json={"c_photo": "scan.png"},
                       headers=_bearer(platform, platform.admin))
    upload_url = written.json()["c_photo"]["uploads"][0]["uploadUrl"]
    data_file = operations.get(runtime, org["id"], ready.id).data_file
    assert data_file is not None
    profiles.create_profile(runtime, org["id"], {"name": "pseudonyms", "rules": [
        {"path": "c_name.c_last", "action": "hash"}, {"path": "c_dob", "action": "shiftDate"}]},
        creator=platform.admin["id"])
    schedule = scheduling.create(runtime, org, platform.admin["id"], {
        "name": "nightly", "cron": "0 2 * * *", "template": {"label": "nightly", "objects": "c_sites"}})
    return Seeded(patient_ids, site_ids, ready.id, pending.id, spare.id, data_file["ETag"],
                  [platform.admin["id"], platform.provider["id"], nobody["id"]], upload_url.rsplit("/", 1)[1],
                  schedule.id)


def _bearer(platform: OrgFixture, account: dict[str, Any]) -> dict[str, str]:
    return {"Medable-Client-Key": platform.session_app.key,
            "Authorization": f"Bearer {platform.token_for(account)}"}


def steered(document: dict[str, Any], platform: OrgFixture, seeded: Seeded) -> dict[str, Any]:
    """The test's copy of the document, steered at the seeded org (see the module's docstring)."""
    document = copy.deepcopy(document)
    real: dict[str, list[str]] = {
        "org": [platform.code],
        "plural": ["c_patients", "c_sites"],
        "name": ["c_patient", "c_sites", "c_nothing"],
        "instance_id": [*seeded.patient_ids[:3], seeded.site_ids[0], MISSING_ID],
        "export_id": [seeded.ready_export, seeded.pending_export, MISSING_ID],
        "account_id": [*seeded.account_ids, MISSING_ID],
        "number": ["0000000001"],
        "token": [seeded.upload_token, "no-such-token"],
        "schedule_id": [seeded.schedule_id, MISSING_ID],
    }
    paths_by_template = {
        "/{org}/v2/{plural}/{instance_id}/{path}": ["c_photo", "c_photo/content", "c_name/c_first", "c_visits",
                                                  "c_tags", "c_number", "c_site", "c_patients", "c_nothing"],
        # (not dataFile or files alone: those are operations of their own)
        "/{org}/v2/exports/{export_id}/{path}": ["state", "stats/docs/count", "dataFile/name", "events",
                                                 "creator/path", "nothing"],
        "/{org}/v2/accounts/me/{path}": ["email", "name/first", "roles", "nothing"],
        "/{org}/v2/accounts/{account_id}/{path}": ["email", "name", "roles", "nothing"],
        "/{org}/v2/deidentificationProfiles/{name}": ["pseudonyms", "nothing"],
    }
    property_names = {"type": "array", "items": {"anyOf": [
        {"enum": ["c_number", "c_score", "c_name", "c_name.c_first", "c_site", "c_photo", "c_visits", "label", "state",
                  "creator", "stats.docs.count", "email", "c_country", "c_patients"]}, {"type": "string"}]}}
    queries = {
        "where": ['{"c_score": {"$gte": 10}}', '{"state": "ready"}', '{"c_number": {"$regex": "/^S/"}}', "{}"],
        "sort": ['{"created": -1}', '{"c_score": 1}', '{"_id": 1}'],
        "pipeline": ['[{"$group": {"_id": "c_gender", "n": {"$count": "_id"}}}]', '[{"$match": {"c_active": true}}]'],
    }
    for template, item in document["paths"].items():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                name = parameter["name"]
                if parameter["in"] == "path":
                    if name in ("path", "name") and template in paths_by_template:
                        parameter["schema"] = {"enum": paths_by_template[template]}
                    elif name in real:
                        parameter["schema"] = {"enum": real[name]}
                elif parameter["in"] == "query":
                    if name in ("paths[]", "include[]", "expand[]"):
                        parameter["schema"] = property_names
                    elif name in queries:
                        parameter["schema"] = {"anyOf": [{"enum": queries[name]}, parameter["schema"]]}
    return document


def without_security(document: dict[str, Any]) -> dict[str, Any]:
    """With our own credentials, the security schemes would only make the generator invent values."""
    document = copy.deepcopy(document)
    document["security"] = []
    for item in document["paths"].values():
        for operation in item.values():
            operation.pop("security", None)
    return document


def fault_status_is_the_http_status(ctx: Any, response: Any, case: Any) -> bool | None:
    """A fault says the status it is answered with (docs/api.md, Faults)."""
    content_type = (response.headers.get("content-type") or [""])[0]
    if content_type.startswith("application/json") and response.content:
        body = response.json()
        if isinstance(body, dict) and body.get("object") == "fault":
            assert body["status"] == response.status_code, (body, response.status_code)
    return None


def no_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """No 5xx, and never a trace in the body."""
    assert response.status_code < 500, f"{response.status_code}: {response.content[:2000]!r}"
    assert b"Traceback (most recent call last)" not in response.content
    return None


CHECKS = [no_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance, fault_status_is_the_http_status]


def identities(platform: OrgFixture) -> Iterator[tuple[str, dict[str, str] | None, int]]:
    """(who, their headers, or None for the generated credentials, examples per operation and mode)."""
    yield "generated credentials", None, 1
    yield "no role", _bearer(platform, platform.accounts["nobody"]), max(1, EXAMPLES // 2)
    yield "administrator", _bearer(platform, platform.admin), EXAMPLES


def destructive_last(label: str) -> tuple[int, str]:
    """Operations that delete or redefine what the others read run after them."""
    method, path = label.split(" ", 1)
    return (2 if path.startswith("/{org}/v2/objects") and method in ("PUT", "DELETE") else
            1 if method == "DELETE" else 0, label)


def run_generated(operation: Any, app: Any, headers: dict[str, str] | None, examples: int,
                  mode: GenerationMode) -> None:
    @settings(max_examples=examples, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate, Phase.shrink], print_blob=False)
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        case.validate_response(case.call(app=app, headers=headers), checks=CHECKS)

    check()


def explicit_cases(platform: OrgFixture, seeded: Seeded) -> dict[str, list[dict[str, Any]]]:
    """Requests that must succeed (the generator seldom builds them whole), by operation."""
    patient, other, site = seeded.patient_ids[0], seeded.patient_ids[2], seeded.site_ids[0]
    ready, instance_path = seeded.ready_export, {"plural": "c_patients", "instance_id": patient}
    content = {"export_id": ready}
    return {
        "GET /health": [{}],
        "HEAD /health": [{}],
        "GET /{org}/v2": [{}],
        "POST /{org}/v2/accounts/login": [{"body": {"email": "nobody@acme.test", "password": PASSWORD}}],
        "GET /{org}/v2/accounts/status": [{"query": {"expand": False}}, {"query": {"paths[]": ["_id"]}}],
        "GET /{org}/v2/accounts/me/{path}": [{"path_parameters": {"path": "name/first"}}],
        "GET /{org}/v2/accounts": [{"query": {"limit": 2, "paths[]": ["email"]}}],
        "POST /{org}/v2/accounts": [{"body": {"email": "new@acme.test", "password": PASSWORD, "roles": ["provider"],
                                              "name": {"first": "New", "last": "Comer"}}}],
        "GET /{org}/v2/objects/{name}": [{"path_parameters": {"name": "c_patients"}}],
        "POST /{org}/v2/objects": [{"body": {"name": "c_thing", "label": "Thing", "properties": [
            {"name": "c_n", "label": "N", "type": "Number", "indexed": True}]}}],
        "PUT /{org}/v2/objects/{name}": [{"path_parameters": {"name": "c_thing"}, "body": {"label": "Thing 2"}}],
        "DELETE /{org}/v2/objects/{name}": [{"path_parameters": {"name": "c_thing"}}],
        "GET /{org}/v2/exports": [{"query": {"total": True, "where": '{"state": "ready"}', "paths[]": ["label"],
                                             "expand[]": ["creator"]}}],
        "POST /{org}/v2/exports": [
            {"body": {"label": "Q1", "objects": "c_patients", "format": "text/csv", "paths": ["c_number"],
                      "csv": {"bom": True}}},
            {"body": {"label": "Form", "objects": "c_sites", "exportFiles": "false"},
             "media_type": "application/x-www-form-urlencoded"},
        ],
        "GET /{org}/v2/exports/{export_id}": [{"path_parameters": content,
                                               "query": {"include[]": ["events"], "expand[]": ["creator"]}}],
        "PUT /{org}/v2/exports/{export_id}": [{"path_parameters": content, "body": {"label": "Renamed"}}],
        "PATCH /{org}/v2/exports/{export_id}": [{"path_parameters": content, "body": [
            {"op": "set", "path": "description", "value": "described"}]}],
        "POST /{org}/v2/exports/{export_id}/cancel": [{"path_parameters": {"export_id": seeded.pending_export}}],
        "DELETE /{org}/v2/exports/{export_id}": [{"path_parameters": {"export_id": seeded.spare_export}}],
        "GET /{org}/v2/exports/{export_id}/dataFile": [{"path_parameters": content}],
        "GET /{org}/v2/exports/{export_id}/dataFile/content": [
            {"path_parameters": content},
            {"path_parameters": content, "headers": {"Range": "bytes=0-9"}, "expect": 206},
            {"path_parameters": content, "headers": {"If-None-Match": f'"{seeded.archive_etag}"'}, "expect": 304},
            {"path_parameters": content, "headers": {"Accept": "application/json"}},
        ],
        "GET /{org}/v2/exports/{export_id}/files": [{"path_parameters": content}],
        "GET /{org}/v2/exports/{export_id}/{path}": [{"path_parameters": {**content, "path": "stats/docs/count"}},
                                                     {"path_parameters": {**content, "path": "paths"}}],
        "POST /{org}/v2/uploads/{token}": [{"path_parameters": {"token": seeded.upload_token},
                                            "body": {"file": PNG}, "media_type": "multipart/form-data"}],
        "GET /{org}/v2/logs": [{"query": {"limit": 5, "sort": '{"_id": -1}'}}],
        "GET /{org}/v2/{plural}": [
            {"path_parameters": {"plural": "c_patients"}, "query": {"total": True, "sort": '{"c_score": -1}',
                                                                   "where": '{"c_score": {"$gte": 10}}'}},
            {"path_parameters": {"plural": "c_patients"}, "headers": {"Accept": "application/x-ndjson"}},
            {"path_parameters": {"plural": "c_patients"},
             "query": {"pipeline": '[{"$group": {"_id": "c_gender", "n": {"$count": "_id"}}}]'}},
        ],
        "POST /{org}/v2/{plural}": [{"path_parameters": {"plural": "c_sites"},
                                     "body": {"c_name": "Lyon", "c_country": "FR"}}],
        "GET /{org}/v2/{plural}/{instance_id}": [{"path_parameters": instance_path,
                                                  "query": {"paths[]": ["c_number", "c_site"],
                                                            "expand[]": ["c_site"]}}],
        "PUT /{org}/v2/{plural}/{instance_id}": [{"path_parameters": instance_path, "body": {"c_score": 5}}],
        "PATCH /{org}/v2/{plural}/{instance_id}": [{"path_parameters": instance_path, "body": [
            {"op": "set", "path": "c_score", "value": 7}]}],
        "POST /{org}/v2/{plural}/{instance_id}": [{"path_parameters": instance_path, "body": {"c_tags": ["x"]}}],
        "DELETE /{org}/v2/{plural}/{instance_id}": [{"path_parameters": {"plural": "c_patients",
                                                                         "instance_id": seeded.patient_ids[-1]}}],
        "GET /{org}/v2/{plural}/{instance_id}/{path}": [
            {"path_parameters": {**instance_path, "path": "c_photo"}},
            {"path_parameters": {**instance_path, "path": "c_photo/content"}},
            {"path_parameters": {**instance_path, "path": "c_photo/content"}, "headers": {"Range": "bytes=-4"},
             "expect": 206},
            {"path_parameters": {**instance_path, "path": "c_photo/content"},
             "headers": {"Accept": "application/json"}},
            {"path_parameters": {**instance_path, "path": "c_name/c_first"}},
            {"path_parameters": {**instance_path, "path": "c_tags"}},
            {"path_parameters": {"plural": "c_sites", "instance_id": site, "path": "c_patients"},
             "query": {"limit": 2, "total": True}},
        ],
        "PUT /{org}/v2/{plural}/{instance_id}/{path}": [
            {"path_parameters": {**instance_path, "path": "c_score"}, "body": 9},
            {"path_parameters": {"plural": "c_patients", "instance_id": other, "path": "c_photo"},
             "body": {"file": PNG}, "media_type": "multipart/form-data"},
        ],
        "PATCH /{org}/v2/{plural}/{instance_id}/{path}": [
            {"path_parameters": {**instance_path, "path": "c_name"},
             "body": [{"op": "set", "path": "c_first", "value": "Zoe"}]}],
        "POST /{org}/v2/{plural}/{instance_id}/{path}": [
            {"path_parameters": {**instance_path, "path": "c_tags"}, "body": "y"}],
        "DELETE /{org}/v2/{plural}/{instance_id}/{path}": [
            {"path_parameters": {**instance_path, "path": "c_tags/y"}}],
        "GET /{org}/v2/deidentificationProfiles": [{}],
        "POST /{org}/v2/deidentificationProfiles": [{"body": {"name": "coarse", "description": "years only",
                                                             "rules": [{"path": "c_dob", "action": "dateToYear"}]}}],
        "GET /{org}/v2/deidentificationProfiles/{name}": [{"path_parameters": {"name": "coarse"}}],
        "PUT /{org}/v2/deidentificationProfiles/{name}": [{"path_parameters": {"name": "coarse"}, "body": {
            "rules": [{"path": "c_number", "action": "truncate", "keep": 3}], "hashLength": 32}}],
        "DELETE /{org}/v2/deidentificationProfiles/{name}": [{"path_parameters": {"name": "coarse"}}],
        "GET /{org}/v2/exportSchedules": [{}],
        "GET /{org}/v2/exportSchedules/{schedule_id}": [{"path_parameters": {"schedule_id": seeded.schedule_id}}],
        "PUT /{org}/v2/exportSchedules/{schedule_id}": [{"path_parameters": {"schedule_id": seeded.schedule_id},
                                                         "body": {"enabled": False, "retention": 3}}],
        "POST /{org}/v2/exportSchedules": [{"body": {"name": "weekly", "cron": "0 3 * * 1", "timezone": "UTC",
                                                     "template": {"label": "w", "objects": "c_patients"}}}],
    }


def run_explicit(schema: Any, app: Any, platform: OrgFixture, seeded: Seeded, failures: list[str]) -> None:
    headers = _bearer(platform, platform.admin)
    for label, cases in explicit_cases(platform, seeded).items():
        method, path = label.split(" ", 1)
        operation = schema[path][method]
        for number, arguments in enumerate(cases):
            path_parameters = {"org": platform.code, **arguments.pop("path_parameters", {})}
            expect = arguments.pop("expect", 200)
            if "body" in arguments:
                arguments.setdefault("media_type", "application/json")
            case = operation.Case(path_parameters=path_parameters, **arguments)
            try:
                response = case.call(app=app, headers=headers)
                assert response.status_code == expect, f"{response.status_code}: {response.content[:1000]!r}"
                case.validate_response(response, checks=CHECKS)
            except (Exception, BaseExceptionGroup) as error:
                failures.append(f"[explicit {number}] {label}: {error}")


def test_every_operation_keeps_to_the_schema(platform: OrgFixture, http: Any) -> None:
    seeded = seed(platform, http)
    document = steered(http.get("/openapi.json").json(), platform, seeded)
    failures: list[str] = []
    run_explicit(schemathesis.openapi.from_dict(without_security(document)), http.app, platform, seeded, failures)
    for identity, headers, examples in identities(platform):
        schema = schemathesis.openapi.from_dict(document if headers is None else without_security(document))
        for operation in sorted((result.ok() for result in schema.get_all_operations()),
                                key=lambda operation: destructive_last(operation.label)):
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    run_generated(operation, http.app, headers, examples, mode)
                except Unsatisfiable:
                    assert mode is GenerationMode.NEGATIVE, operation.label  # nothing there to make invalid
                except (Exception, BaseExceptionGroup) as error:  # collected: one run reports every failure
                    failures.append(f"[{identity}, {mode.value}] {operation.label}: {error}")
    assert not failures, "\n\n".join(failures)
