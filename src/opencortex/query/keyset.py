"""Keyset paging under any sort: the rows after (or before) a cursor row, in the order of
``compile.sort_terms``.

The cursor is a row's position: its value of each sort term, the last term being its ``id``
(unique), so "after" is a strict lexicographic order and no row is skipped or repeated between
pages. Nulls sort as ``compile_sort`` puts them: first in ascending order, last in descending
order. Reading backwards (``endingBefore``) is reading forwards in the opposite direction of
every term, which is also the opposite null placement, so one rule serves both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

Condition = ColumnElement[bool]


def after_position(terms: Sequence[tuple[ColumnElement[Any], int]], position: Sequence[Any]) -> Condition:
    """Rows strictly after ``position`` (one value per term; None for null) in the order ``terms``."""
    if len(terms) != len(position):
        raise ValueError("a position has one value per sort term")
    options: list[Condition] = []
    for index, ((expression, direction), value) in enumerate(zip(terms, position, strict=True)):
        ties = [_equal(earlier, known) for (earlier, _), known in zip(terms[:index], position[:index], strict=True)]
        options.append(sa.and_(sa.true(), *ties, _beyond(expression, direction, value)))
    return sa.or_(sa.false(), *options)


def reversed_terms(terms: Sequence[tuple[ColumnElement[Any], int]]) -> list[tuple[ColumnElement[Any], int]]:
    """The same terms in the opposite direction: what ``endingBefore`` reads in."""
    return [(expression, -direction) for expression, direction in terms]


def ordered(terms: Sequence[tuple[ColumnElement[Any], int]]) -> list[ColumnElement[Any]]:
    """``ORDER BY`` clauses for ``terms``, nulls where ``after_position`` expects them (the
    explicit NULLS FIRST/LAST is SQLite's natural order, and PostgreSQL needs it)."""
    return [expression.asc().nulls_first() if direction > 0 else expression.desc().nulls_last()
            for expression, direction in terms]


def _equal(expression: ColumnElement[Any], value: Any) -> Condition:
    return expression.is_(None) if value is None else expression == _bound(expression, value)


def _beyond(expression: ColumnElement[Any], direction: int, value: Any) -> Condition:
    if direction > 0:  # ascending, nulls first: past a null is every value; past a value, greater ones
        return expression.isnot(None) if value is None else expression > _bound(expression, value)
    # descending, nulls last: nothing is past a null; past a value, smaller ones and the nulls
    return sa.false() if value is None else sa.or_(expression < _bound(expression, value), expression.is_(None))


def _bound(expression: ColumnElement[Any], value: Any) -> ColumnElement[Any]:
    """``value`` as a parameter of the expression's type (a boolean too: ``< true`` is an
    ordinary comparison here, which SQLAlchemy refuses to build from a bare Python bool)."""
    return sa.literal(value, expression.type)
