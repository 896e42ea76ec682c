"""The Logs object: records of script logger output and background-job errors (cortex-api.md 4.4).

- ``write_logs(connection, org_id, entries)`` stores ``LogEntry`` records in one batched insert;
- ``list_logs(connection, org_id, LogQuery(...))`` pages through an org's records (``GET /logs``);
- ``scan_logs``/``count_logs`` read them in batches, for an export of the ``logs`` object;
- ``purge_expired_logs(connection, now)`` deletes records past their ``exp`` (30 days);
- ``can_read_logs``/``require_log_reader``: the Logs API's ACL (Administrators and Developers).
"""

from opencortex.logs.access import can_read_logs, require_log_reader
from opencortex.logs.listing import DEFAULT_LIMIT, LOG_SCHEMA, MAX_LIMIT, LogQuery, count_logs, list_logs, scan_logs
from opencortex.logs.records import LOG_PROPERTIES, LOG_TTL, LogEntry, log_json, purge_expired_logs, write_logs

__all__ = [
    "DEFAULT_LIMIT",
    "LOG_PROPERTIES",
    "LOG_SCHEMA",
    "LOG_TTL",
    "MAX_LIMIT",
    "LogEntry",
    "LogQuery",
    "can_read_logs",
    "count_logs",
    "list_logs",
    "log_json",
    "purge_expired_logs",
    "require_log_reader",
    "scan_logs",
    "write_logs",
]
