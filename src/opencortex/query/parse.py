"""Parse and validate ``where`` and ``sort`` (cortex-api.md §7) into the AST of ``ast.py``.

``where`` is a JSON object (or its text): ``{"c_age": {"$gte": 18}, "$or": [...]}``. Keys are
property paths or the logical operators ``$and``, ``$or`` (Cortex), ``$nor`` and ``$not``
(ours: Cortex's current parser refuses them as "Invalid operator"). A property takes a bare
value (``$eq``) or an object of operators; an array or a plain object is Cortex's
``exactMatching`` fault. Every other fault is ``query_invalid`` with a reason and the
``path`` of the offending property. Whatever the input, only ``Fault``s come out.

``sort`` is a property name (``sort=c_age``, ascending) or a JSON object of names to 1 or -1
(``{"c_age": -1, "_id": 1}``), in order.

Cortex refuses the "restricted" operators ``$ne``, ``$nin`` and ``$type`` ("Invalid operator
$ne") unless the org setting ``configuration.queries.allowedRestrictedMatchOps`` lists them (or
``*``). The schema carries that list (``QuerySchema.allowed_restricted``, none by default), so
the org's setting applies wherever the org's schema is used.

``$type`` takes one of Cortex's BSON type names (``bson_types.TYPE_NAMES``), and matches what
``bson_types`` says it does.
"""

from __future__ import annotations

from typing import Any, cast

import orjson

from opencortex import faults
from opencortex.query.ast import (
    And,
    Circle,
    Compare,
    CompareOp,
    ElemMatch,
    Exists,
    Field,
    In,
    Node,
    Not,
    Or,
    Pattern,
    Regex,
    Scalar,
    Size,
    TypeIs,
    Within,
)
from opencortex.query.bson_types import INT32_MAX, INT32_MIN, TYPE_NAMES, stored_kind
from opencortex.query.fields import SORTABLE_TYPES, field_for, is_under_array, resolve_property
from opencortex.query.limits import DEFAULT_LIMITS, QueryLimits
from opencortex.query.regex import parse_regex
from opencortex.query.schema import QueryableProperty, QuerySchema
from opencortex.query.values import COMPARABLE_TYPES, coerce, is_number

RESTRICTED_OPERATORS = ("$ne", "$nin", "$type")  # Cortex's, in its order
_RANGE = ("$gt", "$gte", "$lt", "$lte")
_ARRAY_ONLY = frozenset({"$size", "$all", "$elemMatch"})
_INT64 = 2**63


def parse_where(
    where: str | dict[str, Any] | None,
    schema: QuerySchema,
    *,
    limits: QueryLimits = DEFAULT_LIMITS,
) -> Node | None:
    """The validated AST of ``where``, or None when there is no condition at all. The restricted
    operators allowed are the schema's (``QuerySchema.allowed_restricted``)."""
    document = where_document(where, limits)
    if document is None:
        return None
    return _WhereParser(schema, limits).expression(document, depth=1, prefix="")


def where_document(
    where: str | dict[str, Any] | None, limits: QueryLimits = DEFAULT_LIMITS
) -> dict[str, Any] | None:
    """The JSON object ``where`` holds (decoded if it is text), or None when it holds no
    condition; faults as ``parse_where`` for text that is not JSON or not an object."""
    document = load_json_argument(where, "where", limits) if isinstance(where, str) else where
    if document is None:
        return None
    if not isinstance(document, dict):
        raise faults.query_invalid("where must be a JSON object.")
    return document or None


def parse_sort(
    sort: str | dict[str, Any] | None, schema: QuerySchema, *, limits: QueryLimits = DEFAULT_LIMITS
) -> list[tuple[QueryableProperty, int]]:
    """The sort keys in order: (property, 1 for ascending or -1 for descending)."""
    if isinstance(sort, str):
        text = sort.strip()
        sort = (
            load_json_argument(text, "sort", limits)
            if text.startswith("{")
            else ({text: 1} if text else None)
        )
    if sort is None:
        return []
    if not isinstance(sort, dict):
        raise faults.query_invalid("sort must be a property name or a JSON object of properties to 1 or -1.")
    if len(sort) > limits.max_keys:
        raise faults.query_invalid(f"sort may name at most {limits.max_keys} properties.")
    keys: list[tuple[QueryableProperty, int]] = []
    for name, direction in sort.items():
        prop = resolve_property(schema, name, max_length=limits.max_path_length, purpose="Sorting")
        if is_under_array(schema, prop) or prop.type not in SORTABLE_TYPES:
            raise faults.query_invalid(
                f"{name} cannot be sorted: it is an array or not a primitive.", path=name
            )
        if isinstance(direction, bool) or direction not in (1, -1) or isinstance(direction, float):
            raise faults.query_invalid(f"The sort direction of {name} must be 1 or -1.", path=name)
        keys.append((prop, int(direction)))
    return keys


def load_json_argument(text: str, name: str, limits: QueryLimits) -> Any:
    """Decode the JSON text of a query argument; None when it is empty."""
    if len(text) > limits.max_where_length:
        raise faults.query_invalid(f"{name} is longer than {limits.max_where_length} characters.")
    if not text.strip():
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise faults.query_invalid(f"Invalid {name} JSON format: {error}.") from error


class _WhereParser:
    def __init__(self, schema: QuerySchema, limits: QueryLimits) -> None:
        self.schema = schema
        self.limits = limits
        self.conditions = 0
        self.patterns = 0
        self.pattern_width = 0

    # Expressions: objects whose keys are property paths or logical operators.

    def expression(self, document: Any, *, depth: int, prefix: str) -> Node:
        """``prefix`` is ``"c_docs."`` inside ``{"c_docs": {"$elemMatch": ...}}``, else empty."""
        if not isinstance(document, dict):
            raise faults.query_invalid("Expected an object of conditions.", path=prefix.rstrip(".") or None)
        self.check_depth(depth)
        if len(document) > self.limits.max_keys:
            raise faults.query_invalid(f"An object in the query has more than {self.limits.max_keys} keys.")
        nodes = []
        for key, value in document.items():
            if isinstance(key, str) and key.startswith("$"):
                nodes.append(self.logical(key, value, depth=depth, prefix=prefix))
            else:
                nodes.append(self.property_condition(key, value, depth=depth, prefix=prefix))
        return nodes[0] if len(nodes) == 1 else And(tuple(nodes))

    def logical(self, operator: str, value: Any, *, depth: int, prefix: str) -> Node:
        if operator == "$not":
            return Not(self.expression(value, depth=depth + 1, prefix=prefix))
        if operator not in ("$and", "$or", "$nor"):
            raise faults.query_invalid(f"Invalid operator {operator}.")
        maximum = self.limits.max_logical_conditions
        if not isinstance(value, list) or not 0 < len(value) <= maximum:
            raise faults.query_invalid(f"{operator} expects an array of 1 to {maximum} conditions.")
        children = tuple(self.expression(item, depth=depth + 1, prefix=prefix) for item in value)
        if operator == "$and":
            return And(children)
        return Or(children) if operator == "$or" else Not(Or(children))

    def property_condition(self, name: Any, value: Any, *, depth: int, prefix: str) -> Node:
        if isinstance(name, str):
            name = prefix + name
        prop = resolve_property(self.schema, name, max_length=self.limits.max_path_length, purpose="Matches")
        field = field_for(self.schema, prop, relative_to=prefix.count("."))
        if isinstance(value, list):
            raise faults.query_exact_matching(
                f"{prop.path} cannot be matched against an array.", path=prop.path
            )
        if not isinstance(value, dict):
            return self.equality(field, value)
        return self.operators(field, prop, value, depth=depth, is_array=prop.array)

    # Operators: {"$gt": 1, "$lt": 5} applied to one field.

    def operators(
        self, field: Field, prop: QueryableProperty, document: dict[Any, Any], *, depth: int, is_array: bool
    ) -> Node:
        keys = list(document)
        if not keys or not all(isinstance(key, str) and key.startswith("$") for key in keys):
            if any(isinstance(key, str) and key.startswith("$") for key in keys):
                raise faults.query_invalid(
                    f"Operators and values cannot be mixed for {field.path}.", path=field.path
                )
            raise faults.query_exact_matching(
                f"{field.path} cannot be matched against a document.", path=field.path
            )
        if len(keys) > self.limits.max_keys:
            raise faults.query_invalid(f"An object in the query has more than {self.limits.max_keys} keys.")
        nodes = [
            self.operator(field, prop, key, document[key], depth=depth, is_array=is_array) for key in keys
        ]
        return nodes[0] if len(nodes) == 1 else And(tuple(nodes))

    def operator(
        self, field: Field, prop: QueryableProperty, op: str, value: Any, *, depth: int, is_array: bool
    ) -> Node:
        path = field.path
        if op in RESTRICTED_OPERATORS and not self.schema.allows(op):
            raise faults.query_invalid(f"Invalid operator {op}.", path=path)
        if op in _ARRAY_ONLY and not is_array:
            raise faults.query_invalid(
                f"{op} can only be used on array properties; {path} is not one.", path=path
            )
        if op == "$eq":
            return self.equality(field, value)
        if op == "$ne":
            return Not(self.equality(field, value))
        if op in _RANGE:
            self.require_type(field, op, COMPARABLE_TYPES)
            return self.leaf(Compare(field, cast(CompareOp, op), self.scalar(field, value, op)))
        if op in ("$in", "$nin"):
            node = self.membership(field, value, op)
            return Not(node) if op == "$nin" else node
        if op == "$exists":
            if not isinstance(value, bool):
                raise faults.query_invalid("$exists expects a boolean.", path=path)
            node = self.leaf(Exists(field))
            return node if value else Not(node)
        if op == "$regex":
            return self.leaf(Regex(field, self.pattern(field, value)))
        if op == "$type":
            return self.leaf(self.type_is(field, value))
        if op == "$size":
            if not is_number(value) or isinstance(value, float) or not 0 <= value < _INT64:
                raise faults.query_invalid("$size expects an integer of at least 0.", path=path)
            return self.leaf(Size(field, value))
        if op == "$all":
            return self.all_of(field, prop, value, depth=depth)
        if op == "$elemMatch":
            return self.leaf(ElemMatch(field, self.element_condition(prop, value, depth=depth)))
        if op == "$within":
            self.require_type(field, op, frozenset({"Geometry"}))
            return self.leaf(Within(field, _circle(value, path)))
        if op == "$not":
            if not isinstance(value, dict):
                raise faults.query_invalid("$not expects an object of operators.", path=path)
            self.check_depth(depth + 1)
            return Not(self.operators(field, prop, value, depth=depth + 1, is_array=is_array))
        raise faults.query_invalid(f"Invalid operator {op}.", path=path)

    def equality(self, field: Field, value: Any) -> Node:
        """``$eq``; null means "absent", so it matches a missing or null property."""
        if value is None:
            return Not(self.leaf(Exists(field)))
        if isinstance(value, dict | list):
            raise faults.query_exact_matching(
                f"{field.path} cannot be matched against an array or a document.", path=field.path
            )
        self.require_type(field, "$eq", COMPARABLE_TYPES)
        return self.leaf(Compare(field, "$eq", self.scalar(field, value, "$eq")))

    def type_is(self, field: Field, name: Any) -> Node:
        """``$type``: one of Cortex's names. A column's type is fixed, so there it is known now
        which values can match: the condition becomes "the column holds one" (or nothing)."""
        if not isinstance(name, str) or name not in TYPE_NAMES:
            raise faults.query_invalid(f"$type expects one of {', '.join(TYPE_NAMES)}.", path=field.path)
        if field.column is None:
            return TypeIs(field, name)
        kind = stored_kind(name, field.type)
        if field.type == "Number":  # number columns hold integers (a log's src, lvl, sts)
            if kind == "int":
                return And((Compare(field, "$gte", INT32_MIN), Compare(field, "$lte", INT32_MAX)))
            if kind == "long":
                return Or((Compare(field, "$lt", INT32_MIN), Compare(field, "$gt", INT32_MAX)))
            return Or(())
        return Exists(field) if kind == ("boolean" if field.type == "Boolean" else "string") else Or(())

    def membership(self, field: Field, value: Any, op: str) -> Node:
        """``$in``: values (null among them meaning "absent") and ``{"$regex": ...}`` entries."""
        maximum = self.limits.max_in_elements
        if not isinstance(value, list) or len(value) > maximum:
            raise faults.query_invalid(f"{op} expects an array of at most {maximum} values.", path=field.path)
        self.require_type(field, op, COMPARABLE_TYPES)
        values: list[Scalar] = []
        patterns: list[Pattern] = []
        absent = False
        for item in value:
            if item is None:
                absent = True
            elif isinstance(item, dict) and list(item) == ["$regex"]:
                patterns.append(self.pattern(field, item["$regex"]))
            else:
                values.append(self.scalar(field, item, op))
        node: Node = self.leaf(In(field, tuple(values), tuple(patterns)))
        return Or((node, Not(Exists(field)))) if absent else node

    def all_of(self, field: Field, prop: QueryableProperty, value: Any, *, depth: int) -> Node:
        """``$all``: every value is among the elements (or every ``$elemMatch`` matches one)."""
        maximum = self.limits.max_all_elements
        if not isinstance(value, list) or len(value) > maximum:
            raise faults.query_invalid(f"$all expects an array of at most {maximum} values.", path=field.path)
        if not value:
            return Or(())  # as in MongoDB, $all: [] matches nothing
        if all(isinstance(item, dict) and list(item) == ["$elemMatch"] for item in value):
            return And(
                tuple(
                    self.leaf(ElemMatch(field, self.element_condition(prop, item["$elemMatch"], depth=depth)))
                    for item in value
                )
            )
        if any(isinstance(item, dict | list) or item is None for item in value):
            raise faults.query_invalid(
                "$all expects an array of values, or an array of {$elemMatch} objects (not mixed).",
                path=field.path,
            )
        return And(tuple(self.equality(field, item) for item in value))

    def element_condition(self, prop: QueryableProperty, value: Any, *, depth: int) -> Node:
        """The condition inside ``$elemMatch``, relative to one array element."""
        if not isinstance(value, dict) or not value:
            raise faults.query_invalid("$elemMatch expects a non-empty object.", path=prop.path)
        if prop.type == "Document":
            return self.expression(value, depth=depth + 1, prefix=prop.path + ".")
        element = Field(path=prop.path, type=field_for(self.schema, prop).type)  # the element itself
        if not all(isinstance(key, str) and key.startswith("$") for key in value):
            raise faults.query_invalid(
                f"$elemMatch on {prop.path}, an array of {prop.type}, expects operators.", path=prop.path
            )
        self.check_depth(depth + 1)
        return self.operators(element, prop, value, depth=depth + 1, is_array=False)

    # Values

    def scalar(self, field: Field, value: Any, op: str) -> Scalar:
        if value is None or isinstance(value, dict | list):
            raise faults.query_invalid(
                f"{op} expects a {field.type} value for {field.path}.", path=field.path
            )
        if isinstance(value, int) and not isinstance(value, bool) and not -_INT64 <= value < _INT64:
            raise faults.query_invalid(f"Numbers must fit in 64 bits ({field.path}).", path=field.path)
        return coerce(value, field.type, field.path)

    def pattern(self, field: Field, value: Any) -> Pattern:
        self.require_type(field, "$regex", frozenset({"String"}))
        if not isinstance(value, str):
            raise faults.query_invalid("$regex expects a string /pattern/flags.", path=field.path)
        pattern = parse_regex(value, max_length=self.limits.max_regex_length, path=field.path)
        self.patterns += 1
        self.pattern_width += pattern.width
        if self.patterns > self.limits.max_regex_patterns:
            raise faults.query_invalid(
                f"A query may hold at most {self.limits.max_regex_patterns} regular expressions.", path=field.path
            )
        if self.pattern_width > self.limits.max_regex_width:
            raise faults.query_invalid(
                f"Regular expressions too costly to run together: written out, those of one query may span "
                f"at most {self.limits.max_regex_width} characters.",
                path=field.path,
            )
        return pattern

    def require_type(self, field: Field, op: str, types: frozenset[str]) -> None:
        if field.type not in types:
            raise faults.query_invalid(
                f"{op} cannot be used on {field.path}, a {field.type} property.", path=field.path
            )

    def check_depth(self, depth: int) -> None:
        if depth > self.limits.max_depth:
            raise faults.query_invalid(f"The query is nested deeper than {self.limits.max_depth} levels.")

    def leaf(self, node: Node) -> Node:
        """Count one condition against ``max_conditions``."""
        self.conditions += 1
        if self.conditions > self.limits.max_conditions:
            raise faults.query_invalid(f"The query has more than {self.limits.max_conditions} conditions.")
        return node


def _circle(value: Any, path: str) -> Circle:
    """``{"$center": [lng, lat], "$radius": km}`` (Cortex's shape)."""
    if not isinstance(value, dict) or set(value) != {"$center", "$radius"}:
        raise faults.query_invalid('$within expects {"$center": [lng, lat], "$radius": km}.', path=path)
    center, radius = value["$center"], value["$radius"]
    if (
        not isinstance(center, list)
        or len(center) != 2
        or not all(is_number(coordinate) for coordinate in center)
        or not -180 <= center[0] <= 180
        or not -90 <= center[1] <= 90
    ):
        raise faults.query_invalid(
            "$center must be an array of 2 elements with valid lng and lat values.", path=path
        )
    if not is_number(radius) or radius < 0:
        raise faults.query_invalid("$radius must be a number of kilometres, at least 0.", path=path)
    return Circle(lng=float(center[0]), lat=float(center[1]), radius_km=float(radius))
