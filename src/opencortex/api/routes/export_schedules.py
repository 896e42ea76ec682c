"""``/exportSchedules``: the org's export schedules, for administrators (an OpenCortex extension).

A schedule runs an export template (a ``POST /exports`` body) at the ticks of a cron expression,
once per tick whatever the number of workers (``exports.scheduling``). ``PUT`` changes what its
body names. Deleting a schedule leaves the exports it made.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from opencortex.api.deps import AdministratorDep, JSONBodyDep, RuntimeDep
from opencortex.api.openapi import described, json_body
from opencortex.api.query_arguments import accepts
from opencortex.api.responses import document, listing, result
from opencortex.api.schemas.envelopes import ANY_JSON, DATE_TIME, OBJECT_ID, Schema, list_of, result_of
from opencortex.exports import scheduling
from opencortex.exports.schedule_body import MAX_CRON, MAX_NAME, MAX_RETENTION
from opencortex.exports.schedules import OBJECT, schedule_json

router = APIRouter()
ROOT = "/{org}/v2/exportSchedules"

_PROPERTIES: Schema = {
    "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME},
    "cron": {"type": "string", "maxLength": MAX_CRON, "description": "minute hour day-of-month month day-of-week"},
    "timezone": {"type": "string", "description": "An IANA time zone (UTC by default)."},
    "template": {"$ref": "#/components/schemas/ExportCreate"},
    "retention": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_RETENTION},
    "enabled": {"type": "boolean"},
}
SCHEDULE_BODY: Schema = {"type": "object", "properties": _PROPERTIES, "additionalProperties": False,
                         "description": "An export schedule (docs/export-jobs.md, Scheduled exports)."}
_REFERENCE: Schema = {"type": "object", "properties": {"_id": OBJECT_ID, "object": {"type": "string"},
                                                       "path": {"type": "string"}}}
SCHEDULE: Schema = {
    "type": "object",
    "required": ["_id", "object"],
    "properties": {"_id": OBJECT_ID, "object": {"const": OBJECT}, **_PROPERTIES, "template": {"type": "object"},
                   "nextRun": DATE_TIME, "lastRun": DATE_TIME, "lastExport": _REFERENCE, "lastFault": ANY_JSON,
                   "creator": _REFERENCE, "created": DATE_TIME, "updated": DATE_TIME},
    "additionalProperties": False,
}


@router.get(ROOT, dependencies=[accepts()], openapi_extra=described(
    "The org's export schedules, by name (administrators)", list_of(SCHEDULE, with_total=False)))
def list_schedules_route(caller: AdministratorDep, runtime: RuntimeDep) -> Response:
    return listing([schedule_json(schedule) for schedule in scheduling.list_all(runtime, caller.org["id"])], False)


@router.post(ROOT, dependencies=[accepts()], openapi_extra=described(
    "Create an export schedule (administrators); its template is checked as POST /exports checks a body",
    SCHEDULE, body=json_body(SCHEDULE_BODY, required=True)))
def create_schedule_route(caller: AdministratorDep, runtime: RuntimeDep, body: JSONBodyDep) -> Response:
    schedule = scheduling.create(runtime, caller.org, caller.principal.account_id, body)
    return document(schedule_json(schedule))


@router.get(ROOT + "/{schedule_id}", dependencies=[accepts()], openapi_extra=described(
    "An export schedule (administrators)", SCHEDULE))
def read_schedule_route(schedule_id: str, caller: AdministratorDep, runtime: RuntimeDep) -> Response:
    return document(schedule_json(scheduling.get(runtime, caller.org["id"], schedule_id)))


@router.put(ROOT + "/{schedule_id}", dependencies=[accepts()], openapi_extra=described(
    "Change what the body names of an export schedule (administrators)", SCHEDULE,
    body=json_body(SCHEDULE_BODY, required=True)))
def update_schedule_route(schedule_id: str, caller: AdministratorDep, runtime: RuntimeDep,
                          body: JSONBodyDep) -> Response:
    schedule = scheduling.update(runtime, caller.org, schedule_id, body, principal=caller.principal.account_id)
    return document(schedule_json(schedule))


@router.delete(ROOT + "/{schedule_id}", dependencies=[accepts()], openapi_extra=described(
    "Delete an export schedule (administrators); its exports stay", result_of({"const": True})))
def delete_schedule_route(schedule_id: str, caller: AdministratorDep, runtime: RuntimeDep) -> Response:
    scheduling.delete(runtime, caller.org["id"], schedule_id, principal=caller.principal.account_id)
    return result(True)
