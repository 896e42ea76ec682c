"""The Schedules page: the org's export schedules (``exports.scheduling``), when each runs next and
ran last, what its template asks for; creating one, pausing or resuming it, deleting it."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter
from starlette.responses import RedirectResponse, Response

from opencortex import faults
from opencortex.exports import operations, scheduling
from opencortex.exports.jobs import ExportJob
from opencortex.exports.schedule_body import DEFAULT_TIMEZONE
from opencortex.exports.schedules import ExportSchedule
from opencortex.web.context import Console, FormDep, ReaderDep, WriterDep, form_text
from opencortex.web.failures import ConsoleRoute
from opencortex.web.views.schedules import schedule_row

router = APIRouter(route_class=ConsoleRoute)
FIELDS = ("name", "cron", "timezone", "retention", "template")
TEMPLATE_EXAMPLE = '{\n  "label": "Nightly changes",\n  "objects": "c_patients",\n  "since": "previous"\n}'


@router.get("/{org}/console/schedules")
def schedules_page(console: ReaderDep) -> Response:
    rows = [schedule_row(schedule, console.base, _last_export(console, schedule))
            for schedule in scheduling.list_all(console.runtime, console.org_id)]
    return console.page("schedules.html", {"rows": rows})


@router.get("/{org}/console/schedules/new")
def new_schedule_page(console: ReaderDep) -> Response:
    values = {"name": "", "cron": "0 2 * * *", "timezone": DEFAULT_TIMEZONE, "retention": "", "enabled": True,
              "template": TEMPLATE_EXAMPLE}
    return _form(console, values, {})


@router.post("/{org}/console/schedules/new")
def create_schedule(console: WriterDep, form: FormDep) -> Response:
    values: dict[str, Any] = {name: form_text(form, name) for name in FIELDS}
    values["enabled"] = form_text(form, "enabled") == "true"
    errors: dict[str, str] = {}
    body: dict[str, Any] = {"name": values["name"], "cron": values["cron"],
                            "timezone": values["timezone"] or DEFAULT_TIMEZONE, "enabled": values["enabled"]}
    try:
        body["template"] = orjson.loads(values["template"])
    except orjson.JSONDecodeError as error:
        errors["template"] = f"The template is not JSON: {error}"
    retention = values["retention"].strip()
    if retention:
        body["retention"] = int(retention) if retention.isdigit() else retention
    if not errors:
        try:
            scheduling.create(console.runtime, console.org, console.account_id, body)
        except faults.Fault as fault:
            errors = _errors(fault)
    if errors:
        return _form(console, values, errors, 400)
    return RedirectResponse(f"{console.base}/schedules", status_code=303)


@router.post("/{org}/console/schedules/{schedule_id}/enabled")
def switch_schedule(schedule_id: str, console: WriterDep, form: FormDep) -> Response:
    """Pause or resume (``enabled`` = ``true``/``false``) through ``scheduling.update``."""
    wanted = form_text(form, "enabled")
    if wanted not in ("true", "false"):
        raise faults.invalid_value("enabled is true or false.", path="enabled")
    scheduling.update(console.runtime, console.org, schedule_id, {"enabled": wanted == "true"},
                      principal=console.account_id)
    return RedirectResponse(f"{console.base}/schedules", status_code=303)


@router.get("/{org}/console/schedules/{schedule_id}/delete")
def delete_schedule_page(schedule_id: str, console: ReaderDep) -> Response:
    schedule = scheduling.get(console.runtime, console.org_id, schedule_id)
    return console.page("schedule_delete.html", {"row": schedule_row(schedule, console.base, None)})


@router.post("/{org}/console/schedules/{schedule_id}/delete")
def delete_schedule(schedule_id: str, console: WriterDep) -> Response:
    scheduling.delete(console.runtime, console.org_id, schedule_id, principal=console.account_id)
    return RedirectResponse(f"{console.base}/schedules", status_code=303)


def _last_export(console: Console, schedule: ExportSchedule) -> ExportJob | None:
    if schedule.last_export is None:
        return None
    try:
        return operations.get(console.runtime, console.org_id, schedule.last_export)
    except faults.Fault:
        return None  # deleted since (or expired)


def _errors(fault: faults.Fault) -> dict[str, str]:
    """Each fault next to its field; the template's (``template.where``...) all at the template."""
    errors: dict[str, str] = {}
    for child in fault.faults or [fault]:
        path = child.path or ""
        name = path.split(".")[0]
        text = child.reason or child.message
        if name == "template" and path != "template":
            text = f"{path[len('template.'):]}: {text}"
        name = name if name in FIELDS else "form"
        errors[name] = f"{errors[name]} {text}" if name in errors else text
    return errors


def _form(console: Console, values: dict[str, Any], errors: dict[str, str], status_code: int = 200) -> Response:
    return console.page("schedule_new.html", {"values": values, "errors": errors, "form_error": errors.get("form")},
                        status_code)
