"""JSON Schema of the Cortex envelopes and of the values every document uses.

Lists are ``{object: 'list', data, hasMore}`` (``total`` with ``total=true``), single values
``{object: 'result', data}``, errors the fault shape (docs/api.md, "Faults"). They are written
once here and referenced from ``#/components/schemas``.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


OBJECT_ID: Schema = {"type": "string", "pattern": "^[0-9a-f]{24}$", "description": "A 24-hex-digit ObjectId."}
DATE_TIME: Schema = {"type": "string", "format": "date-time",
                     "description": "UTC, ISO 8601 with milliseconds and Z: 2026-01-02T03:04:05.006Z."}
NULLABLE_DATE_TIME: Schema = {"anyOf": [DATE_TIME, {"type": "null"}]}
ANY_JSON: Schema = {"description": "Any JSON value."}

FAULT: Schema = {
    "type": "object",
    "description": "A Cortex fault. The HTTP status is the fault's own `status` (two are 2xx: kNewLocation "
                   "200 and kMediaNotReady 202, so a client checks `object`).",
    "required": ["object", "name", "code", "errCode", "status", "message"],
    "properties": {
        "object": {"const": "fault"},
        "name": {"type": "string", "description": "The category: error, validation, db, location, fault."},
        "code": {"type": "string", "description": "The legacy code, kValidationError..."},
        "errCode": {"type": "string", "description": "<namespace>.<category>.<detail>: cortex.notFound.instance"},
        "status": {"type": "integer", "minimum": 100, "maximum": 599},
        "message": {"type": "string"},
        "reason": {"type": "string", "description": "What exactly is wrong, and what was expected."},
        "path": {"type": "string", "description": "Where: a property path, a query argument, a header."},
        "resource": {"type": "string"},
        "index": {"type": "integer", "minimum": 0, "description": "The operation's position in a bulk request."},
        "faults": {"type": "array", "items": ref("Fault"), "maxItems": 101,
                   "description": "Child faults: one per failing property (at most 100, and one saying how "
                                  "many more)."},
    },
    "additionalProperties": False,
}


def list_of(item: Schema, *, with_total: bool = True) -> Schema:
    """``{object: 'list', data: [item...], hasMore}``; ``total`` when the route takes ``total=true``."""
    properties: Schema = {
        "object": {"const": "list"},
        "data": {"type": "array", "items": item},
        "hasMore": {"type": "boolean", "description": "Whether more items follow this page."},
    }
    if with_total:
        properties["total"] = {"type": "integer", "minimum": 0,
                               "description": "With total=true: the items over every page."}
    return {"type": "object", "required": ["object", "data", "hasMore"], "properties": properties,
            "additionalProperties": False}


def result_of(data: Schema) -> Schema:
    """``{object: 'result', data}``."""
    return {"type": "object", "required": ["object", "data"],
            "properties": {"object": {"const": "result"}, "data": data}, "additionalProperties": False}


COMPONENTS: dict[str, Schema] = {
    "Fault": FAULT,
    "ObjectId": OBJECT_ID,
    "List": list_of(ANY_JSON),
    "Result": result_of(ANY_JSON),
}
