"""What the Schedules page shows of an export schedule: when it runs, what it made, what its
template asks for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opencortex.exports.formats import DEFAULT_FORMAT
from opencortex.exports.jobs import ExportJob
from opencortex.exports.schedules import ExportSchedule
from opencortex.web.views.exports import format_name
from opencortex.web.views.formatting import compact_json, machine_moment, moment

_SUMMARY_WHERE = 80


def schedule_row(schedule: ExportSchedule, base: str, last: ExportJob | None) -> dict[str, Any]:
    """One schedule, as the page shows it (``last``: the export its last tick made, if it still exists)."""
    return {
        "id": schedule.id,
        "name": schedule.name,
        "url": f"{base}/schedules/{schedule.id}",
        "cron": schedule.cron,
        "timezone": schedule.timezone,
        "enabled": schedule.enabled,
        "nextRun": machine_moment(schedule.next_run),
        "nextRunText": moment(schedule.next_run) if schedule.enabled else "paused",
        "lastRun": machine_moment(schedule.last_run),
        "lastRunText": moment(schedule.last_run) or "never",
        "lastExport": None if last is None else {"url": f"{base}/exports/{last.id}", "label": last.label,
                                                 "state": last.state.value},
        "lastExportGone": schedule.last_export is not None and last is None,
        "lastFault": _fault_text(schedule.last_fault),
        "retentionText": "all, until they expire" if schedule.retention is None else f"the {schedule.retention} newest",
        "summary": template_summary(schedule.template),
    }


def template_summary(template: Mapping[str, Any]) -> list[str]:
    """The template in a few words: label, object, format, since, where."""
    media_type = template.get("format") or DEFAULT_FORMAT.media_type
    parts = [f"“{template.get('label', '')}”", str(template.get("objects", "?")), format_name(str(media_type))]
    since = template.get("since")
    if since == "previous":
        parts.append("changes since the previous export")
    elif since:
        parts.append(f"changes since {since}")
    if template.get("where"):
        parts.append("where " + compact_json(template["where"], _SUMMARY_WHERE))
    return parts


def _fault_text(fault: Mapping[str, Any] | None) -> str | None:
    if not fault:
        return None
    children = fault.get("faults") or [fault]
    return "; ".join(f"{child.get('path') or ''}: {child.get('reason') or child.get('message') or ''}".lstrip(": ")
                     for child in children)
