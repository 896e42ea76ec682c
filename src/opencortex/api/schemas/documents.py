"""JSON Schema of the documents the API answers with: exports, accounts, object definitions,
instances, facets, log records, the org, storage figures, the JWK set, the health check.

Nested properties are never required: ``paths[]`` can leave any of them out (``_id`` and
``object`` always stay). Documents whose keys this server fully controls (exports, accounts,
facets) refuse unknown keys, so a property leaking into a response breaks the schema.
"""

from __future__ import annotations

from opencortex.api.schemas.envelopes import ANY_JSON, DATE_TIME, NULLABLE_DATE_TIME, OBJECT_ID, Schema, ref
from opencortex.exports.formats import FORMATS
from opencortex.exports.jobs import ExportState

STRING: Schema = {"type": "string"}
COUNT: Schema = {"type": "integer", "minimum": 0}
NULLABLE_STRING: Schema = {"type": ["string", "null"]}


def _document(object_name: str | None, properties: Schema, *, closed: bool, description: str) -> Schema:
    return {
        "type": "object",
        "description": description,
        "required": ["_id", "object"],
        "properties": {"_id": OBJECT_ID, "object": {"const": object_name} if object_name else STRING, **properties},
        "additionalProperties": not closed,
    }


ACCOUNT_REFERENCE: Schema = {
    "type": "object",
    "description": "A reference to an account.",
    "properties": {"_id": OBJECT_ID, "object": {"const": "account"}, "path": STRING},
    "additionalProperties": False,
}

ACCOUNT = _document("account", {
    "email": STRING,
    "name": {"type": "object", "properties": {"first": STRING, "last": STRING}, "additionalProperties": False},
    "roles": {"type": "array", "items": OBJECT_ID},
    "inherited_roles": {"type": "array", "items": OBJECT_ID},
    "state": STRING,
    "locked": {"type": "boolean"},
    "created": DATE_TIME,
    "updated": NULLABLE_DATE_TIME,
    "stats": {"type": "object", "properties": {"lastLogin": {
        "type": "object", "properties": {"time": DATE_TIME}, "additionalProperties": False}},
        "additionalProperties": False},
    "access": COUNT,
    "path": {"type": "string", "description": "As an expanded reference (expand[]=creator): its path."},
}, closed=True, description="An account (never its password).")

FACET: Schema = {
    "type": "object",
    "description": "A file facet: `object: 'facet'` when it is the answer itself; inside a document it is a "
                   "property value, without `object`. `url` is a signed link on the server's public URL.",
    "properties": {
        "object": {"const": "facet"},
        "name": STRING,
        "filename": STRING,
        "mime": STRING,
        "state": {"type": "integer", "enum": [0, 1, 2, 3],
                  "description": "0 pending, 1 processing, 2 ready, 3 error."},
        "size": COUNT,
        "ETag": STRING,
        "sha256": STRING,
        "location": {"type": "integer"},
        "storageId": STRING,
        "creator": OBJECT_ID,
        "uploaded": DATE_TIME,
        "fault": ref("Fault"),
        "path": STRING,
        "url": {"type": "string", "format": "uri"},
        "originalPath": STRING,
        "facets": {"type": "array", "items": ref("Facet")},
        "uploads": {"type": "array", "items": ref("UploadTarget")},
    },
    "additionalProperties": False,
}

UPLOAD_TARGET: Schema = {
    "type": "object",
    "description": "Where to send a pending facet's bytes (docs/files.md).",
    "properties": {
        "name": STRING, "filename": STRING, "state": {"type": "integer"}, "mime": STRING,
        "maxFileSize": COUNT, "uploadKey": STRING, "uploadMethod": {"const": "POST"},
        "uploadUrl": {"type": "string", "format": "uri"}, "expires": DATE_TIME,
        "fields": {"type": "array", "items": ANY_JSON},
    },
    "additionalProperties": False,
}

_EXPORT_EVENT: Schema = {
    "type": "object",
    "properties": {"_id": OBJECT_ID, "name": STRING, "event": {"type": "object"}},
    "additionalProperties": False,
}
_STRING_LIST: Schema = {"type": "array", "items": STRING}
_FORMAT_OPTIONS: Schema = {
    export_format.options_key: {"type": "object", "description": f"Options of {export_format.media_type}."}
    for export_format in FORMATS if export_format.options_key is not None
}

EXPORT = _document("export", {
    "label": STRING,
    "description": STRING,
    "state": {"enum": [state.value for state in ExportState]},
    "format": {"enum": [export_format.media_type for export_format in FORMATS]},
    "objects": STRING,
    "paths": _STRING_LIST,
    "include": _STRING_LIST,
    "expand": _STRING_LIST,
    "where": STRING,
    "principal": STRING,
    "prefix": STRING,
    "exportFiles": {"type": "boolean"},
    "zipFiles": {"type": "boolean"},
    "afterScript": STRING,
    "storageId": STRING,
    **_FORMAT_OPTIONS,
    "deidentify": STRING,
    "maxEntryBytes": COUNT,
    "since": STRING,
    "schedule": OBJECT_ID,
    "stats": {"type": "object", "properties": {
        "docs": {"type": "object", "properties": {"count": COUNT}, "additionalProperties": False},
        "files": {"type": "object", "properties": {"count": COUNT, "size": COUNT}, "additionalProperties": False},
    }, "additionalProperties": False},
    "progress": {"type": "object", "properties": {
        "phase": STRING, "docs": COUNT, "total": {"type": ["integer", "null"]}, "bytes": COUNT,
    }, "additionalProperties": False},
    "expiresAt": DATE_TIME,
    "created": DATE_TIME,
    "updated": DATE_TIME,
    "started": DATE_TIME,
    "completed": DATE_TIME,
    "creator": {"anyOf": [ACCOUNT_REFERENCE, ref("Account")], "description": "expand[]=creator: the account."},
    "owner": {"anyOf": [ACCOUNT_REFERENCE, ref("Account")]},
    "access": COUNT,
    "fault": ref("Fault"),
    "dataFile": ref("Facet"),
    "sha256": STRING,
    "files": {"type": "array", "items": ref("Facet")},
    "events": {"type": "array", "items": _EXPORT_EVENT, "description": "With include[]=events."},
}, closed=True, description="An export job (docs/export-jobs.md). Properties never set are left out.")

OBJECT_DEFINITION = _document("object", {
    "name": STRING,
    "label": STRING,
    "pluralName": STRING,
    "description": STRING,
    "properties": {"type": "array", "items": {"type": "object"}},
    "objectTypes": {"type": "array", "items": {"type": "object"}},
    "created": DATE_TIME,
    "updated": DATE_TIME,
}, closed=False, description="An object definition, with its settings (ACLs, options).")

INSTANCE = _document(None, {
    "created": DATE_TIME,
    "updated": NULLABLE_DATE_TIME,
    "owner": ANY_JSON,
    "creator": ANY_JSON,
    "access": COUNT,
}, closed=False, description="An instance of an object; its properties are those of the object's definition.")

LIST_ITEM: Schema = {
    "type": "object",
    "description": "An instance, or (after a pipeline's $group, $project or $count) a record of named fields.",
}

LOG_RECORD = _document("log", {
    "org": OBJECT_ID,
    "req": NULLABLE_STRING,
    "pid": {"anyOf": [OBJECT_ID, {"type": "null"}]},
    "oid": {"anyOf": [OBJECT_ID, {"type": "null"}]},
    "beg": NULLABLE_DATE_TIME,
    "end": NULLABLE_DATE_TIME,
    "src": {"type": ["integer", "null"]},
    "src_id": OBJECT_ID,
    "lvl": {"type": ["integer", "null"]},
    "dat": ANY_JSON,
    "err": ANY_JSON,
    "trc": ANY_JSON,
    "sts": {"type": ["integer", "null"]},
    "exp": NULLABLE_DATE_TIME,
    "created": DATE_TIME,
}, closed=True, description="A Logs record (docs/logs.md).")

ORG: Schema = _document("org", {"code": STRING, "name": STRING, "state": STRING, "created": DATE_TIME},
                        closed=True, description="The org's public properties.")

STORAGE: Schema = {
    "type": "object",
    "required": ["object", "used", "limit", "available", "files", "byKind"],
    "properties": {
        "object": {"const": "storage"}, "used": COUNT, "limit": COUNT, "available": COUNT, "files": COUNT,
        "byKind": {"type": "object", "additionalProperties": COUNT},
    },
    "additionalProperties": False,
}

ACCOUNT_STATUS: Schema = {
    "type": "object",
    "required": ["loggedin", "account"],
    "properties": {
        "loggedin": {"type": "boolean"},
        "account": {"anyOf": [ref("Account"), OBJECT_ID, {"type": "null"}],
                    "description": "The account (expand=true, the default), its _id (expand=false), or null."},
    },
    "additionalProperties": False,
}

JWK_SET: Schema = {
    "type": "object",
    "required": ["keys"],
    "properties": {"keys": {"type": "array", "items": {
        "type": "object", "required": ["kty"], "properties": {"kty": {"const": "RSA"}, "kid": STRING}}}},
    "additionalProperties": False,
}

HEALTH: Schema = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"enum": ["ok", "unavailable"]}},
    "additionalProperties": False,
}

COMPONENTS: dict[str, Schema] = {
    "Account": ACCOUNT,
    "AccountReference": ACCOUNT_REFERENCE,
    "AccountStatus": ACCOUNT_STATUS,
    "Export": EXPORT,
    "Facet": FACET,
    "UploadTarget": UPLOAD_TARGET,
    "ObjectDefinition": OBJECT_DEFINITION,
    "Instance": INSTANCE,
    "LogRecord": LOG_RECORD,
    "Org": ORG,
    "Storage": STORAGE,
    "JwkSet": JWK_SET,
    "Health": HEALTH,
}
