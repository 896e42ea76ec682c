"""JSON Schema of request bodies. The routes parse their bodies themselves (every unknown key is
a fault naming it); these describe what they accept, for clients and for schema-driven tests.

An empty body counts as ``{}`` everywhere (the official client sends ``Content-Type:
application/json`` on bodiless calls).
"""

from __future__ import annotations

from opencortex.api.schemas.envelopes import ANY_JSON, Schema
from opencortex.exports.formats import DEFAULT_FORMAT, FORMATS
from opencortex.exports.validation import MAX_AFTER_SCRIPT, MAX_DESCRIPTION, MAX_LABEL, MAX_LIST, MAX_WHERE
from opencortex.instances.patch import MAX_OPERATIONS
from opencortex.model.definitions import KNOWN_KEYS
from opencortex.model.properties.registry import PROPERTY_CLASSES

STRING: Schema = {"type": "string"}
_PATHS: Schema = {"type": "array", "items": STRING, "maxItems": MAX_LIST}
_FORM_BOOLEAN: Schema = {"type": "boolean", "description": "In a form: the text true or false."}

EXPORT_CREATE: Schema = {
    "type": "object",
    "description": "A new export (docs/export-jobs.md, Create). Unknown keys are refused; every failing "
                   "property is one child fault of one kValidationError.",
    "required": ["label", "objects"],
    "properties": {
        "label": {"type": "string", "minLength": 1, "maxLength": MAX_LABEL},
        "description": {"type": "string", "maxLength": MAX_DESCRIPTION},
        "objects": {"type": "string", "description": "An object's name or plural, or logs."},
        "format": {"enum": [export_format.media_type for export_format in FORMATS],
                   "default": DEFAULT_FORMAT.media_type},
        "paths": _PATHS,
        "include": _PATHS,
        "expand": _PATHS,
        "where": {"type": "string", "maxLength": MAX_WHERE, "description": "A where document, as JSON text."},
        "principal": {"type": "string", "description": "An account _id or email: whose access the export has."},
        "prefix": {"type": "string", "description": "<_id>.<List or document array property>; with principal."},
        "afterScript": {"type": "string", "maxLength": MAX_AFTER_SCRIPT},
        "exportFiles": _FORM_BOOLEAN,
        "zipFiles": _FORM_BOOLEAN,
        "storageId": {"const": "medable"},
        "deidentify": {"type": "string", "description": "Ours: the name of a de-identification profile every "
                                                        "document goes through."},
        "maxEntryBytes": {"type": "integer", "minimum": 1,
                          "description": "Ours: cut the data entry into parts of at most this many bytes."},
        "since": {"type": "string", "description": "Ours: an earlier export's _id, or an ISO 8601 date "
                                                   "(docs/exports.md); previous in a schedule's template."},
        **{export_format.options_key: {"type": "object", "description": f"Options of {export_format.media_type}."}
           for export_format in FORMATS if export_format.options_key is not None},
    },
    "additionalProperties": False,
}

EXPORT_UPDATE: Schema = {
    "type": "object",
    "description": "label and/or description (null removes the description); nothing else is writable.",
    "properties": {
        "label": {"type": "string", "minLength": 1, "maxLength": MAX_LABEL},
        "description": {"type": ["string", "null"], "maxLength": MAX_DESCRIPTION},
    },
    "additionalProperties": False,
}

PATCH_OPERATIONS: Schema = {
    "type": "array",
    "description": "Cortex's operations, applied in order, all or nothing.",
    "maxItems": MAX_OPERATIONS,
    "items": {
        "type": "object",
        "required": ["op"],
        "properties": {
            "op": {"enum": ["set", "unset", "push", "pull", "remove", "$set", "$unset", "$push", "$pull", "$remove"]},
            "path": {"type": "string", "description": "A dotted property path (a document-array element by _id)."},
            "value": ANY_JSON,
        },
        "additionalProperties": False,
    },
}

LOGIN: Schema = {
    "type": "object",
    "required": ["password"],
    "properties": {
        "email": STRING,
        "username": {"type": "string", "description": "Accepted in place of email."},
        "password": STRING,
    },
}

ACCOUNT_CREATE: Schema = {
    "type": "object",
    "required": ["email", "password"],
    "properties": {
        "email": STRING,
        "password": {"type": "string", "minLength": 8, "maxLength": 256},
        "name": {"type": "object", "properties": {"first": STRING, "last": STRING}},
        "roles": {"type": "array", "items": {"type": "string", "description": "A role _id or name."}},
    },
}

PROPERTY_DEFINITION: Schema = {
    "type": "object",
    "required": ["name", "type"],
    "properties": {
        "name": STRING,
        "label": STRING,
        "type": {"enum": sorted(PROPERTY_CLASSES)},
        "array": {"type": "boolean"},
        "indexed": {"type": "boolean"},
    },
    "description": "A property definition; each type has further options (cortex-api.md, 5.2-5.3).",
}

OBJECT_DEFINITION_BODY: Schema = {
    "type": "object",
    "description": "An object definition (POST) or the changes to one (PUT). Unknown keys are refused.",
    "properties": {
        **{key: ANY_JSON for key in sorted(KNOWN_KEYS)},
        "name": STRING,
        "label": STRING,
        "pluralName": STRING,
        "properties": {"type": "array", "items": PROPERTY_DEFINITION},
        "objectTypes": {"type": "array", "items": {"type": "object"}},
    },
    "additionalProperties": False,
}

INSTANCE_BODY: Schema = {
    "type": "object",
    "description": "Property values, as the object's definition says. A File property takes a filename to "
                   "start an upload.",
}

FILE_UPLOAD_MULTIPART: Schema = {
    "type": "object",
    "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary"}},
}
RAW_FILE: Schema = {"type": "string", "format": "binary",
                    "description": "The file's bytes; named by ?filename= or a Content-Disposition header."}

COMPONENTS: dict[str, Schema] = {
    "ExportCreate": EXPORT_CREATE,
    "ExportUpdate": EXPORT_UPDATE,
    "PatchOperations": PATCH_OPERATIONS,
    "Login": LOGIN,
    "AccountCreate": ACCOUNT_CREATE,
    "PropertyDefinition": PROPERTY_DEFINITION,
    "ObjectDefinitionBody": OBJECT_DEFINITION_BODY,
    "InstanceBody": INSTANCE_BODY,
}
