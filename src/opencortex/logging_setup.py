"""Logs of ``serve`` and ``worker``: one line per record on standard error, as text for people
(the default) or as JSON lines (``OPENCORTEX_LOG_FORMAT=json``) for a log pipeline, at
``OPENCORTEX_LOG_LEVEL`` (``INFO`` by default).

Events are records with fields: ``log_event(log, "export.finished", export=..., docs=12)``. A
JSON line holds ``time``, ``level``, ``logger`` and the event's fields as keys
(``{"time": ..., "level": "INFO", "logger": "opencortex.exports", "event": "export.finished",
"export": "...", "docs": 12}``); a text line shows ``event key=value ...``. Any other record is
``message`` (and ``exception``, its traceback, when it has one). What callers put in fields is
all there is: they never pass labels, descriptions, queries, scripts, document values or secrets.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

from opencortex.clock import iso
from opencortex.settings import Settings

FIELDS = "opencortex_fields"
"""The attribute of a ``LogRecord`` that holds an event's fields (``log_event``)."""
_HANDLER_NAME = "opencortex"
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    """One record for ``event``; fields that are None are left out."""
    if not logger.isEnabledFor(level):
        return
    values = {"event": event, **{key: value for key, value in fields.items() if value is not None}}
    text = " ".join(f"{key}={value}" for key, value in values.items() if key != "event")
    logger.log(level, "%s %s", event, text, extra={FIELDS: values})


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per record, on one line (a traceback is a string inside it)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": iso(datetime.fromtimestamp(record.created, UTC)),
            "level": record.levelname,
            "logger": record.name,
        }
        fields = getattr(record, FIELDS, None)
        if isinstance(fields, Mapping):
            line.update(fields)
        else:
            line["message"] = record.getMessage()
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return orjson.dumps(line, default=str).decode()


def formatter_for(log_format: str) -> logging.Formatter:
    return JsonLinesFormatter() if log_format == "json" else logging.Formatter(_TEXT_FORMAT)


def configure_logging(settings: Settings, stream: TextIO | None = None) -> logging.Handler:
    """Send every logger's records (those that propagate to the root) to ``stream`` (standard
    error) in ``settings.log_format``, at ``settings.log_level``. Calling it again replaces the
    handler it added before, so a process never writes a line twice."""
    root = logging.getLogger()
    for handler in [handler for handler in root.handlers if handler.get_name() == _HANDLER_NAME]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter_for(settings.log_format))
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    return handler


def uvicorn_log_config(config: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """uvicorn's logging configuration (``config``) with its formatters replaced by the JSON one in
    JSON mode, so that every line ``serve`` writes, the access log's included, is JSON."""
    changed = {**config}
    if settings.log_format == "json":
        changed["formatters"] = {name: {"()": f"{__name__}.JsonLinesFormatter"} for name in config["formatters"]}
    return changed
