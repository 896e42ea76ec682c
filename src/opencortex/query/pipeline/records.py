"""Values as a pipeline outputs them, whichever back end computed them.

- Numbers are JSON numbers as Cortex (JavaScript) writes them: an integral value is an integer
  (``5``, never ``5.0``), whether it was summed from integers or from floats; PostgreSQL's
  exact ``numeric`` and SQLite's integers and doubles come out alike.
- Booleans are booleans (SQLite computes them as 0 and 1).
- Arrays are lists; a set (``$addToSet``) is in ascending order.
- A field whose value is null is left out of its record; the fields of a composite ``_id``
  (``_id.a``, ``_id.b``) become one object ``_id: {a, b}``.
- Ordering puts null first, then values of the field's kind: numbers by value, text by code
  point (PostgreSQL compares it in the "C" collation), false before true.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson

from opencortex.query.pipeline.ast import Kind

_INT64 = 2**63


def canonical(value: Any, kind: Kind) -> Any:
    """``value`` (from SQL or from Python) in the one form a response holds."""
    if value is None:
        return None
    if kind.array:
        items = orjson.loads(value) if isinstance(value, str | bytes) else value
        if not isinstance(items, list):
            return None
        element = kind.element
        result = [canonical(item, element) for item in items]
        return sorted(result, key=order_key) if kind.unique else result
    if kind.scalar == "Number":
        return number(value)
    if kind.scalar == "Boolean":
        return bool(value)
    return value


def number(value: int | float | Decimal) -> int | float:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value if -_INT64 < value < _INT64 else float(value)
    if (value == value.to_integral_value() if isinstance(value, Decimal) else float(value).is_integer()) \
            and -_INT64 < value < _INT64:
        return int(value)
    return float(value)


def order_key(value: Any) -> tuple[int, Any]:
    """Null first; then the value (one kind per field, so values always compare)."""
    return (0, 0) if value is None else (1, value)


def render(values: Mapping[str, Any], kinds: Mapping[str, Kind]) -> dict[str, Any]:
    """One output record from its fields' values (by output name, in order)."""
    record: dict[str, Any] = {}
    for name, raw in values.items():
        value = canonical(raw, kinds[name])
        head, _, part = name.partition(".")
        if part:
            holder = record.setdefault(head, {})
            if value is not None:
                holder[part] = value
        elif value is not None:
            record[name] = value
    return record
