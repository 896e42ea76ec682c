"""An export as the console shows it: one ``ExportRow`` per export, for the list, the export's page
and the JSON the pages poll while exports run (the same dict, so the script formats nothing)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection

from opencortex import faults
from opencortex.exports.formats import find_format
from opencortex.exports.jobs import ExportJob, ExportState
from opencortex.model.accounts import find_account
from opencortex.web.views.formatting import byte_size, count, machine_moment, moment, short_moment

CANCELLED = "cancelled"
"""Shown for an export that ended in ``error`` because it was cancelled (``cortex.error.aborted``)."""
SHOWN_STATES = (*(state.value for state in ExportState), CANCELLED)
"""What the list's state filter offers: the export states, and ``cancelled`` apart from ``error``."""
_CANCELLATION = {"fault.errCode": faults.export_aborted.err_code}
"""``shown_state``'s test, as a condition of the export list's ``where``."""


def shown_state(job: ExportJob) -> str:
    """``pending``, ``running``, ``ready``, ``error``, or ``cancelled`` for a cancelled export's error."""
    if job.state is ExportState.ERROR and (job.fault or {}).get("errCode") == faults.export_aborted.err_code:
        return CANCELLED
    return job.state.value


def state_filter(shown: str) -> tuple[str | None, dict[str, Any]]:
    """The export list's ``state`` and ``where`` conditions for the exports shown as ``shown`` (any
    state when empty): ``error`` leaves the cancelled ones out, ``cancelled`` keeps only them. Both
    go to the list's query, so its pages and counts agree with what the rows show."""
    if shown == CANCELLED:
        return ExportState.ERROR.value, dict(_CANCELLATION)
    if shown == ExportState.ERROR.value:
        return shown, {"$not": dict(_CANCELLATION)}  # $not, not the restricted $ne: no org setting needed
    return shown or None, {}


def format_name(media_type: str) -> str:
    """``CSV`` for ``text/csv``: the format's file extension."""
    export_format = find_format(media_type)
    return export_format.extension.upper() if export_format is not None else media_type


def progress(job: ExportJob) -> dict[str, Any] | None:
    """Documents written of the total (counted before reading starts), while the export waits or runs."""
    if job.state is ExportState.PENDING:
        return {"docs": 0, "total": None, "percent": None, "phase": "queued", "text": "Waiting for its turn"}
    if job.state is not ExportState.RUNNING:
        return None
    current = job.progress or {}
    docs, total = int(current.get("docs") or 0), current.get("total")
    phase = str(current.get("phase") or "starting")
    if isinstance(total, int) and total > 0:
        percent = min(100, docs * 100 // total)
        text = f"{docs:,} of {total:,} documents ({percent}%), {phase}"
    else:
        percent = None
        text = f"{docs:,} documents, {phase}"
    if job.cancel_requested:
        text += "; cancelling"
    return {"docs": docs, "total": total if isinstance(total, int) else None, "percent": percent, "phase": phase,
            "text": text}


def export_row(job: ExportJob, base: str, emails: dict[str, str]) -> dict[str, Any]:
    """What a row (and the header of the export's page) shows."""
    data_file = job.data_file or {}
    records = (job.stats.get("docs") or {}).get("count") if job.state is ExportState.READY else None
    return {
        "id": job.id,
        "url": f"{base}/exports/{job.id}",
        "label": job.label,
        "description": job.description or "",
        "object": job.parameters.objects,
        "format": job.parameters.format.media_type,
        "formatName": format_name(job.parameters.format.media_type),
        "state": job.state.value,
        "shownState": shown_state(job),
        "active": not job.state.ended,
        "cancelRequested": job.cancel_requested,
        "progress": progress(job),
        "created": machine_moment(job.created),
        "createdText": moment(job.created),
        "createdShort": short_moment(job.created),
        "expires": machine_moment(job.expires_at),
        "expiresText": moment(job.expires_at) or "never",
        "expiresShort": short_moment(job.expires_at) or "never",
        "size": data_file.get("size"),
        "sizeText": byte_size(data_file.get("size")),
        "records": records,
        "recordsText": count(records),
        "creator": job.creator,
        "creatorText": emails.get(job.creator, job.creator),
    }


def account_emails(connection: Connection, org_id: str, account_ids: Iterable[str]) -> dict[str, str]:
    """The email of each account that still exists (an id stands for a deleted one)."""
    emails: dict[str, str] = {}
    for account_id in set(account_ids):
        account = find_account(connection, org_id, account_id)
        if account is not None:
            emails[account_id] = account["email"]
    return emails
