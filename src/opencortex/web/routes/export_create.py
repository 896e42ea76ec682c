"""Creating an export: the form, its server-side check before submitting, and the create itself.

The form posts the export's properties; ``exports.operations.create`` validates and queues it, so
the console accepts exactly what the API accepts, with the API's faults shown next to their
fields. Nothing typed is lost on an error: the form comes back with every value as it was sent.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from opencortex import faults
from opencortex.exports import operations
from opencortex.exports.deidentify.profiles import list_profiles
from opencortex.exports.targets import LOGS_PLURAL, is_logs
from opencortex.exports.validation import FORBIDDEN_OBJECTS, read_export_body, validate_export_request
from opencortex.model.accounts import list_accounts
from opencortex.model.objects import find_object, list_objects
from opencortex.scripting import ScriptLimits
from opencortex.web.context import Console, FormDep, ReaderDep, WriterDep, form_text
from opencortex.web.failures import ConsoleRoute
from opencortex.web.views.export_form import FORM_LEVEL, ExportForm, field_errors, format_choices
from opencortex.web.views.properties import PropertyChoices, log_choices, property_choices

router = APIRouter(route_class=ConsoleRoute)
ACCOUNT_CHOICES = 500
"""Accounts offered for ``principal`` (newest first); any other can be typed by email or _id."""
OPTION_LABELS = {
    "bom": "Start the file with a byte-order mark (Excel then reads it as UTF-8)",
    "formulaGuard": "Guard against formulas: prefix ' to text starting with = + - @",
    "dictionary": "Add a data dictionary (dictionary.csv: column, type, label)",
}


@router.get("/{org}/console/exports/new")
def new_export_page(request: Request, console: ReaderDep) -> Response:
    return _form_page(console, ExportForm(objects=request.query_params.get("objects", "")), {})


@router.post("/{org}/console/exports/new")
def create_export(console: WriterDep, form: FormDep) -> Response:
    export_form = ExportForm.from_form(form)
    if form_text(form, "_action") == "refresh":  # "Show its properties", without scripts
        return _form_page(console, export_form, {})
    try:
        job = operations.create(console.runtime, console.org, console.account_id, export_form.body())
    except faults.Fault as fault:
        return _form_page(console, export_form, field_errors(fault, export_form), fault.status)
    return RedirectResponse(f"{console.base}/exports/{job.id}", status_code=303)


@router.post("/{org}/console/exports/validate.json")
def validate_export(console: WriterDep, form: FormDep) -> Response:
    """The create's validation, without creating: ``{ok, errors: {field: message}}``."""
    export_form = ExportForm.from_form(form)
    runtime = console.runtime
    try:
        # The two steps of operations.create, without its write: the same checks, the same faults.
        read = read_export_body(export_form.body(),
                                script_limits=ScriptLimits(timeout_s=runtime.settings.script_timeout_seconds))
        with runtime.database.connect() as connection:
            validate_export_request(connection, runtime.database.dialect, console.org_id, read,
                                    creator=console.account_id)
    except faults.Fault as fault:
        return JSONResponse({"ok": False, "errors": field_errors(fault, export_form), "fault": fault.to_json()})
    return JSONResponse({"ok": True, "errors": {}})


@router.get("/{org}/console/objects/{name}/choices.json")
def object_choices(name: str, console: ReaderDep) -> Response:
    """What the form offers for ``paths``, ``include`` and ``expand`` once an object (or the
    Logs) is picked."""
    if is_logs(name):
        return JSONResponse(log_choices().to_json())
    with console.runtime.database.connect() as connection:
        definition = find_object(connection, console.org_id, name)
    if definition is None:
        raise faults.object_not_found(f"No object named {name!r}.", path=name)
    return JSONResponse(property_choices(definition).to_json())


def _form_page(console: Console, form: ExportForm, errors: dict[str, str], status_code: int = 200) -> Response:
    with console.runtime.database.connect() as connection:
        objects = [definition for definition in list_objects(connection, console.org_id)
                   if definition.name not in FORBIDDEN_OBJECTS]
        accounts, _more = list_accounts(connection, console.org_id, limit=ACCOUNT_CHOICES)
    # Besides the object definitions, the picker offers the org's Logs (objects: "logs").
    logs_chosen = is_logs(form.objects)
    chosen = None if logs_chosen else next((definition for definition in objects
                                            if form.objects in (definition.name, definition.plural_name)), None)
    if logs_chosen:
        choices = log_choices()
    else:
        choices = property_choices(chosen) if chosen is not None else PropertyChoices((), (), ())
    context: dict[str, Any] = {
        "form": form,
        "errors": errors,
        "form_error": errors.get(FORM_LEVEL),
        "objects": objects,
        "chosen": chosen,
        "logs": {"value": LOGS_PLURAL, "chosen": logs_chosen},
        "choices": choices,
        "formats": format_choices(),
        "accounts": [{"email": account["email"], "name": f"{account['name_first']} {account['name_last']}".strip()}
                     for account in accounts],
        "option_labels": OPTION_LABELS,
        "profiles": [profile.name for profile in list_profiles(console.runtime, console.org_id)],
    }
    return console.page("export_new.html", context, status_code)
