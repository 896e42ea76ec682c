"""Parse and validate ``pipeline`` (cortex-api.md §7.1, §8) into the stages of ``ast.py``.

A pipeline is a JSON array of at most 20 stages; each stage is an object with exactly one key:

- ``$match``: a ``where`` document (indexed, readable properties; parsed by ``parse_where``).
  It filters instances, so it comes before any stage that reshapes, multiplies or cuts them
  (only ``$match`` and ``$sort`` may precede it);
- ``$sort``: ``{name: 1 | -1, ...}``; on instances, indexed single-valued properties (as the
  ``sort`` argument), after ``$group``/``$project`` any field of a single value. Ties keep the
  order the records had (instances enter newest first, ``_id`` descending);
- ``$skip``, ``$limit``: integers (0-500000, and at least 1);
- ``$unwind``: an array property's name: one record per element;
- ``$group``: ``{_id: <key>, <name>: {<accumulator>: <expression>}, ...}``;
- ``$project``: ``{<name>: 1 | <expression>, ...}``, ``_id`` kept unless ``_id: 0``;
- ``$count``: a name: one record ``{<name>: <number of records>}`` (none when there are none).

Every fault is ``cortex.invalidArgument.query`` with ``path`` locating the offence
(``pipeline[2].$group.total.$sum``) and a reason naming the stage, operator or property.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from opencortex import faults
from opencortex.query.ast import And, ElemMatch, Node, Not, Or
from opencortex.query.limits import DEFAULT_LIMITS, QueryLimits
from opencortex.query.parse import load_json_argument, parse_sort, parse_where
from opencortex.query.pipeline.ast import (
    NULL,
    NUMBER,
    Accumulator,
    Expression,
    Group,
    Kind,
    Limit,
    Literal,
    Match,
    Pipeline,
    Project,
    Skip,
    Sort,
    Stage,
)
from opencortex.query.pipeline.expressions import ExpressionParser
from opencortex.query.pipeline.scope import FIELD_NAME, DocumentScope, RecordScope
from opencortex.query.schema import QuerySchema

MAX_STAGES = 20  # Cortex's MAX_STAGES
MAX_SKIP = 500_000  # Cortex's MAX_SKIP, for the $skip stage as for the skip argument
MAX_LIMIT = 2**31 - 1
STAGES = frozenset({"$match", "$sort", "$skip", "$limit", "$unwind", "$group", "$project", "$count"})


@dataclass
class _State:
    scope: DocumentScope | RecordScope
    matchable: bool = True  # still the instances themselves, in no particular cut: $match may filter


def parse_pipeline(
    pipeline: str | list[Any] | None,
    schema: QuerySchema,
    arrays: Iterable[str],
    *,
    limits: QueryLimits = DEFAULT_LIMITS,
) -> Pipeline | None:
    """The validated pipeline, or None when there is none. ``arrays`` are the property paths
    whose own value is an array (``schema`` marks everything below a document array as one).
    ``$match`` allows the restricted operators the schema allows."""
    stages = _loaded(pipeline, limits) if isinstance(pipeline, str) else pipeline
    if stages is None:
        return None
    if not isinstance(stages, list) or not stages:
        raise faults.query_invalid("pipeline must be a JSON array of 1 to 20 stages.", path="pipeline")
    if len(stages) > MAX_STAGES:
        raise faults.query_invalid(f"A pipeline has at most {MAX_STAGES} stages.", path="pipeline")
    documents = DocumentScope(schema, arrays, limits.max_path_length)
    state = _State(documents)
    parsed: list[Stage] = []
    for index, raw in enumerate(stages):
        at = f"pipeline[{index}]"
        if not isinstance(raw, dict) or len(raw) != 1:
            raise faults.query_invalid("A pipeline stage is an object with exactly one key.", path=at)
        name, value = next(iter(raw.items()))
        if name not in STAGES:
            raise faults.query_invalid(f"Invalid pipeline stage {name}.", path=f"{at}.{name}")
        parsed.append(_StageParser(state, schema, limits).parse(name, value, f"{at}.{name}"))
    named = set(documents.named)
    for stage in parsed:
        if isinstance(stage, Match):
            named.update(where_paths(stage.condition))
    return Pipeline(tuple(parsed), tuple(sorted(named)))


def _loaded(text: str, limits: QueryLimits) -> Any:
    try:
        return load_json_argument(text, "pipeline", limits)
    except faults.Fault as fault:
        fault.path = fault.path or "pipeline"
        raise


def where_paths(node: Node) -> Iterator[str]:
    """The property paths a ``where`` names (not system columns), at any depth."""
    if isinstance(node, And | Or):
        for child in node.children:
            yield from where_paths(child)
    elif isinstance(node, Not):
        yield from where_paths(node.child)
    else:
        if node.field.column is None:
            yield node.field.path
        if isinstance(node, ElemMatch):
            yield from where_paths(node.condition)


class _StageParser:
    def __init__(self, state: _State, schema: QuerySchema, limits: QueryLimits) -> None:
        self.state = state
        self.schema = schema
        self.limits = limits
        self.expressions = ExpressionParser(state.scope, limits)

    def parse(self, name: str, value: Any, at: str) -> Stage:
        if name == "$match":
            return self.match(value, at)
        if name == "$sort":
            return self.sort(value, at)
        if name in ("$skip", "$limit"):
            self.state.matchable = False
            low, high = (0, MAX_SKIP) if name == "$skip" else (1, MAX_LIMIT)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise faults.query_invalid(f"{name} expects an integer from {low} to {high}.", path=at)
            return Skip(value) if name == "$skip" else Limit(value)
        if name == "$unwind":
            scope = self.state.scope
            if not isinstance(scope, DocumentScope):
                raise faults.query_invalid("$unwind applies to array properties of instances, before any "
                                           "$group or $project.", path=at)
            if not isinstance(value, str):
                raise faults.query_invalid("$unwind expects an array property's name.", path=at)
            self.state.matchable = False
            return scope.unwind(value, at)
        if name == "$group":
            return self.group(value, at)
        if name == "$project":
            return self.project(value, at)
        return self.count(value, at)

    def match(self, value: Any, at: str) -> Match:
        if not self.state.matchable or not isinstance(self.state.scope, DocumentScope):
            raise faults.query_invalid(
                "$match filters instances on indexed properties: it must come before any $skip, $limit, "
                "$unwind, $group or $project stage.", path=at,
            )
        if not isinstance(value, dict) or not value:
            raise faults.query_invalid("$match expects a non-empty object of conditions.", path=at)
        condition = parse_where(value, self.schema, limits=self.limits)
        assert condition is not None  # a non-empty object always gives a condition
        return Match(condition)

    def sort(self, value: Any, at: str) -> Sort:
        if not isinstance(value, dict) or not value:
            raise faults.query_invalid("$sort expects an object of names to 1 or -1.", path=at)
        scope = self.state.scope
        if isinstance(scope, DocumentScope):
            keys = parse_sort(value, self.schema, limits=self.limits)
            return Sort(tuple((scope.field(prop.path, f"{at}.{prop.path}"), direction) for prop, direction in keys))
        if len(value) > self.limits.max_keys:
            raise faults.query_invalid(f"$sort may name at most {self.limits.max_keys} fields.", path=at)
        sorted_keys: list[tuple[Expression, int]] = []
        for name, direction in value.items():
            field = scope.field(name, f"{at}.{name}")
            if field.kind.array:
                raise faults.query_invalid(f"{name} cannot be sorted: it is {field.kind}.", path=f"{at}.{name}")
            if isinstance(direction, bool) or direction not in (1, -1) or isinstance(direction, float):
                raise faults.query_invalid(f"The sort direction of {name} must be 1 or -1.", path=f"{at}.{name}")
            sorted_keys.append((field, int(direction)))
        return Sort(tuple(sorted_keys))

    def group(self, value: Any, at: str) -> Group:
        if not isinstance(value, dict) or "_id" not in value:
            raise faults.query_invalid("$group expects an object with an _id (null for a single group).", path=at)
        self._check_size(value, at)
        keys = self.group_keys(value["_id"], f"{at}._id")
        accumulators: list[tuple[str, Accumulator]] = []
        for name, spec in value.items():
            if name == "_id":
                continue
            self._check_name(name, at)
            accumulators.append((name, self.expressions.accumulator(spec, f"{at}.{name}")))
        self._become_records({**{name: key.kind for name, key in keys}, **{n: a.kind for n, a in accumulators}})
        return Group(tuple(keys), tuple(accumulators))

    def group_keys(self, raw: Any, at: str) -> list[tuple[str, Expression]]:
        if isinstance(raw, dict) and raw and not any(str(key).startswith("$") for key in raw):
            keys = []
            for name, spec in raw.items():
                self._check_name(name, at)
                keys.append((f"_id.{name}", self._key(spec, f"{at}.{name}")))
            return keys
        if isinstance(raw, dict) and not raw:
            raise faults.query_invalid("A composite _id names at least one field.", path=at)
        return [("_id", self._key(raw, at))]

    def _key(self, raw: Any, at: str) -> Expression:
        key = self.expressions.value(raw, at)
        if key.kind.array:
            raise faults.query_invalid(f"Records cannot be grouped by {key.kind}: $unwind it first.", path=at)
        return key

    def project(self, value: Any, at: str) -> Project:
        if not isinstance(value, dict) or not value:
            raise faults.query_invalid("$project expects a non-empty object.", path=at)
        self._check_size(value, at)
        keep_id = value.get("_id", True) not in (0, False)
        fields: list[tuple[str, Expression]] = []
        if keep_id and "_id" not in value:
            fields += self.included("_id", at, required=False)
        for name, spec in value.items():
            self._check_name(name, at, allow_id=True)
            where = f"{at}.{name}"
            if spec is True or (type(spec) is int and spec == 1):
                fields += self.included(name, where, required=True)
            elif spec is False or (type(spec) is int and spec == 0):
                if name != "_id":
                    raise faults.query_invalid("Only _id can be left out (0); name the fields to keep instead.",
                                               path=where)
            elif isinstance(spec, bool | int | float) or spec is None or isinstance(spec, list):
                raise faults.query_invalid(
                    "A $project value is 1 (keep), 0 (only for _id), a property name or an expression "
                    "(literals: {\"$number\": 5}, {\"$string\": \"x\"}...).", path=where,
                )
            elif isinstance(spec, dict) and not any(str(key).startswith("$") for key in spec):
                raise faults.query_invalid("Nested documents are not supported in $project.", path=where)
            else:
                fields.append((name, self.expressions.value(spec, where)))
        if not fields:
            raise faults.query_invalid("$project must keep or compute at least one field.", path=at)
        self._become_records({name: expression.kind for name, expression in fields})
        return Project(tuple(fields))

    def included(self, name: str, at: str, *, required: bool) -> list[tuple[str, Expression]]:
        """``name: 1``: the field itself, or each part of a composite ``_id``."""
        scope = self.state.scope
        if isinstance(scope, RecordScope):
            parts = scope.parts(name)
            if parts:
                return [(part, scope.field(part, at)) for part in parts]
            if name not in scope.fields and not required:
                return []
        return [(name, scope.field(name, at))]

    def count(self, value: Any, at: str) -> Group:
        if not isinstance(value, str) or not FIELD_NAME.match(value) or value == "_id":
            raise faults.query_invalid("$count expects a field name (letters, digits, _ and -, up to 40).", path=at)
        self._become_records({value: NUMBER})
        return Group((("_id", Literal(None, NULL)),), ((value, Accumulator("$sum", Literal(1, NUMBER), NUMBER)),))

    def _become_records(self, fields: dict[str, Kind]) -> None:
        self.state.scope = RecordScope({name: kind for name, kind in fields.items() if kind != NULL})
        self.state.matchable = False

    def _check_size(self, value: dict[Any, Any], at: str) -> None:
        if len(value) > self.limits.max_keys:
            raise faults.query_invalid(f"A stage object has more than {self.limits.max_keys} keys.", path=at)

    @staticmethod
    def _check_name(name: Any, at: str, *, allow_id: bool = False) -> None:
        if allow_id and name == "_id":
            return
        if not isinstance(name, str) or not FIELD_NAME.match(name) or name == "_id":
            shown = name[:40] if isinstance(name, str) else name
            raise faults.query_invalid(
                f"Invalid field name {shown!r}: letters, digits, _ and -, up to 40 characters.", path=at
            )

