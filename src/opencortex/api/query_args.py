"""The query arguments of list and read routes, parsed once: where, sort, paging, selection."""

from __future__ import annotations

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
    arguments = request.query_params
    return ListQuery(
        where=arguments.get("where") or None,
        sort=arguments.get("sort") or None,
        skip=_integer(arguments.get("skip"), "skip", 0, MAX_SKIP, default=0),
        limit=_integer(arguments.get("limit"), "limit", 1, MAX_LIMIT, default=DEFAULT_LIMIT),
        starting_after=parse_cursor(arguments.get("startingAfter"), "startingAfter"),
        ending_before=parse_cursor(arguments.get("endingBefore"), "endingBefore"),
        selection=selection_from(request),
    )


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
