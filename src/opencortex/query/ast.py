"""The validated form of a ``where``: a small tree of frozen dataclasses.

``parse.parse_where`` builds it; ``compile.compile_where`` turns it into SQL and
``evaluate.matches`` runs it in Python. The tree is deliberately smaller than the input
language, so that the two back ends have fewer cases to agree on:

- ``{"p": v}`` and ``{"p": {"$eq": v}}`` become ``Compare(p, "$eq", v)``;
- ``$ne`` becomes ``Not(Compare $eq)``, ``$nin`` becomes ``Not(In)``, ``$nor`` becomes
  ``Not(Or)``, ``$exists: false`` becomes ``Not(Exists)``;
- ``$all: [a, b]`` becomes ``And(Compare a, Compare b)`` (or ``And`` of ``ElemMatch``es), and
  ``$all: []`` becomes ``Or()``, which matches nothing (as in MongoDB);
- null is "absent": ``{"p": null}`` becomes ``Not(Exists p)`` and ``$ne: null`` ``Exists p``;
- several operators on one property, or several keys in one object, become an ``And``;
- ``$type`` on a column (whose type is fixed) becomes ``Exists`` when the column's type is the
  one named, and ``Or()`` otherwise (on an integer column, ``int`` and ``long`` become ranges);
  on a body property it is ``TypeIs``, whose meaning ``bson_types.py`` states.

Values are already coerced to the property's type: Dates are ISO 8601 strings in the stored
form (``2024-01-02T03:04:05.000Z``), ObjectIds lower-case hex, Numbers ints or finite floats.

Geospatial (Cortex's shape, cortex-api.md §7.2.1)::

    {"c_loc": {"$within": {"$center": [lng, lat], "$radius": km}}}

matches Geometry Points whose great-circle distance from the centre is at most ``$radius``
kilometres, on a sphere of radius ``EARTH_RADIUS_KM`` (6378.1 km, as Cortex's ``$centerSphere``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal

Scalar = str | int | float | bool
CompareOp = Literal["$eq", "$gt", "$gte", "$lt", "$lte"]


class Traversal(Enum):
    """How a step treats a list it finds.

    MongoDB matches a condition on an array when any element matches. The schema says which
    paths may hold arrays; below an array the model marks every sub-path as an array too, so
    there a value may or may not be one.
    """

    VALUE = "value"  # a plain key: a list found here is a value like any other
    ARRAY = "array"  # an array: conditions apply to its elements; a non-array has no elements
    LENIENT = "lenient"  # inside an array element: the elements of a list, or else the value itself


@dataclass(frozen=True)
class Step:
    key: str | int  # int only for GeoJSON coordinates
    traversal: Traversal = Traversal.VALUE


@dataclass(frozen=True)
class Field:
    """Where a condition looks: a documents-table column, or JSON keys from the current root.

    The root is the instance body, or, inside ``$elemMatch``, one array element. An empty
    ``steps`` means the root itself (the element of a primitive array).
    """

    path: str  # as the caller wrote it (full dotted path), for faults and sorting
    type: str  # the value type: String, Number, Boolean, Date, ObjectId, Geometry, Document...
    steps: tuple[Step, ...] = ()
    column: str | None = None


@dataclass(frozen=True)
class Pattern:
    """A checked regular expression, rendered once for each engine that runs it."""

    source: str  # "/pattern/flags" as written
    re2: str  # for RE2 (the evaluator and SQLite's REGEXP), flags inline
    postgres: str  # for PostgreSQL's ~ operator (ARE syntax), options inline
    width: int  # places an automaton tracks for it (regex.budget.width): its cost per character


@dataclass(frozen=True)
class Circle:
    lng: float
    lat: float
    radius_km: float


@dataclass(frozen=True)
class Compare:
    field: Field
    op: CompareOp
    value: Scalar


@dataclass(frozen=True)
class In:
    """Equal to one of ``values``, or matching one of ``patterns`` ($in may hold $regex)."""

    field: Field
    values: tuple[Scalar, ...]
    patterns: tuple[Pattern, ...] = ()


@dataclass(frozen=True)
class Exists:
    """The property holds a value that is not null."""

    field: Field


@dataclass(frozen=True)
class Regex:
    field: Field
    pattern: Pattern


@dataclass(frozen=True)
class Size:
    field: Field
    size: int


@dataclass(frozen=True)
class ElemMatch:
    """One element of the array at ``field`` satisfies ``condition`` (whose fields are relative to it)."""

    field: Field
    condition: Node


@dataclass(frozen=True)
class Within:
    field: Field
    circle: Circle


@dataclass(frozen=True)
class TypeIs:
    """``$type``: a value whose BSON type, as ``bson_types.stored_kind`` reads it, is ``name``."""

    field: Field
    name: str  # one of bson_types.TYPE_NAMES


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]  # empty: matches everything


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]  # empty: matches nothing


@dataclass(frozen=True)
class Not:
    child: Node


Node = Compare | In | Exists | Regex | Size | TypeIs | ElemMatch | Within | And | Or | Not


def tests_arrays_whole(node: Node) -> bool:
    """True for the conditions that look at an array itself rather than at its elements:
    ``$exists``, ``$size`` and ``$type: "array"``. Every other condition on an array property
    applies to its elements (any one matching will do)."""
    return isinstance(node, Exists | Size) or (isinstance(node, TypeIs) and node.name == "array")
