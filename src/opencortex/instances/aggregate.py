"""``GET /{plural}?pipeline=[...]``: an aggregation pipeline over the instances a caller can see.

The pipeline is compiled to one SQL statement whose innermost source is the very condition a
list of the same caller uses (``Instances.condition``: org, object, the ACL filter), narrowed to
the instances on which the caller can read every property the pipeline reads. Properties the
caller can never read are refused by name, as in ``where``. Nothing is loaded into Python but
the page of results.

A pipeline that ends on instances (no ``$group`` or ``$project``) returns them serialised as a
list does (``paths``, ``include`` and ``expand`` apply), each ``$unwind``'s array replaced by
the element of that row.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from opencortex import faults
from opencortex.instances.selection import Selection
from opencortex.instances.serialise import DocumentPlan
from opencortex.instances.service import Instances
from opencortex.query.parse import parse_where
from opencortex.query.pipeline import CompiledPipeline, compile_pipeline, parse_pipeline
from opencortex.query.pipeline.ast import Pipeline, Unwind
from opencortex.store.tables import documents


@dataclass(frozen=True)
class Aggregation:
    """A parsed and compiled pipeline, ready to run for one caller."""

    instances: Instances
    pipeline: Pipeline
    compiled: CompiledPipeline
    plan: DocumentPlan | None  # how instances are serialised, when the output is instances

    def page(self, skip: int, limit: int) -> tuple[list[dict[str, Any]], bool]:
        """The output after ``skip``, at most ``limit`` items, and whether more follow."""
        rows = [row for batch in self.batches(skip, limit + 1, stream=False) for row in batch]
        return rows[:limit], len(rows) > limit

    def batches(self, skip: int = 0, limit: int | None = None, *, stream: bool = True, batch_size: int = 1000
                ) -> Iterator[list[dict[str, Any]]]:
        """The output in order, in batches from one statement; ``stream`` reads it through a
        streamed cursor (server-side on PostgreSQL), so memory stays flat however long it is."""
        connection = self.instances.connection
        if stream:
            connection = connection.execution_options(yield_per=batch_size)
        with _arithmetic_faults():
            result = connection.execute(self.compiled.statement(skip, limit))
            with result:  # closes a server-side cursor whatever stops the reading
                for batch in result.partitions(batch_size):
                    yield self._output([self.compiled.decode(row) for row in batch])

    def total(self) -> int:
        with _arithmetic_faults():
            return int(self.instances.connection.execute(self.compiled.count_statement()).scalar_one())

    def _output(self, decoded: list[Any]) -> list[dict[str, Any]]:
        if self.plan is None:
            return decoded
        serialised = self.plan.serialise_rows([row for row, _ in decoded], self.instances.load_expanded)
        unwinds = self.pipeline.unwinds
        return [_with_elements(document, unwinds, positions)
                for document, (_, positions) in zip(serialised, decoded, strict=True)]


def prepare_aggregation(instances: Instances, pipeline: Any, *, selection: Selection | None = None,
                        where: Mapping[str, Any] | None = None) -> Aggregation:
    """Parse ``pipeline`` (JSON text or a list) for this caller and compile it; ``where`` narrows
    the instances it reads (a List property's own condition). Every fault comes out here, before
    anything runs."""
    schema = instances.query_schema()
    parsed = parse_pipeline(pipeline, schema, own_arrays(instances, schema.properties))
    if parsed is None:
        raise faults.query_invalid("pipeline must be a JSON array of 1 to 20 stages.", path="pipeline")
    plan = None
    if parsed.outputs_documents:
        plan = DocumentPlan.build(instances.definition, instances.viewer, selection or Selection())
    elif selection is not None and selection != Selection():
        raise faults.query_invalid("paths, include and expand apply to instances; this pipeline makes records "
                                   "($group or $project): name the fields there.", path="pipeline")
    narrowed = parse_where(dict(where), schema) if where else None
    source = sa.and_(
        documents.c.org_id == instances.org_id,
        documents.c.object == instances.definition.name,
        instances.condition(narrowed, named=parsed.named),
    )
    return Aggregation(instances, parsed, compile_pipeline(parsed, instances.dialect, source), plan)


def own_arrays(instances: Instances, paths: Any) -> set[str]:
    """The property paths whose own value is an array (in the base definition or any type)."""
    definition = instances.definition
    arrays = set()
    for path in paths:
        found = [definition.find_property(path)]
        found += [definition.find_property(path, name) for name in definition.object_types]
        if any(prop is not None and prop.array for prop in found):
            arrays.add(path)
    return arrays


def _with_elements(document: dict[str, Any], unwinds: tuple[Unwind, ...], positions: tuple[int, ...]
                   ) -> dict[str, Any]:
    """The serialised instance with each unwound array replaced by this row's element."""
    for unwind, position in zip(unwinds, positions, strict=True):
        *holders, last = unwind.path.split(".")
        container: Any = document
        for key in holders:
            container = container.get(key) if isinstance(container, dict) else None
        if isinstance(container, dict) and isinstance(container.get(last), list) \
                and 0 <= position < len(container[last]):
            container[last] = container[last][position]
    return document


@contextmanager
def _arithmetic_faults() -> Iterator[None]:
    """SQLite's sum() stops on 64-bit integer overflow: the caller's data, not a server error."""
    try:
        yield
    except OperationalError as error:
        if "integer overflow" in str(error.orig):
            raise faults.query_invalid("A sum in the pipeline is beyond 64-bit integers.", path="pipeline") from None
        raise
