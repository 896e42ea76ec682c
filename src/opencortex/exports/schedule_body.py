"""A ``POST /exportSchedules`` (or ``PUT``) body, checked: every failing property is a child fault
of one ``kValidationError``, as for an export; the template's own faults are the export's, each
path under ``template.`` (``template.where``, ``template.paths[1]``).

The template is read here without the database (``read_export_body``: its shapes, and its
``afterScript`` compiled), and checked against the org by ``exports.scheduling`` exactly as
``POST /exports`` checks a body, at creation and again at every tick.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from opencortex import faults
from opencortex.exports.validation import ExportBody, read_export_body
from opencortex.model.problems import Problems
from opencortex.scripting import ScriptLimits

DEFAULT_TIMEZONE = "UTC"
MAX_NAME = 100
MAX_CRON = 120
MAX_RETENTION = 1000
_PROPERTIES = ("name", "cron", "timezone", "template", "retention", "enabled")


@dataclass
class ScheduleBody:
    """What a body sets (a ``PUT`` sets only what it names), checked."""

    given: frozenset[str]
    name: str = ""
    cron: str = ""
    timezone: str = DEFAULT_TIMEZONE
    template: dict[str, Any] = field(default_factory=dict)
    read: ExportBody | None = None
    """The template, read (no database yet)."""
    retention: int | None = None
    enabled: bool = True


def read_schedule_body(body: Any, *, partial: bool, script_limits: ScriptLimits | None = None) -> ScheduleBody:
    """Check a create body (``partial``: an update, which names only what it changes)."""
    if not isinstance(body, dict):
        raise faults.invalid_argument("A JSON object is expected.", path="body")
    problems = Problems()
    for key in body:
        if key not in _PROPERTIES:
            problems.add(faults.invalid_argument(f"{key!r} is not an export schedule property.", path=key))
    read = ScheduleBody(given=frozenset(key for key in body if key in _PROPERTIES))
    if not partial:
        for key in ("name", "cron", "template"):
            if key not in body:
                problems.add(faults.required(f"{key} is required.", path=key))
    if "name" in body:
        read.name = _name(body["name"], problems)
    if "timezone" in body:
        read.timezone = _timezone(body["timezone"], problems)
    if "cron" in body:
        read.cron = _cron(body["cron"], problems)
    if "retention" in body:
        read.retention = _retention(body["retention"], problems)
    if "enabled" in body:
        if isinstance(body["enabled"], bool):
            read.enabled = body["enabled"]
        else:
            problems.add(faults.invalid_value("enabled is true or false.", path="enabled"))
    if "template" in body:
        read.template, read.read = _template(body["template"], script_limits, problems)
    problems.raise_if_any()
    return read


def next_tick(cron: str, timezone: str, after: datetime) -> datetime:
    """The first tick of ``cron`` in ``timezone`` after ``after`` (UTC), in UTC."""
    zone = ZoneInfo(timezone)
    start = after.astimezone(zone).replace(second=0, microsecond=0)
    moment: datetime = next(CronSim(cron, start))
    return moment.astimezone(ZoneInfo("UTC"))


def template_faults(fault: faults.Fault) -> faults.Fault:
    """An export's validation fault as a schedule's: each child's path under ``template``."""
    children = fault.faults if fault.kind is faults.validation_failed and fault.faults else [fault]
    moved = [_under_template(child) for child in children]
    return faults.validation_failed(faults=moved, omitted=fault.omitted, omitted_kind=fault.omitted_kind)


def _under_template(fault: faults.Fault) -> faults.Fault:
    path = "template" if fault.path in (None, "", "body") else f"template.{fault.path}"
    return faults.Fault(fault.kind, reason=fault.reason or fault.message, path=path, message=fault.message,
                        resource=fault.resource)


def _name(value: Any, problems: Problems) -> str:
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= MAX_NAME:
        problems.add(faults.invalid_string(f"name is 1-{MAX_NAME} characters.", path="name"))
        return ""
    return value.strip()


def _timezone(value: Any, problems: Problems) -> str:
    try:
        if not isinstance(value, str) or not value:
            raise ZoneInfoNotFoundError(str(value))
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        problems.add(faults.time_zone("timezone is an IANA time zone name, such as UTC or Europe/Paris.",
                                      path="timezone"))
        return DEFAULT_TIMEZONE
    return value


def _cron(value: Any, problems: Problems) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_CRON:
        problems.add(faults.invalid_argument(f"cron is a cron expression of at most {MAX_CRON} characters.",
                                             path="cron"))
        return ""
    expression = " ".join(value.split())
    try:
        iterator = CronSim(expression, datetime(2000, 1, 1))
        next(iterator)
    except CronSimError as error:
        problems.add(faults.invalid_argument(f"cron: {error} (minute hour day-of-month month day-of-week, "
                                             "as in crontab(5)).", path="cron"))
        return ""
    except StopIteration:
        problems.add(faults.invalid_argument("cron never matches a date.", path="cron"))
        return ""
    return expression


def _retention(value: Any, problems: Problems) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_RETENTION:
        problems.add(faults.invalid_value(f"retention is a number of exports from 1 to {MAX_RETENTION}, or null "
                                          "(keep every export until it expires).", path="retention"))
        return None
    return value


def _template(value: Any, limits: ScriptLimits | None, problems: Problems) -> tuple[dict[str, Any], ExportBody | None]:
    if not isinstance(value, dict):
        problems.add(faults.invalid_argument("template is the body of a POST /exports: a JSON object.",
                                             path="template"))
        return {}, None
    try:
        read = read_export_body(value, script_limits=limits, schedule=True)
    except faults.Fault as fault:
        problems.add(template_faults(fault))
        return value, None
    if read.problems:
        problems.add(template_faults(faults.validation_failed(faults=list(read.problems.faults))))
        return value, None
    return value, read
