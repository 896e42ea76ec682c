"""Every route declares the query arguments it takes; any other is refused, never ignored.

A route names them in its decorator::

    @router.get("/{org}/v2/exports", dependencies=[accepts(*LIST_ARGUMENTS)])

The check runs once the org in the URL is known (an unknown org is reported first) and before
the route authenticates or parses anything: an argument the route does not take is the fault
``cortex.invalidArgument.query`` (400) naming it in ``path``, whatever its value, so a caller
never gets a 200 computed without it. ``paths[]``, ``paths`` and ``csv[bom]``-style keys count
under their name before the first ``[``. ``declared(route)`` reads a route's list back (the
routing tests check that every route has one).

``table_list_query(request)`` parses ``TABLE_LIST_ARGUMENTS`` with the instance lists' rules
(``api.query_args``): the same ranges for ``skip`` and ``limit``, ObjectId cursors, ``total``
true or false.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import Depends, Request
from fastapi.params import Depends as DependsParam

from opencortex import faults
from opencortex.api.deps import OrgDep
from opencortex.api.query_args import _boolean, list_query_from
from opencortex.model.table_lists import TableQuery

SELECTION_ARGUMENTS = ("paths", "include", "expand")
PAGING_ARGUMENTS = ("skip", "limit", "startingAfter", "endingBefore")
LIST_ARGUMENTS = ("where", "sort", *PAGING_ARGUMENTS, *SELECTION_ARGUMENTS, "total")
SIGNED_LINK_ARGUMENTS = ("expires", "principal", "signature")
# The lists of rows in tables of their own (``/accounts``, ``/objects``: ``model.table_lists``).
TABLE_LIST_ARGUMENTS = ("where", "sort", *PAGING_ARGUMENTS, "total")


class QueryArguments:
    """The dependency ``accepts`` returns: refuses every query argument not in ``names``."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = frozenset(names)

    def __call__(self, request: Request, org: OrgDep) -> None:
        refuse_unknown(request.query_params.keys(), self.names)

    def __repr__(self) -> str:
        return f"QueryArguments({sorted(self.names)})"


def accepts(*names: str) -> Any:
    """The dependency a route lists in ``dependencies=[...]``: it takes exactly ``names``."""
    return Depends(QueryArguments(names))


def argument_name(key: str) -> str:
    """``paths[]`` -> ``paths``; ``csv[bom]`` -> ``csv``."""
    return key.split("[", 1)[0]


def refuse_unknown(keys: Iterable[str], accepted: frozenset[str]) -> None:
    for key in keys:
        if argument_name(key) not in accepted:
            taken = ", ".join(sorted(accepted)) or "none"
            raise faults.query_invalid(f"{key!r} is not a query argument of this route (it takes: {taken}).",
                                       path=key)


def declared(route: Any) -> frozenset[str] | None:
    """The query arguments a route declared with ``accepts``; None when it declared none."""
    for dependency in getattr(route, "dependencies", None) or ():
        call = dependency.dependency if isinstance(dependency, DependsParam) else None
        if isinstance(call, QueryArguments):
            return call.names
    return None


def table_list_query(request: Request) -> tuple[TableQuery, bool]:
    """The list query of ``/accounts`` or ``/objects``, and whether ``total`` was asked for."""
    query = list_query_from(request)
    arguments = TableQuery(
        where=query.where if isinstance(query.where, str) else None,
        sort=query.sort if isinstance(query.sort, str) else None,
        skip=query.skip,
        limit=query.limit,
        starting_after=query.starting_after,
        ending_before=query.ending_before,
    )
    return arguments, _boolean(request.query_params.get("total"), "total")
