"""The query arguments of list and read routes, parsed once: where, sort, paging, selection,
``pipeline``, ``total``, and whether the list is to be streamed as NDJSON."""

from __future__ import annotations

from dataclasses import dataclass, replace

from starlette.requests import Request

from opencortex import faults
from opencortex.api.paging import parse_cursor
from opencortex.instances.selection import Selection, parse_selection, query_list
from opencortex.instances.service import DEFAULT_LIMIT, MAX_LIMIT, MAX_SKIP, ListQuery


def selection_from(request: Request) -> Selection:
    arguments = request.query_params
    return parse_selection(
        _repeated(request, "paths"), _repeated(request, "include"), _repeated(request, "expand")
    ) if any(key.rstrip("[]") in ("paths", "include", "expand") for key in arguments) else Selection()


def list_query_from(request: Request) -> ListQuery:
    limit = _integer(request.query_params.get("limit"), "limit", 1, MAX_LIMIT, default=DEFAULT_LIMIT)
    return replace(_without_limit(request), limit=limit)


NDJSON = "application/x-ndjson"
MAX_STREAM_LIMIT = 2**31 - 1


@dataclass(frozen=True)
class ListArguments:
    query: ListQuery
    pipeline: str | None = None
    total: bool = False
    stream: bool = False  # Accept: application/x-ndjson
    stream_limit: int | None = None  # a stream's limit: None streams every item


def list_arguments(request: Request) -> ListArguments:
    """Everything a list route takes. A streamed list has no page size: it holds every item
    unless ``limit`` is given (then any positive number)."""
    arguments = request.query_params
    stream = wants_ndjson(request.headers.get("accept"))
    stream_limit = None
    if stream:
        stream_limit = _integer(arguments.get("limit"), "limit", 1, MAX_STREAM_LIMIT, default=0) or None
        query = replace(_without_limit(request), limit=min(stream_limit or DEFAULT_LIMIT, MAX_LIMIT))
    else:
        query = list_query_from(request)
    pipeline = arguments.get("pipeline") or None
    if pipeline is not None:
        clashing = [name for name in ("where", "sort", "startingAfter", "endingBefore") if arguments.get(name)]
        if clashing:
            raise faults.query_invalid(f"{'/'.join(clashing)} cannot be combined with pipeline.", path="pipeline")
    return ListArguments(query, pipeline, _boolean(arguments.get("total"), "total"), stream, stream_limit)


def wants_ndjson(accept: str | None) -> bool:
    """``Accept`` names application/x-ndjson (with a quality above 0), as the official client's
    streaming calls send it."""
    for media_range in (accept or "").split(","):
        media, *parameters = (part.strip() for part in media_range.split(";"))
        if media.lower() != NDJSON:
            continue
        qualities = [value for key, _, value in (p.partition("=") for p in parameters) if key.strip() == "q"]
        try:
            return not qualities or float(qualities[0]) > 0
        except ValueError:
            return False
    return False


def _without_limit(request: Request) -> ListQuery:
    arguments = request.query_params
    return ListQuery(
        where=arguments.get("where") or None,
        sort=arguments.get("sort") or None,
        skip=_integer(arguments.get("skip"), "skip", 0, MAX_SKIP, default=0),
        starting_after=parse_cursor(arguments.get("startingAfter"), "startingAfter"),
        ending_before=parse_cursor(arguments.get("endingBefore"), "endingBefore"),
        selection=selection_from(request),
    )


def _boolean(raw: str | None, name: str) -> bool:
    if raw is None or raw == "" or raw.lower() == "false":
        return False
    if raw.lower() == "true":
        return True
    raise faults.query_invalid(f"{name} must be true or false.", path=name)


def _repeated(request: Request, name: str) -> list[str] | None:
    values = request.query_params.getlist(f"{name}[]") + request.query_params.getlist(name)
    return query_list(values)


def _integer(raw: str | None, name: str, low: int, high: int, *, default: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise faults.query_invalid(f"{name} must be an integer between {low} and {high}, inclusive.",
                                   path=name) from None
    if not low <= value <= high:
        raise faults.query_invalid(f"{name} must be an integer between {low} and {high}, inclusive.", path=name)
    return value
