"""The validated form of a ``pipeline``: stages, typed expressions and accumulators.

``parse.parse_pipeline`` builds it; ``compile.compile_pipeline`` turns it into one SQL statement
and ``evaluate.run_pipeline`` runs it in Python. Every value has a static ``Kind``, checked when
the pipeline is parsed, so that both back ends compare, sort and group values of one type only:

- a scalar kind: String, Number, Boolean, Date (ISO 8601 text, as the body stores Dates),
  ObjectId (24 lower-case hex digits; a Reference is its target's ``_id``), or Null (the literal
  ``null``, and ``_id: null`` of a ``$group``);
- an array of a scalar kind (an array property, or what ``$push``/``$addToSet`` collect).

A stored value that is not of its property's kind reads as missing (null), as ``where`` never
matches it either. Null and missing are the same thing: Cortex unsets a property written as null.
"""

from __future__ import annotations

from dataclasses import dataclass

from opencortex.query.ast import Node, Scalar

SCALAR_KINDS = frozenset({"String", "Number", "Boolean", "Date", "ObjectId"})
TEXT_KINDS = frozenset({"String", "Date", "ObjectId"})  # SQL text on both databases


@dataclass(frozen=True)
class Kind:
    scalar: str  # one of SCALAR_KINDS, or "Null"
    array: bool = False
    unique: bool = False  # an array of distinct values, in ascending order ($addToSet)

    def __str__(self) -> str:
        if self.array:
            return f"{'a set' if self.unique else 'an array'} of {self.scalar}"
        return self.scalar

    @property
    def element(self) -> Kind:
        return Kind(self.scalar)


NULL = Kind("Null")
NUMBER = Kind("Number")
BOOLEAN = Kind("Boolean")
STRING = Kind("String")


# Expressions


@dataclass(frozen=True)
class DocumentField:
    """A property of the instance (before any ``$group`` or ``$project``).

    ``column`` names a documents-table column (system properties). Otherwise the value is found
    by ``keys`` below the body, or below the element of the ``unwind``-th ``$unwind`` of the
    pipeline when the property lies in an unwound array.
    """

    path: str
    kind: Kind
    column: str | None = None
    unwind: int | None = None
    keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecordField:
    """A field of the records a ``$group`` or ``$project`` made (``_id.site`` for a composite key)."""

    name: str
    kind: Kind


@dataclass(frozen=True)
class Literal:
    value: Scalar | None
    kind: Kind


@dataclass(frozen=True)
class Operation:
    """An expression operator (``$add``, ``$concat``, ``$cond``...) applied to its arguments."""

    op: str
    args: tuple[Expression, ...]
    kind: Kind


Expression = DocumentField | RecordField | Literal | Operation


@dataclass(frozen=True)
class Accumulator:
    op: str  # $sum, $avg, $min, $max, $count, $first, $last, $push, $pushAll, $addToSet
    arg: Expression
    kind: Kind


ORDERED_ACCUMULATORS = frozenset({"$first", "$last", "$push", "$pushAll"})


# Stages


@dataclass(frozen=True)
class Match:
    condition: Node


@dataclass(frozen=True)
class Sort:
    keys: tuple[tuple[Expression, int], ...]  # (value, 1 ascending or -1 descending)


@dataclass(frozen=True)
class Skip:
    count: int


@dataclass(frozen=True)
class Limit:
    count: int


@dataclass(frozen=True)
class Unwind:
    """One row per element of the array at ``path``, in element order; rows without elements go.

    The array is found by ``keys`` below the body, or below the element of the ``parent``-th
    ``$unwind`` (an array inside an unwound document array). ``element`` is the kind of a
    primitive array's elements, None for the documents of a document array.
    """

    path: str
    keys: tuple[str, ...]
    parent: int | None
    element: Kind | None


@dataclass(frozen=True)
class Group:
    """One record per distinct key. ``keys`` are output names (``_id`` or ``_id.<name>``) with
    their values; a literal key (``_id: null``) is the same for every record and groups nothing.
    Records are ordered by their keys, ascending."""

    keys: tuple[tuple[str, Expression], ...]
    accumulators: tuple[tuple[str, Accumulator], ...]

    @property
    def ordered(self) -> bool:
        """Some accumulator depends on the order of the documents in a group."""
        return any(accumulator.op in ORDERED_ACCUMULATORS for _, accumulator in self.accumulators)


@dataclass(frozen=True)
class Project:
    fields: tuple[tuple[str, Expression], ...]  # output names (``_id.<name>`` for a kept composite key)


Stage = Match | Sort | Skip | Limit | Unwind | Group | Project


@dataclass(frozen=True)
class Pipeline:
    stages: tuple[Stage, ...]
    named: tuple[str, ...]  # the property paths the pipeline reads from instances

    @property
    def unwinds(self) -> tuple[Unwind, ...]:
        return tuple(stage for stage in self.stages if isinstance(stage, Unwind))

    @property
    def outputs_documents(self) -> bool:
        """No ``$group`` or ``$project``: the output is instances (one per unwound element)."""
        return not any(isinstance(stage, Group | Project) for stage in self.stages)
