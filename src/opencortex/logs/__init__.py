"""The Logs object: records of script logger output and background-job errors (cortex-api.md 4.4).

- ``write_logs(connection, org_id, entries)`` stores ``LogEntry`` records in one batched insert;
- ``list_logs(connection, org_id, LogQuery(...))`` pages through an org's records (``GET /logs``);
- ``purge_expired_logs(connection, now)`` deletes records past their ``exp`` (30 days).
"""

from opencortex.logs.listing import DEFAULT_LIMIT, LOG_SCHEMA, MAX_LIMIT, LogQuery, list_logs
from opencortex.logs.records import LOG_TTL, LogEntry, log_json, purge_expired_logs, write_logs

__all__ = [
    "DEFAULT_LIMIT",
    "LOG_SCHEMA",
    "LOG_TTL",
    "MAX_LIMIT",
    "LogEntry",
    "LogQuery",
    "list_logs",
    "log_json",
    "purge_expired_logs",
    "write_logs",
]
