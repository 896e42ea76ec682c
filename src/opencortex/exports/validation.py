"""A ``POST /exports`` body, checked and parsed once into ``ExportParameters``.

A bad body is one ``validation_failed`` fault (``kValidationError``,
``cortex.invalidArgument.validation``) with one child fault per failing property, each naming
its path (``label``, ``paths[2]``, ``where``, ``afterScript``...), as the instance API answers a
bad write. Only a body that is not an object at all is a single fault (path ``body``).

The checks build what the worker will build, against what it will really read
(``exports.targets``: the object, a List's source object, a document array's elements, the
Logs): the read plan, the ``where`` condition, the principal's viewer, and the ``afterScript``
compiled by the sandbox's own compiler. So an export that is accepted can run.

It happens in two steps, so that the script is compiled outside any transaction:
``read_export_body`` (no database: shapes, lengths, the script) and ``validate_export_request``
(the org's objects, accounts and instances). A body sent as a form (``from_form``) holds only
text: ``"true"``/``"false"`` become booleans where the property is a Boolean, nothing else
changes, and what cannot be converted is refused as any other bad value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection

from opencortex import faults
from opencortex.acl.viewer import Viewer, as_principal
from opencortex.exports.after_script import SCRIPT_FAULTS
from opencortex.exports.data_entries import MAX_ENTRY_BYTES, MIN_ENTRY_BYTES
from opencortex.exports.deidentify.profiles import find_profile
from opencortex.exports.deidentify.rules import DROP, check_rules
from opencortex.exports.formats import DEFAULT_FORMAT, FORMATS, ExportFormat, find_format
from opencortex.exports.formats.csv_writer import CsvOptions
from opencortex.exports.formats.format import FormatOptions
from opencortex.exports.formats.odm import OdmOptions
from opencortex.exports.incremental import check_since
from opencortex.exports.jobs import STORAGE_ID, ExportParameters, ExportPrefix, ExportWhere
from opencortex.exports.since import ExportSince, read_since
from opencortex.exports.targets import (
    LOGS_OBJECT,
    LOGS_PLURAL,
    ExportTarget,
    TargetKind,
    check_selection,
    is_logs,
    parse_target_where,
    resolve_target,
)
from opencortex.ids import ANONYMOUS
from opencortex.instances.selection import parse_selection
from opencortex.model.definitions import ObjectDefinition
from opencortex.model.objects import find_object
from opencortex.model.problems import Problems
from opencortex.query.limits import DEFAULT_LIMITS
from opencortex.query.parse import load_json_argument
from opencortex.scripting import ScriptLimits, compile_script
from opencortex.scripting import model as script_errors

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
    "exportFiles", "zipFiles", "afterScript", "storageId", "deidentify", "maxEntryBytes", "since",
}) | {export_format.options_key for export_format in FORMATS if export_format.options_key is not None}
_SELECTION = ("paths", "include", "expand")


@dataclass(frozen=True)
class ExportRequest:
    label: str
    description: str | None
    parameters: ExportParameters


@dataclass
class ExportBody:
    """A create body read without the database. A property that failed is left at its default;
    its fault is in ``problems``."""

    problems: Problems = field(default_factory=Problems)
    label: str = ""
    description: str | None = None
    objects: str | None = None
    format: ExportFormat | None = DEFAULT_FORMAT
    selection: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict.fromkeys(_SELECTION, ()))
    where: ExportWhere | None = None
    principal: str | None = None
    prefix: ExportPrefix | None = None
    prefix_given: bool = False
    after_script: str = ""
    export_files: bool = False
    zip_files: bool = False
    csv: CsvOptions | None = None
    odm: OdmOptions | None = None
    deidentify: str | None = None
    max_entry_bytes: int | None = None
    since: ExportSince | None = None


def read_export_body(body: Any, *, from_form: bool = False, script_limits: ScriptLimits | None = None,
                     schedule: bool = False) -> ExportBody:
    """Everything about a create body that needs no database (and compiles its ``afterScript``);
    ``schedule``: the body is an export schedule's template (``since`` may be ``previous``)."""
    if not isinstance(body, dict):
        raise faults.invalid_argument("A JSON object is expected.", path="body")
    read = ExportBody()
    problems = read.problems
    for key in body:
        if key not in _PROPERTIES:
            problems.add(faults.invalid_argument(f"{key!r} is not an export property.", path=key))
    read.label = _label(body.get("label"), problems)
    read.description = _description(body.get("description"), problems)
    read.objects = _objects(body.get("objects"), problems)
    read.format = _format(body.get("format", DEFAULT_FORMAT.media_type), problems)
    for name in _SELECTION:
        read.selection[name] = _string_list(body.get(name), name, problems)
    read.where = _where(body.get("where"), from_form, problems)
    read.principal = _principal(body.get("principal"), problems)
    read.prefix_given = body.get("prefix") is not None
    read.prefix = _prefix(body.get("prefix"), read.principal, "principal" in body, problems)
    read.after_script = _after_script(body.get("afterScript", ""), script_limits, problems)
    if body.get("storageId", STORAGE_ID) != STORAGE_ID:
        problems.add(faults.enum_value(f"Only the built-in storage ({STORAGE_ID}) is available.", path="storageId"))
    read.export_files = _boolean(body.get("exportFiles", False), "exportFiles", from_form, problems)
    read.zip_files = _boolean(body.get("zipFiles", False), "zipFiles", from_form, problems)
    if read.format is not None:
        options = _options(read.format, body, from_form, problems)
        read.csv = options if isinstance(options, CsvOptions) else None
        read.odm = options if isinstance(options, OdmOptions) else None
    read.deidentify = _deidentify(body.get("deidentify"), problems)
    read.max_entry_bytes = _max_entry_bytes(body.get("maxEntryBytes"), from_form, problems)
    read.since = read_since(body.get("since"), schedule, problems)
    return read


def validate_export_request(connection: Connection, dialect: str, org_id: str, body: Any, *,
                            creator: str | None = None, from_form: bool = False) -> ExportRequest:
    """Check a ``POST /exports`` body (or what ``read_export_body`` made of one) against the org;
    raises one fault naming every failing property."""
    read = body if isinstance(body, ExportBody) else read_export_body(body, from_form=from_form)
    problems = read.problems
    definition, logs = _export_object(connection, org_id, read.objects, problems)
    viewer = _viewer(connection, org_id, read.principal, problems)
    target = None
    if (definition is not None or logs) and viewer is not None:
        reader = viewer
        if logs and read.principal is None and creator is not None:
            # The Logs are read through the Logs API's ACL, as the creator when there is no principal.
            reader = _attempt(problems, "objects", as_principal, connection, org_id, creator) or viewer
        target = _attempt(problems, "prefix" if read.prefix_given else "objects", resolve_target, connection, dialect,
                          org_id, definition, read.prefix, reader)
    if target is not None:
        assert viewer is not None
        _check_target_selection(target, viewer, read, problems)
        if read.where is not None:
            _attempt(problems, "where", parse_target_where, target, connection, dialect, org_id, viewer,
                     read.where.document)
        if read.export_files and target.kind in (TargetKind.LOGS, TargetKind.DOCUMENT_ARRAY):
            what = "the Logs" if target.kind is TargetKind.LOGS else "a document-array prefix"
            problems.add(faults.invalid_argument(f"exportFiles cannot be used with {what}: it has no files to copy.",
                                                 path="exportFiles"))
        _check_format_request(target, read, problems)
    profile_id = _check_deidentify(connection, org_id, target, read, problems)
    problems.raise_if_any()
    assert read.format is not None
    if definition is None:
        assert logs
        plural, name = LOGS_PLURAL, LOGS_OBJECT
    else:
        plural, name = definition.plural_name, definition.name
    request = ExportRequest(
        label=read.label,
        description=read.description,
        parameters=ExportParameters(
            objects=plural,
            object=name,
            format=read.format,
            paths=read.selection["paths"],
            include=read.selection["include"],
            expand=read.selection["expand"],
            where=read.where,
            principal=read.principal if viewer is None else _principal_id(viewer, read.principal),
            prefix=read.prefix,
            export_files=read.export_files,
            zip_files=read.zip_files,
            after_script=read.after_script,
            csv=read.csv,
            odm=read.odm,
            deidentify=read.deidentify,
            deidentify_id=profile_id,
            max_entry_bytes=read.max_entry_bytes,
            since=read.since,
        ),
    )
    if read.since is not None:  # what since needs of the rest of the request (exports.incremental)
        assert target is not None and viewer is not None
        late = Problems()
        _attempt(late, "since", check_since, connection, org_id, request.parameters, target, viewer)
        late.raise_if_any()
    return request


# Each property


def _label(value: Any, problems: Problems) -> str:
    if value is None:
        problems.add(faults.required("label names the export.", path="label"))
        return ""
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= MAX_LABEL:
        problems.add(faults.invalid_string(f"label is 1-{MAX_LABEL} characters.", path="label"))
        return ""
    return value.strip()


def _description(value: Any, problems: Problems) -> str | None:
    if value is not None and (not isinstance(value, str) or len(value) > MAX_DESCRIPTION):
        problems.add(faults.invalid_string(f"description is at most {MAX_DESCRIPTION} characters.",
                                           path="description"))
        return None
    return value


def _objects(value: Any, problems: Problems) -> str | None:
    if not isinstance(value, str) or not value:
        problems.add(faults.required("objects names the object to export.", path="objects"))
        return None
    if value in FORBIDDEN_OBJECTS:
        problems.add(faults.invalid_argument(f"{value} is not available for export.", path="objects"))
        return None
    return value


def _format(media_type: Any, problems: Problems) -> ExportFormat | None:
    export_format = find_format(media_type)
    if export_format is None:
        known = ", ".join(known.media_type for known in FORMATS)
        problems.add(faults.enum_value(f"format is one of {known}.", path="format"))
    return export_format


def _string_list(value: Any, name: str, problems: Problems) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        problems.add(faults.invalid_value(f"{name} is an array of property paths.", path=name))
        return ()
    if len(value) > MAX_LIST:
        problems.add(faults.max_allowed(f"{name} holds at most {MAX_LIST} property paths.", path=name))
        return ()
    try:
        parse_selection(value if name == "paths" else None, value if name == "include" else None,
                        value if name == "expand" else None)
    except faults.Fault as fault:
        problems.add(_at(fault, fault.path or name))
        return ()
    return tuple(dict.fromkeys(value))


def _where(value: Any, from_form: bool, problems: Problems) -> ExportWhere | None:
    """Decoded here; checked against what the export reads once that is known."""
    if value is None:
        return None
    if isinstance(value, dict) and not from_form:
        value = orjson.dumps(value).decode()
    if not isinstance(value, str) or len(value) > MAX_WHERE:
        problems.add(faults.invalid_argument(f"where is a JSON string of at most {MAX_WHERE} characters.",
                                             path="where"))
        return None
    try:
        document = load_json_argument(value, "where", DEFAULT_LIMITS)
    except faults.Fault as fault:
        problems.add(_at(fault, "where"))
        return None
    if document is not None and not isinstance(document, dict):
        problems.add(faults.query_invalid("where must be a JSON object.", path="where"))
        return None
    return ExportWhere(value, document)


def _principal(value: Any, problems: Problems) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        problems.add(faults.invalid_argument("principal is an account _id or email.", path="principal"))
        return None
    return value


def _prefix(value: Any, principal: str | None, principal_given: bool, problems: Problems) -> ExportPrefix | None:
    if value is None:
        return None
    prefix = ExportPrefix.parse(value)
    if prefix is None:
        problems.add(faults.invalid_argument("An _id and property are required (<_id>.<property>).", path="prefix"))
        return None
    if principal is None and not principal_given:
        problems.add(faults.invalid_argument("prefix is only used together with principal.", path="prefix"))
        return None
    return prefix


def _after_script(value: Any, limits: ScriptLimits | None, problems: Problems) -> str:
    """Trimmed, at most ``MAX_AFTER_SCRIPT`` bytes, and compiled by the sandbox (without running)."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        problems.add(faults.invalid_argument("afterScript is a string.", path="afterScript"))
        return ""
    if len(value.encode()) > MAX_AFTER_SCRIPT:
        problems.add(faults.max_script_length(f"afterScript is limited to {MAX_AFTER_SCRIPT} bytes.",
                                              path="afterScript"))
        return ""
    source = value.strip()
    if not source:
        return ""
    compiled = compile_script(source, limits=limits or ScriptLimits())
    error = compiled.error
    if error is None:
        return source
    if error.get("name") == script_errors.CRASHED:
        # The sandbox itself failed: not the script's fault, and nothing is known about it.
        raise faults.script_crashed(str(error.get("reason")), path="afterScript")
    kind = SCRIPT_FAULTS.get(str(error.get("name")), faults.script_compile)
    problems.add(kind(str(error.get("reason") or error.get("message")), path="afterScript"))
    return ""


def _boolean(value: Any, name: str, from_form: bool, problems: Problems) -> bool:
    if from_form and value in ("true", "false"):
        return bool(value == "true")
    if not isinstance(value, bool):
        problems.add(faults.invalid_value(f"{name} is true or false.", path=name))
        return False
    return value


def _options(export_format: ExportFormat, body: dict[str, Any], from_form: bool, problems: Problems
             ) -> FormatOptions | None:
    """The format's own options; another format's options are refused (by that format)."""
    chosen = None
    for owner in FORMATS:
        if owner.options_key is None or owner.parse_options is None:
            continue
        value = body.get(owner.options_key)
        if from_form and isinstance(value, dict):
            value = {key: (item == "true" if key in owner.option_flags and item in ("true", "false") else item)
                     for key, item in value.items()}
        try:
            options = owner.parse_options(value, owner is export_format)
        except faults.Fault as fault:
            problems.add(fault)
            continue
        if owner is export_format:
            chosen = options
    return chosen


def _deidentify(value: Any, problems: Problems) -> str | None:
    """The profile's name; checked against the org's profiles once the target is known."""
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        problems.add(faults.invalid_argument("deidentify names a de-identification profile.", path="deidentify"))
        return None
    return value


def _max_entry_bytes(value: Any, from_form: bool, problems: Problems) -> int | None:
    if value is None:
        return None
    if from_form and isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_ENTRY_BYTES <= value <= MAX_ENTRY_BYTES:
        problems.add(faults.invalid_value(f"maxEntryBytes is a whole number of bytes from {MIN_ENTRY_BYTES} (1 MiB) "
                                          f"to {MAX_ENTRY_BYTES} (4 GiB).", path="maxEntryBytes"))
        return None
    return value


# Against the org


def _export_object(connection: Connection, org_id: str, name: str | None,
                   problems: Problems) -> tuple[ObjectDefinition | None, bool]:
    """(the object's definition, whether it is the Logs)."""
    if name is None:
        return None, False
    if is_logs(name):
        return None, True
    definition = find_object(connection, org_id, name)
    if definition is None:
        problems.add(faults.object_not_found(f"No object named {name!r}.", path="objects"))
    return definition, False


def _viewer(connection: Connection, org_id: str, principal: str | None, problems: Problems) -> Viewer | None:
    """Whom the export reads as: the principal (faults for unknown or system principals), or the system."""
    if principal is None:
        return Viewer.system(org_id)
    return _attempt(problems, "principal", as_principal, connection, org_id, principal)


def _principal_id(viewer: Viewer, principal: str | None) -> str | None:
    if principal is None:
        return None
    return viewer.account_id if viewer.account_id != ANONYMOUS else ANONYMOUS


def _instances_definition(target: ExportTarget) -> ObjectDefinition | None:
    """The definition of the exported documents when they are an object's instances (its own, or
    a List's); None for the Logs and a document array's elements."""
    if target.kind in (TargetKind.OBJECT, TargetKind.LIST):
        return target.definition
    return None


def _check_format_request(target: ExportTarget, read: ExportBody, problems: Problems) -> None:
    """What the chosen format cannot write (ODM: anything but instances, expand...)."""
    export_format = read.format
    if export_format is None or export_format.check_request is None:
        return
    try:
        export_format.check_request(read.csv or read.odm, _instances_definition(target), read.selection["paths"],
                                    read.selection["include"], read.selection["expand"])
    except faults.Fault as fault:
        problems.add(fault)  # at the path the format named (format, expand, odm.subjectKey...)


def _check_deidentify(connection: Connection, org_id: str, target: ExportTarget | None, read: ExportBody,
                      problems: Problems) -> str | None:
    """The profile exists, and its rules for the exported object fit it; returns the profile's ``_id``."""
    if read.deidentify is None:
        return None
    profile = find_profile(connection, org_id, read.deidentify)
    if profile is None:
        problems.add(faults.invalid_argument(f"No de-identification profile named {read.deidentify!r}.",
                                             path="deidentify"))
        return None
    if target is None:
        return profile.id
    definition = _instances_definition(target)
    if definition is None:
        problems.add(faults.invalid_argument("deidentify applies to an object's instances: not the Logs, nor the "
                                             "elements of a document array.", path="deidentify"))
        return profile.id
    rules = profile.settings.rules_for(definition.name)
    found = Problems()
    check_rules(rules, definition, found, positions={rule: index for index, rule in enumerate(profile.settings.rules)})
    for fault in found.faults:  # the profile's own path goes in the reason: the fault is the export's
        problems.add(faults.Fault(fault.kind, reason=f"Profile {profile.name!r}: {fault.reason} ({fault.path})",
                                  path="deidentify"))
    key = read.odm.subject_key if read.odm is not None else None
    if key is not None and any(rule.path == key and rule.action == DROP for rule in rules):
        problems.add(faults.invalid_argument(f"odm.subjectKey {key!r} is dropped by the de-identification profile "
                                             f"{profile.name!r}.", path="odm.subjectKey"))
    return profile.id


def _check_target_selection(target: ExportTarget, viewer: Viewer, read: ExportBody, problems: Problems) -> None:
    """Each entry of ``paths``/``include``/``expand`` alone (a child fault at ``paths[i]`` each), then
    all of them together as the worker will read them."""
    before = problems.total
    for name in _SELECTION:
        for index, value in enumerate(read.selection[name]):
            alone = {key: ((value,) if key == name else ()) for key in _SELECTION}
            _attempt(problems, f"{name}[{index}]", check_selection, target, viewer, alone["paths"],
                     alone["include"], alone["expand"])
    if problems.total == before:
        _attempt(problems, "paths", check_selection, target, viewer, *(read.selection[name] for name in _SELECTION))


def _attempt(problems: Problems, path: str, action: Any, *args: Any) -> Any:
    """``action(*args)``; a fault becomes a child at ``path`` (its own path, when it named something
    inside the property, such as an element or an instance id, is kept in its reason)."""
    try:
        return action(*args)
    except faults.Fault as fault:
        problems.add(fault if fault.kind is faults.validation_failed else _at(fault, path))
        return None


def _at(fault: faults.Fault, path: str) -> faults.Fault:
    """``fault`` at ``path``: its reason keeps what it said, and names its own path if it had another."""
    reason = fault.reason or fault.message
    if fault.path and fault.path != path and fault.path not in reason:
        reason = f"{reason} ({fault.path})"
    return faults.Fault(fault.kind, reason=reason, path=path, message=fault.message, resource=fault.resource)
