"""Changing an export's label and description (``operations.update``: its only writable properties)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import RedirectResponse, Response

from opencortex import faults
from opencortex.exports import operations
from opencortex.exports.jobs import ExportJob
from opencortex.web.context import Console, FormDep, ReaderDep, WriterDep, form_text
from opencortex.web.failures import ConsoleRoute
from opencortex.web.views.exports import export_row

router = APIRouter(route_class=ConsoleRoute)


@router.get("/{org}/console/exports/{export_id}/edit")
def edit_page(export_id: str, console: ReaderDep) -> Response:
    job = operations.get(console.runtime, console.org_id, export_id, access=console.export_access)
    return _page(console, job, job.label, job.description or "", {})


@router.post("/{org}/console/exports/{export_id}/edit")
def save(export_id: str, console: WriterDep, form: FormDep) -> Response:
    label, description = form_text(form, "label"), form_text(form, "description")
    # An emptied description is removed, as ``description: null`` removes it through the API.
    changes: dict[str, Any] = {"label": label, "description": description or None}
    try:
        operations.update(console.runtime, console.org_id, export_id, changes, principal=console.account_id)
    except faults.Fault as fault:
        job = operations.get(console.runtime, console.org_id, export_id, access=console.export_access)
        errors: dict[str, str] = {}
        for child in fault.faults or [fault]:
            name = (child.path or "").split(".")[0]
            errors[name if name in changes else "form"] = child.reason or child.message
        return _page(console, job, label, description, errors, fault.status)
    return RedirectResponse(f"{console.base}/exports/{export_id}", status_code=303)


def _page(console: Console, job: ExportJob, label: str, description: str, errors: dict[str, str],
          status_code: int = 200) -> Response:
    return console.page("export_edit.html", {
        "row": export_row(job, console.base, {}), "label": label, "description": description, "errors": errors,
        "form_error": errors.get("form"),
    }, status_code)
