"""Response bodies in the Cortex envelopes, serialised with orjson."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from opencortex.faults import Fault


class JSONBody(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def result(data: Any, status_code: int = 200) -> JSONBody:
    return JSONBody({"object": "result", "data": data}, status_code=status_code)


def listing(data: list[Any], has_more: bool) -> JSONBody:
    return JSONBody({"object": "list", "data": data, "hasMore": has_more})


def document(data: dict[str, Any], status_code: int = 200) -> JSONBody:
    return JSONBody(data, status_code=status_code)


def fault_response(fault: Fault) -> JSONBody:
    return JSONBody(fault.to_json(), status_code=fault.status)
