"""Request bodies sent as ``application/x-www-form-urlencoded``, as jQuery's ``$.ajax`` sends an
object (``data: {...}`` without ``JSON.stringify``, the Export page's own example).

jQuery's encoding (``$.param``): ``label=My+Export&paths[]=a&paths[]=b&csv[bom]=true``; nested
objects as ``a[b][c]=v``, arrays as ``a[]=v``, and arrays of objects as ``a[0][b]=v``. This
parses it back into the same structure of objects, arrays and strings. Every value is text: a
route that takes forms converts booleans and numbers where a property's type says so, and
refuses what does not convert. Anything that is not that encoding is a fault naming the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import Depends, Request

from opencortex import faults
from opencortex.api.deps import json_body

FORM = "application/x-www-form-urlencoded"
MAX_FIELDS = 1000
MAX_DEPTH = 8
_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


@dataclass(frozen=True)
class RequestBody:
    value: Any
    from_form: bool
    """Every value is text (form-encoded)."""


async def request_body(request: Request) -> RequestBody:
    """A JSON body (as ``deps.json_body``), or a form-encoded one."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != FORM:
        return RequestBody(await json_body(request), False)
    return RequestBody(parse_form(await request.body()), True)


RequestBodyDep = Annotated[RequestBody, Depends(request_body)]


def parse_form(raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise faults.invalid_argument("A form body is UTF-8 text.", path="body") from None
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    except UnicodeDecodeError:
        raise faults.invalid_argument("A form body's escaped bytes are UTF-8 text.", path="body") from None
    except ValueError:
        raise faults.invalid_argument(f"A form body holds at most {MAX_FIELDS} fields.", path="body") from None
    form: dict[str, Any] = {}
    for key, value in pairs:
        match = _KEY.match(key)
        if match is None:
            raise faults.invalid_argument(f"{key!r} is not a form field name (name, name[], name[key]).", path=key)
        segments = re.findall(r"\[([^\[\]]*)\]", match.group(2))
        if len(segments) > MAX_DEPTH:
            raise faults.invalid_argument(f"{key!r} nests deeper than {MAX_DEPTH} levels.", path=key)
        _assign(form, match.group(1), segments, value, key)
    result = _with_lists(form)
    assert isinstance(result, dict)
    return result


def _assign(parent: dict[str, Any], name: str, rest: list[str], value: str, field: str) -> None:
    if not rest:
        if name in parent:
            raise faults.invalid_argument(f"{field!r} is given more than once.", path=field)
        parent[name] = value
        return
    head, tail = rest[0], rest[1:]
    if head == "":  # name[]: an array
        items = parent.setdefault(name, [])
        if not isinstance(items, list):
            raise faults.invalid_argument(f"{field!r} mixes an array with another value.", path=field)
        if not tail:
            items.append(value)
            return
        if tail[0] == "":
            raise faults.invalid_argument(f"{field!r}: arrays of arrays are sent with indexes.", path=field)
        element: dict[str, Any] = {}
        items.append(element)
        _assign(element, tail[0], tail[1:], value, field)
        return
    child = parent.setdefault(name, {})
    if not isinstance(child, dict):
        raise faults.invalid_argument(f"{field!r} mixes an object with another value.", path=field)
    _assign(child, head, tail, value, field)


def _with_lists(value: Any) -> Any:
    """Objects keyed ``0``..``n-1`` (``a[0][b]=..``) become arrays, in index order."""
    if isinstance(value, list):
        return [_with_lists(item) for item in value]
    if not isinstance(value, dict):
        return value
    converted = {key: _with_lists(item) for key, item in value.items()}
    if converted and all(key.isdigit() for key in converted) and \
            sorted(int(key) for key in converted) == list(range(len(converted))):
        return [converted[str(index)] for index in range(len(converted))]
    return converted
