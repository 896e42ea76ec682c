"""A ``POST /exports`` body, checked and parsed once into ``ExportParameters``.

Every failure is a fault naming its path. The checks build what the worker will build (the read
plan, the ``where`` condition, the principal's viewer), so an export that is accepted can run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection

from opencortex import faults
from opencortex.acl.viewer import Viewer, as_principal
from opencortex.exports.formats import DEFAULT_FORMAT, FORMATS, ExportFormat, find_format
from opencortex.exports.formats.csv_writer import CsvOptions
from opencortex.exports.jobs import STORAGE_ID, ExportParameters, ExportPrefix, ExportWhere
from opencortex.ids import ANONYMOUS
from opencortex.instances.selection import parse_selection
from opencortex.instances.serialise import DocumentPlan
from opencortex.instances.service import Instances
from opencortex.model.definitions import ObjectDefinition
from opencortex.model.objects import find_object
from opencortex.query.limits import DEFAULT_LIMITS
from opencortex.query.parse import load_json_argument, parse_where

FORBIDDEN_OBJECTS = frozenset({
    "account", "accounts", "org", "orgs", "object", "objects", "script", "scripts", "view", "views",
    "export", "exports", "deployment", "deployments",
})
MAX_LABEL = 100
MAX_DESCRIPTION = 255
MAX_WHERE = 1024
MAX_AFTER_SCRIPT = 50 * 1024
MAX_LIST = 100
_PROPERTIES = frozenset({
    "label", "description", "objects", "format", "paths", "include", "expand", "where", "principal", "prefix",
    "exportFiles", "zipFiles", "afterScript", "storageId",
}) | {export_format.options_key for export_format in FORMATS if export_format.options_key is not None}


@dataclass(frozen=True)
class ExportRequest:
    label: str
    description: str | None
    parameters: ExportParameters


def validate_export_request(connection: Connection, dialect: str, org_id: str, body: Any) -> ExportRequest:
    """Check a ``POST /exports`` body; every fault names its path."""
    if not isinstance(body, dict):
        raise faults.invalid_argument("A JSON object is expected.", path="body")
    for key in body:
        if key not in _PROPERTIES:
            raise faults.invalid_argument(f"{key!r} is not an export property.", path=key)
    label = body.get("label")
    if not isinstance(label, str) or not 1 <= len(label.strip()) <= MAX_LABEL:
        raise faults.invalid_argument(f"label is 1-{MAX_LABEL} characters.", path="label")
    description = body.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > MAX_DESCRIPTION):
        raise faults.invalid_argument(f"description is at most {MAX_DESCRIPTION} characters.", path="description")
    definition = _export_object(connection, org_id, body.get("objects"))
    export_format = _format(body.get("format", DEFAULT_FORMAT.media_type))
    paths, include, expand = (_string_list(body.get(name), name) for name in ("paths", "include", "expand"))
    principal = _principal(connection, org_id, body.get("principal"))
    viewer = Viewer.system(org_id) if principal is None else as_principal(connection, org_id, principal)
    # Build the same plan the worker will use, so bad paths fail now with the read API's faults.
    DocumentPlan.build(definition, viewer, parse_selection(paths or None, include, expand))
    instances = Instances(connection, dialect, org_id, definition, viewer)
    where = _where(instances, body.get("where"))
    prefix = _prefix(instances, body.get("prefix"), principal)
    after_script = body.get("afterScript", "") or ""
    if not isinstance(after_script, str):
        raise faults.invalid_argument("afterScript is a string.", path="afterScript")
    if len(after_script.encode()) > MAX_AFTER_SCRIPT:
        raise faults.max_script_length(f"afterScript is limited to {MAX_AFTER_SCRIPT} bytes.", path="afterScript")
    if body.get("storageId", STORAGE_ID) != STORAGE_ID:
        raise faults.invalid_argument(f"Only the built-in storage ({STORAGE_ID}) is available.", path="storageId")
    export_files, zip_files = (_boolean(body.get(name, False), name) for name in ("exportFiles", "zipFiles"))
    return ExportRequest(
        label=label.strip(),
        description=description,
        parameters=ExportParameters(
            objects=definition.plural_name,
            object=definition.name,
            format=export_format,
            paths=paths,
            include=include,
            expand=expand,
            where=where,
            principal=principal,
            prefix=prefix,
            export_files=export_files,
            zip_files=zip_files,
            after_script=after_script.strip(),
            csv=_options(export_format, body),
        ),
    )


def _export_object(connection: Connection, org_id: str, name: Any) -> ObjectDefinition:
    if not isinstance(name, str) or not name:
        raise faults.required("objects names the object to export.", path="objects")
    if name in FORBIDDEN_OBJECTS:
        raise faults.invalid_argument(f"{name} is not available for export.", path="objects")
    definition = find_object(connection, org_id, name)
    if definition is None:
        raise faults.object_not_found(f"No object named {name!r}.", path="objects")
    return definition


def _format(media_type: Any) -> ExportFormat:
    export_format = find_format(media_type)
    if export_format is None:
        known = ", ".join(known.media_type for known in FORMATS)
        raise faults.invalid_argument(f"format is one of {known}.", path="format")
    return export_format


def _options(export_format: ExportFormat, body: dict[str, Any]) -> CsvOptions | None:
    """The format's own options; another format's options are refused (by that format)."""
    chosen = None
    for owner in FORMATS:
        if owner.options_key is None or owner.parse_options is None:
            continue
        options = owner.parse_options(body.get(owner.options_key), owner is export_format)
        if owner is export_format:
            chosen = options
    return chosen


def _string_list(value: Any, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or len(value) > MAX_LIST or not all(isinstance(v, str) for v in value):
        raise faults.invalid_argument(f"{name} is an array of at most {MAX_LIST} property paths.", path=name)
    return tuple(dict.fromkeys(value))


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


def _where(instances: Instances, value: Any) -> ExportWhere | None:
    """Decoded and checked against the object's query schema, as the worker's read will be."""
    if value is None:
        return None
    if isinstance(value, dict):
        value = orjson.dumps(value).decode()
    if not isinstance(value, str) or len(value) > MAX_WHERE:
        raise faults.invalid_argument(f"where is a JSON string of at most {MAX_WHERE} characters.", path="where")
    document = load_json_argument(value, "where", DEFAULT_LIMITS)
    parse_where(document, instances.query_schema())  # a fault names what is wrong
    return ExportWhere(value, document)


def _prefix(instances: Instances, value: Any, principal: str | None) -> ExportPrefix | None:
    if value is None:
        return None
    if principal is None:
        raise faults.invalid_argument("prefix is only used together with principal.", path="prefix")
    prefix = ExportPrefix.parse(value)
    if prefix is None:
        raise faults.invalid_argument("An _id and property are required (<_id>.<listProperty>).", path="prefix")
    definition = instances.definition
    prop = definition.find_property(prefix.list_property)
    if prop is None or prop.type_name != "List":
        raise faults.invalid_argument(f"{prefix.list_property} is not a list property of {definition.name}.",
                                      path="prefix")
    instances.get_row(prefix.instance_id)
    return prefix
