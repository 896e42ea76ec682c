"""Resolve a property name in a ``where`` or ``sort`` against the schema, with Cortex's rules.

- The name must be a plain dot path (``c_name.c_first``) of letters, digits, ``_`` and ``-``,
  at most 200 characters; array indexes (``c_arr.0``) are not paths ("Invalid field name").
- An unknown property and one the caller may not read get the same fault, so that a query
  never reveals that a hidden property exists. A path is hidden when any part of it is.
- Only indexed properties can be matched or sorted (system properties are columns, indexed).

The resulting ``Field`` says, step by step, where arrays may be: a path below an array gets
``LENIENT`` steps, because the model marks every sub-path of a document array as an array,
whether or not its own value is one (see ``ast.Traversal``).
"""

from __future__ import annotations

import re
from typing import Any

from opencortex import faults
from opencortex.query.ast import Field, Step, Traversal
from opencortex.query.schema import QueryableProperty, QuerySchema

FIELD_PATH = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
SORTABLE_TYPES = frozenset({"String", "Number", "Boolean", "Date", "ObjectId", "Reference"})


def resolve_property(schema: QuerySchema, name: Any, *, max_length: int, purpose: str) -> QueryableProperty:
    """The queryable property named ``name``; ``purpose`` is "Matches" or "Sorting" for the fault text."""
    if not isinstance(name, str) or not 0 < len(name) <= max_length or not FIELD_PATH.match(name):
        shown = name[:max_length] if isinstance(name, str) else None
        raise faults.query_invalid(f"Invalid field name {shown!r}.", path=shown)
    prop = schema.get(name)
    if prop is None or not all(part.readable for part in [prop, *_known_prefixes(schema, name)]):
        raise faults.query_invalid(f"Unknown property {name}.", path=name)
    if not prop.indexed and prop.column is None:
        raise faults.query_invalid(
            f"{purpose} can only occur on indexed properties. "
            f"{name} is either not indexed or is missing a preceding index key.",
            path=name,
        )
    return prop


def field_for(schema: QuerySchema, prop: QueryableProperty, *, relative_to: int = 0) -> Field:
    """The ``Field`` for ``prop``, its steps counted from the ``relative_to``-th path segment on.

    ``relative_to`` is the number of segments of an enclosing ``$elemMatch`` array: inside it,
    paths start at the array element.
    """
    value_type = "ObjectId" if prop.type == "Reference" else prop.type  # a Reference stores its target's id
    if prop.column is not None:
        return Field(path=prop.path, type=value_type, column=prop.column)
    steps: list[Step] = []
    segments = prop.path.split(".")
    below_array = False
    for count in range(1, len(segments) + 1):
        part = prop if count == len(segments) else schema.get(".".join(segments[:count]))
        traversal = Traversal.VALUE
        if part is not None and part.array:
            traversal = Traversal.LENIENT if below_array else Traversal.ARRAY
            below_array = True
        steps.append(Step(segments[count - 1], traversal))
    return Field(path=prop.path, type=value_type, steps=tuple(steps[relative_to:]))


def is_under_array(schema: QuerySchema, prop: QueryableProperty) -> bool:
    """True when the property, or any document it sits in, is an array (so it has no single value)."""
    return prop.array or any(part.array for part in _known_prefixes(schema, prop.path))


def _known_prefixes(schema: QuerySchema, path: str) -> list[QueryableProperty]:
    """The schema entries of every proper prefix of ``path`` (``c_a`` and ``c_a.c_b`` for ``c_a.c_b.c_c``)."""
    segments = path.split(".")
    found = (schema.get(".".join(segments[:count])) for count in range(1, len(segments)))
    return [prop for prop in found if prop is not None]
