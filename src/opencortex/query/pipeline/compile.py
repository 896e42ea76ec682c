"""Compile a pipeline to one SQL statement over ``documents`` (SQLite or PostgreSQL).

The innermost source is the caller's ``source`` condition on ``documents`` (org, object, access
control: what a list of the same caller covers), plus the leading ``$match`` stages. Each stage
then works on a relation (a table with joins, or a subquery) without ever leaving SQL:

- ``$sort`` puts its keys in front of the relation's order (so ties keep the previous order,
  which starts as ``_id`` descending, newest first);
- ``$skip``/``$limit`` cut the relation in that order (a subquery with OFFSET/LIMIT);
- ``$unwind`` joins the array's elements (``json_each`` / ``jsonb_array_elements``), ordered by
  element after the instance's own order;
- ``$group`` is a GROUP BY, or, when an accumulator depends on order (``$first``, ``$last``,
  ``$push``), window functions over each group's partition in the relation's order, keeping one
  row per partition (SQLite before 3.44 has no ordered aggregates); records come out ordered by
  their key;
- ``$project`` replaces the fields by expressions over the same relation.

The final statement selects the fields (or, when the pipeline ends on instances, the documents
columns and the position of each unwound element) in the relation's order, with the query's
``skip`` and ``limit``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause

from opencortex.query.compile import compile_where
from opencortex.query.dialects import Location
from opencortex.query.pipeline.ast import (
    DocumentField,
    Group,
    Kind,
    Limit,
    Literal,
    Match,
    Pipeline,
    Project,
    RecordField,
    Skip,
    Sort,
    Unwind,
)
from opencortex.query.pipeline.records import render
from opencortex.query.pipeline.sql_values import SQL, SqlValues
from opencortex.store.tables import documents

DOCUMENT_COLUMNS = ("id", "type", "owner", "creator", "updater", "created", "updated", "acl", "body")


@dataclass(frozen=True)
class _ElementColumns:
    """An unwound SQLite element carried through a subquery: what ``SqliteJson`` reads of a
    ``json_each`` row (its ``value`` and ``type``)."""

    c: Any


@dataclass(frozen=True)
class _Element:
    location: Location  # the element itself
    index: SQL  # its position in the array
    value: SQL  # the column holding it
    type: SQL | None  # SQLite's json_each type column


@dataclass
class _Relation:
    from_: FromClause
    where: list[ColumnElement[bool]]
    order: list[tuple[SQL, int]]
    columns: Mapping[str, SQL] = field(default_factory=dict)  # documents columns (instances)
    elements: list[_Element] = field(default_factory=list)  # each $unwind's element (instances)
    fields: dict[str, SQL] | None = None  # by output name (records)
    kinds: dict[str, Kind] = field(default_factory=dict)


@dataclass(frozen=True)
class CompiledPipeline:
    relation: _Relation
    values: SqlValues
    outputs_documents: bool
    unwinds: int

    def statement(self, skip: int = 0, limit: int | None = None) -> sa.Select[Any]:
        """The pipeline's rows in order, after skipping ``skip`` and at most ``limit`` of them."""
        statement = self._select().order_by(*self.values.ordered(self.relation.order))
        if skip:
            statement = statement.offset(skip)
        if limit is not None:
            statement = statement.limit(limit)
        return statement

    def count_statement(self) -> sa.Select[Any]:
        """How many rows the pipeline gives (without the query's skip and limit)."""
        return sa.select(sa.func.count()).select_from(self._select().subquery())

    def decode(self, row: Any) -> Any:
        """A record (``records.render``), or for instances ``(documents row, element positions)``."""
        mapping = row._mapping
        if self.outputs_documents:
            document = {name: mapping[name] for name in DOCUMENT_COLUMNS}
            positions = tuple(int(mapping[f"u{k}_index"]) - (1 if self.values.postgres else 0)
                              for k in range(self.unwinds))
            return document, positions
        fields = self.relation.fields or {}
        return render({name: mapping[f"f{i}"] for i, name in enumerate(fields)}, self.relation.kinds)

    def _select(self) -> sa.Select[Any]:
        relation = self.relation
        if relation.fields is not None:
            columns = [value.label(f"f{i}") for i, value in enumerate(relation.fields.values())]
        else:
            columns = [relation.columns[name].label(name) for name in DOCUMENT_COLUMNS]
            columns += [element.index.label(f"u{k}_index") for k, element in enumerate(relation.elements)]
        return sa.select(*columns).select_from(relation.from_).where(*relation.where)


def compile_pipeline(pipeline: Pipeline, dialect: str, source: ColumnElement[bool]) -> CompiledPipeline:
    """``source`` selects the instances the pipeline reads: a condition on ``documents`` (org,
    object, access control)."""
    values = SqlValues(dialect)
    relation = _Relation(from_=documents, where=[source], order=[(documents.c.id, -1)],
                         columns={name: documents.c[name] for name in DOCUMENT_COLUMNS})
    compiler = _Compiler(values, dialect)
    for stage in pipeline.stages:
        relation = compiler.stage(stage, relation)
    return CompiledPipeline(relation, values, pipeline.outputs_documents, len(pipeline.unwinds))


class _Compiler:
    def __init__(self, values: SqlValues, dialect: str) -> None:
        self.values = values
        self.dialect = dialect
        self.postgres = values.postgres

    def stage(self, stage: Any, relation: _Relation) -> _Relation:
        if isinstance(stage, Match):
            # The parser lets $match through only while the relation is still ``documents`` itself.
            return replace(relation, where=[*relation.where, compile_where(stage.condition, self.dialect)])
        if isinstance(stage, Sort):
            keys = [(self.value(expression, relation), direction) for expression, direction in stage.keys]
            return replace(relation, order=keys + relation.order)
        if isinstance(stage, Skip):
            return self.wrap(relation, offset=stage.count)
        if isinstance(stage, Limit):
            return self.wrap(relation, limit=stage.count)
        if isinstance(stage, Unwind):
            return self.unwind(stage, relation)
        if isinstance(stage, Group):
            return self.group(stage, relation)
        assert isinstance(stage, Project)
        fields = {name: self.value(expression, relation) for name, expression in stage.fields}
        kinds = {name: expression.kind for name, expression in stage.fields}
        return replace(relation, fields=fields, kinds=kinds, columns={}, elements=[])

    def value(self, expression: Any, relation: _Relation) -> SQL:
        return self.values.expression(expression, lambda field: self.read(field, relation))

    def read(self, field: DocumentField | RecordField, relation: _Relation) -> SQL:
        if isinstance(field, RecordField):
            assert relation.fields is not None
            return relation.fields[field.name]
        if field.column is not None:
            return self.values.column(relation.columns[field.column], field.column)
        if field.unwind is not None:
            location = relation.elements[field.unwind].location
        else:
            location = Location(relation.columns["body"])
        if field.keys:
            location = self.values.json.child(location, field.keys)
        return self.values.typed(location, field.kind)

    def unwind(self, stage: Unwind, relation: _Relation) -> _Relation:
        json = self.values.json
        container = (relation.elements[stage.parent].location if stage.parent is not None
                     else Location(relation.columns["body"]))
        table, element, index, is_array = json.unwound(json.child(container, stage.keys))
        kind_column = table.c.type if not self.postgres else None
        bound = _Element(element, index, table.c.value, kind_column)
        return replace(relation, from_=relation.from_.join(table, sa.true()), where=[*relation.where, is_array],
                       order=[*relation.order, (index, 1)], elements=[*relation.elements, bound])

    def group(self, stage: Group, relation: _Relation) -> _Relation:
        grouped = [(name, self.value(key, relation)) for name, key in stage.keys if not isinstance(key, Literal)]
        key_columns = [value.label(f"k{i}") for i, (_, value) in enumerate(grouped)]
        window: dict[str, Any] | None = None
        if stage.ordered:
            window = {"partition_by": [value for _, value in grouped] or None,
                      "order_by": self.values.ordered(relation.order), "rows": (None, None)}
        accumulator_columns = [
            self.values.accumulator(accumulator, self.value(accumulator.arg, relation), window).label(f"a{i}")
            for i, (_, accumulator) in enumerate(stage.accumulators)
        ]
        columns: list[Any] = [*key_columns, *accumulator_columns]
        if window is not None:
            number = sa.func.row_number().over(partition_by=window["partition_by"], order_by=window["order_by"])
            columns.append(number.label("rn"))
        statement = sa.select(*columns).select_from(relation.from_).where(*relation.where)
        if window is None:
            if grouped:
                # By output name: a key holding a bound parameter would not match its GROUP BY copy.
                statement = statement.group_by(*(sa.literal_column(f"k{i}") for i in range(len(grouped))))
            else:
                statement = statement.having(sa.func.count() > 0)  # no instances, no record (as in Mongo)
        table = statement.subquery()
        fields: dict[str, SQL] = {}
        kinds: dict[str, Kind] = {}
        position = 0
        for name, key in stage.keys:
            kinds[name] = key.kind
            if isinstance(key, Literal):
                fields[name] = self.values.literal(key.value, key.kind)
            else:
                fields[name] = table.c[f"k{position}"]
                position += 1
        for i, (name, accumulator) in enumerate(stage.accumulators):
            column = table.c[f"a{i}"]
            kinds[name] = accumulator.kind
            fields[name] = self.values.distinct(column, accumulator.kind) if accumulator.kind.unique else column
        where = [table.c.rn == 1] if window is not None else []
        order: list[tuple[SQL, int]] = [(table.c[f"k{i}"], 1) for i in range(len(grouped))]
        return _Relation(from_=table, where=where, order=order, fields=fields, kinds=kinds)

    def wrap(self, relation: _Relation, *, offset: int = 0, limit: int | None = None) -> _Relation:
        """The relation cut by OFFSET/LIMIT in its order, as a subquery that keeps every column
        later stages read (and the order itself)."""
        columns: list[Any] = []
        if relation.fields is not None:
            columns += [value.label(f"f{i}") for i, value in enumerate(relation.fields.values())]
        else:
            columns += [relation.columns[name].label(name) for name in DOCUMENT_COLUMNS]
            for k, element in enumerate(relation.elements):
                columns += [element.value.label(f"u{k}_value"), element.index.label(f"u{k}_index")]
                if element.type is not None:
                    columns.append(element.type.label(f"u{k}_type"))
        columns += [expression.label(f"o{i}") for i, (expression, _) in enumerate(relation.order)]
        statement = (sa.select(*columns).select_from(relation.from_).where(*relation.where)
                     .order_by(*self.values.ordered(relation.order)).offset(offset))
        if limit is not None:
            statement = statement.limit(limit)
        table = statement.subquery()
        order: list[tuple[SQL, int]] = [(table.c[f"o{i}"], d) for i, (_, d) in enumerate(relation.order)]
        if relation.fields is not None:
            fields: dict[str, SQL] = {name: table.c[f"f{i}"] for i, name in enumerate(relation.fields)}
            return _Relation(from_=table, where=[], order=order, fields=fields, kinds=relation.kinds)
        elements = []
        for k, element in enumerate(relation.elements):
            value = table.c[f"u{k}_value"]
            if element.type is None:
                location = Location(value)
                kind_column = None
            else:
                kind_column = table.c[f"u{k}_type"]
                location = Location(value, element=_ElementColumns(_Columns(value, kind_column)))
            elements.append(_Element(location, table.c[f"u{k}_index"], value, kind_column))
        return _Relation(from_=table, where=[], order=order,
                         columns={name: table.c[name] for name in DOCUMENT_COLUMNS}, elements=elements)


@dataclass(frozen=True)
class _Columns:
    value: SQL
    type: SQL

