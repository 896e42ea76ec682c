"""JSON Schema of de-identification profiles (``/deidentificationProfiles``, docs/deidentification.md):
the body of ``POST``/``PUT`` and the profile as answered (never its key)."""

from __future__ import annotations

from opencortex.api.schemas.envelopes import DATE_TIME, OBJECT_ID, Schema, ref
from opencortex.exports.deidentify.profiles import OBJECT
from opencortex.exports.deidentify.rules import (
    ACTIONS,
    HASH_LENGTHS,
    MAX_DESCRIPTION,
    MAX_KEEP,
    MAX_NAME,
    MAX_PATH,
    MAX_RULES,
    MAX_SHIFT_DAYS,
)

STRING: Schema = {"type": "string"}
_RULE: Schema = {
    "type": "object",
    "required": ["path", "action"],
    "properties": {
        "path": {"type": "string", "maxLength": MAX_PATH, "description": "A dotted property path: c_name.c_last."},
        "action": {"enum": list(ACTIONS)},
        "keep": {"type": "integer", "minimum": 1, "maximum": MAX_KEEP, "description": "truncate: what stays."},
        "object": {"type": "string", "description": "Only for this object (the path must exist there)."},
    },
    "additionalProperties": False,
}
_DATE_SHIFT: Schema = {
    "type": "object",
    "properties": {"minDays": {"type": "integer", "minimum": -MAX_SHIFT_DAYS, "maximum": MAX_SHIFT_DAYS},
                   "maxDays": {"type": "integer", "minimum": -MAX_SHIFT_DAYS, "maximum": MAX_SHIFT_DAYS}},
    "additionalProperties": False,
}
_SETTINGS: Schema = {
    "description": {"type": "string", "maxLength": MAX_DESCRIPTION},
    "rules": {"type": "array", "items": _RULE, "maxItems": MAX_RULES},
    "dateShift": _DATE_SHIFT,
    "hashLength": {"type": "integer", "minimum": HASH_LENGTHS[0], "maximum": HASH_LENGTHS[1]},
}

PROFILE_BODY: Schema = {
    "type": "object",
    "description": "A profile (POST, with its name) or everything but its name (PUT).",
    "properties": {"name": {"type": "string", "maxLength": MAX_NAME}, **_SETTINGS},
    "additionalProperties": False,
}

PROFILE: Schema = {
    "type": "object",
    "required": ["_id", "object"],
    "properties": {
        "_id": OBJECT_ID, "object": {"const": OBJECT}, "name": STRING, "version": {"type": "integer", "minimum": 1},
        **_SETTINGS, "created": DATE_TIME, "updated": DATE_TIME, "creator": ref("AccountReference"),
    },
    "additionalProperties": False,
}

COMPONENTS: dict[str, Schema] = {"DeidentificationProfile": PROFILE, "DeidentificationProfileBody": PROFILE_BODY}
