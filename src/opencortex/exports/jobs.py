"""The export record: validating a create request, and showing an export as Cortex does.

Only the record exists: its ``state`` is the job's state. ``params`` holds what to export, as
validated at create time, so a worker never meets a request it cannot run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import Connection

from opencortex import faults
from opencortex.acl.viewer import Viewer, as_principal
from opencortex.clock import iso
from opencortex.exports.formats import CSV, JSON, NDJSON
from opencortex.ids import ANONYMOUS, is_object_id
from opencortex.instances.selection import parse_selection
from opencortex.instances.serialise import DocumentPlan
from opencortex.instances.service import Instances
from opencortex.model.definitions import ObjectDefinition
from opencortex.model.objects import find_object
from opencortex.query.parse import parse_where

FORMATS = (NDJSON, JSON, CSV)
FORBIDDEN_OBJECTS = frozenset({
    "account", "accounts", "org", "orgs", "object", "objects", "script", "scripts", "view", "views",
    "export", "exports", "deployment", "deployments",
})
MAX_WHERE = 1024
MAX_AFTER_SCRIPT = 50 * 1024
MAX_LIST = 100
DEFAULT_TTL_DAYS = 7
_PREFIX = re.compile(r"^([0-9a-f]{24})[./]([A-Za-z0-9_]+)$")

PENDING, RUNNING, READY, ERROR = "pending", "running", "ready", "error"


@dataclass(frozen=True)
class ExportRequest:
    label: str
    description: str | None
    params: dict[str, Any]


def validate_export_request(connection: Connection, dialect: str, org_id: str, body: Any) -> ExportRequest:
    """Check a ``POST /exports`` body; every fault names its path."""
    if not isinstance(body, dict):
        raise faults.invalid_argument("A JSON object is expected.", path="body")
    known = {"label", "description", "objects", "format", "paths", "include", "expand", "where", "principal",
             "prefix", "exportFiles", "zipFiles", "afterScript", "storageId", "csv"}
    for key in body:
        if key not in known:
            raise faults.invalid_argument(f"{key!r} is not an export property.", path=key)
    label = body.get("label")
    if not isinstance(label, str) or not 1 <= len(label.strip()) <= 100:
        raise faults.invalid_argument("label is 1-100 characters.", path="label")
    description = body.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > 255):
        raise faults.invalid_argument("description is at most 255 characters.", path="description")
    definition = _export_object(connection, org_id, body.get("objects"))
    media_type = body.get("format", NDJSON)
    if media_type not in FORMATS:
        raise faults.invalid_argument("format is one of " + ", ".join(FORMATS) + ".", path="format")
    lists = {name: _string_list(body.get(name), name) for name in ("paths", "include", "expand")}
    principal = _principal(connection, org_id, body.get("principal"))
    viewer = Viewer.system(org_id) if principal is None else as_principal(connection, org_id, principal)
    # Build the same plan the worker will use, so bad paths fail now with the read API's faults.
    selection = parse_selection(lists["paths"] or None, lists["include"], lists["expand"])
    DocumentPlan.build(definition, viewer, selection)
    where = body.get("where")
    if where is not None:
        if isinstance(where, dict):
            where = orjson.dumps(where).decode()
        if not isinstance(where, str) or len(where) > MAX_WHERE:
            raise faults.invalid_argument(f"where is a JSON string of at most {MAX_WHERE} characters.", path="where")
        parse_where(where, Instances(connection, dialect, org_id, definition, viewer).query_schema())
    prefix = _prefix(connection, dialect, org_id, definition, viewer, body.get("prefix"), principal)
    after_script = body.get("afterScript", "") or ""
    if not isinstance(after_script, str):
        raise faults.invalid_argument("afterScript is a string.", path="afterScript")
    if len(after_script.encode()) > MAX_AFTER_SCRIPT:
        raise faults.max_script_length(f"afterScript is limited to {MAX_AFTER_SCRIPT} bytes.", path="afterScript")
    storage = body.get("storageId", "medable")
    if storage != "medable":
        raise faults.invalid_argument("Only the built-in storage (medable) is available.", path="storageId")
    flags = {name: _boolean(body.get(name, False), name) for name in ("exportFiles", "zipFiles")}
    return ExportRequest(
        label=label.strip(),
        description=description,
        params={
            "objects": definition.plural_name,
            "object": definition.name,
            "format": media_type,
            **lists,
            "where": where,
            "principal": principal,
            "prefix": prefix,
            **flags,
            "afterScript": after_script.strip(),
            "storageId": "medable",
            "csv": _csv_options(body.get("csv"), media_type),
        },
    )


def export_json(row: dict[str, Any], *, include_events: bool = False) -> dict[str, Any]:
    """The export as the API shows it: Cortex's properties plus ``progress`` and ``sha256``."""
    params = row["params"]
    document: dict[str, Any] = {
        "_id": row["id"],
        "object": "export",
        "label": row["label"],
        "description": row["description"],
        "state": row["state"],
        "format": params["format"],
        "objects": params["objects"],
        "paths": params["paths"],
        "include": params["include"],
        "expand": params["expand"],
        "where": params["where"],
        "principal": params["principal"],
        "prefix": params["prefix"],
        "exportFiles": params["exportFiles"],
        "zipFiles": params["zipFiles"],
        "afterScript": params["afterScript"],
        "storageId": params["storageId"],
        "csv": params["csv"],
        "stats": row["stats"],
        "progress": row["progress"],
        "expiresAt": iso(row["expires_at"]),
        "created": iso(row["created"]),
        "creator": {"_id": row["creator"], "object": "account"},
        "owner": {"_id": row["owner"], "object": "account"},
        "updated": iso(row["updated"]),
        "access": 7,
    }
    for key, column in (("started", "started"), ("completed", "completed")):
        if row[column] is not None:
            document[key] = iso(row[column])
    if row["fault"] is not None:
        document["fault"] = row["fault"]
    if row["data_file"] is not None:
        document["dataFile"] = row["data_file"]
    if row["sha256"]:
        document["sha256"] = row["sha256"]
    if row["files"]:
        document["files"] = [{key: value for key, value in facet.items() if key != "key"} for facet in row["files"]]
    if include_events:
        document["events"] = row["events"]
    return document


def expiry_after(days: int) -> timedelta | None:
    return timedelta(days=days) if days > 0 else None


def _export_object(connection: Connection, org_id: str, name: Any) -> ObjectDefinition:
    if not isinstance(name, str) or not name:
        raise faults.required("objects names the object to export.", path="objects")
    if name in FORBIDDEN_OBJECTS:
        raise faults.invalid_argument(f"{name} is not available for export.", path="objects")
    definition = find_object(connection, org_id, name)
    if definition is None:
        raise faults.object_not_found(f"No object named {name!r}.", path="objects")
    return definition


def _string_list(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or len(value) > MAX_LIST or not all(isinstance(v, str) for v in value):
        raise faults.invalid_argument(f"{name} is an array of at most {MAX_LIST} property paths.", path=name)
    return list(dict.fromkeys(value))


def _boolean(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise faults.invalid_argument(f"{name} is true or false.", path=name)
    return value


def _principal(connection: Connection, org_id: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise faults.invalid_argument("principal is an account _id or email.", path="principal")
    viewer = as_principal(connection, org_id, value)  # faults for unknown or system principals
    return viewer.account_id if viewer.account_id != ANONYMOUS else ANONYMOUS


def _prefix(connection: Connection, dialect: str, org_id: str, definition: ObjectDefinition, viewer: Viewer,
            value: Any, principal: str | None) -> str | None:
    if value is None:
        return None
    if principal is None:
        raise faults.invalid_argument("prefix is only used together with principal.", path="prefix")
    match = _PREFIX.match(value) if isinstance(value, str) else None
    if match is None:
        raise faults.invalid_argument("An _id and property are required (<_id>.<listProperty>).", path="prefix")
    instance_id, name = match.groups()
    prop = definition.find_property(name)
    if prop is None or prop.type_name != "List":
        raise faults.invalid_argument(f"{name} is not a list property of {definition.name}.", path="prefix")
    Instances(connection, dialect, org_id, definition, viewer).get_row(instance_id)
    assert is_object_id(instance_id)
    return f"{instance_id}.{name}"


def _csv_options(value: Any, media_type: str) -> dict[str, bool]:
    options = {"bom": False, "formulaGuard": False, "dictionary": False}
    if value is None:
        return options
    if not isinstance(value, dict) or any(key not in options for key in value):
        raise faults.invalid_argument("csv takes {bom, formulaGuard, dictionary} booleans.", path="csv")
    if media_type != CSV:
        raise faults.invalid_argument("csv options need format text/csv.", path="csv")
    for key, flag in value.items():
        options[key] = _boolean(flag, f"csv.{key}")
    return options
