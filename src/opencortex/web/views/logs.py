"""A log record as a row of the console's Logs list (and of an export's page)."""

from __future__ import annotations

from typing import Any

from opencortex.logs.records import (
    API,
    AUDIT,
    DEBUG,
    DEPLOYMENT,
    ERROR,
    EXPORT,
    INFO,
    LOGGER,
    REQUEST,
    SCRIPT,
    TRACE,
    WARN,
)
from opencortex.web.views.formatting import compact_json, machine_moment, moment

LEVELS = {ERROR: "error", WARN: "warn", INFO: "info", DEBUG: "debug", TRACE: "trace"}
SOURCES = {LOGGER: "logger", API: "api", SCRIPT: "script", REQUEST: "request", AUDIT: "audit",
           DEPLOYMENT: "deployment", EXPORT: "export"}
MESSAGE_CHARACTERS = 500


def log_row(record: dict[str, Any], base: str) -> dict[str, Any]:
    dat, err = record.get("dat"), record.get("err")
    if isinstance(dat, dict) and isinstance(dat.get("message"), str):
        message = dat["message"]
        extra = {key: value for key, value in dat.items() if key != "message"}
        if extra:
            message += " " + compact_json(extra)
    else:
        message = compact_json(dat) if dat is not None else ""
    source_id = record.get("src_id")
    return {
        "id": record["_id"],
        "at": machine_moment(record.get("beg")),
        "atText": moment(record.get("beg")),
        "level": _named(LEVELS, record.get("lvl")),
        "source": _named(SOURCES, record.get("src")),
        "sourceId": source_id,
        "exportUrl": f"{base}/exports/{source_id}" if record.get("src") == EXPORT and source_id else None,
        "message": compact_json(message, MESSAGE_CHARACTERS),
        "error": _error_text(err) if isinstance(err, dict) else "",
        "trace": ", ".join(f"{frame.get('function') or '?'} (line {frame.get('line')})"
                           for frame in record.get("trc") or [] if isinstance(frame, dict)),
    }


def _error_text(err: dict[str, Any]) -> str:
    parts = [str(err.get("errCode") or err.get("code") or ""), str(err.get("reason") or err.get("message") or "")]
    return ": ".join(part for part in parts if part)


def _named(names: dict[int, str], code: object) -> str:
    return names.get(code, str(code)) if isinstance(code, int) else str(code)
