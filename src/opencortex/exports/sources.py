"""Where an export run reads its documents: one ``ExportSource`` per kind of target, behind one protocol.

``open_source`` resolves the export's target (``exports.targets``) as its principal and returns:

- ``InstanceSource``: an object's instances, or those a List lists; keyset-paged batches of
  stored rows, serialised by the read API's plan, or encoded straight from the stored bodies
  (``instances.splice``) when the format takes encoded documents;
- ``DocumentArraySource``: the elements of one instance's document array, each read as a read
  of the instance shows it, filtered by ``where`` (evaluated on the stored elements);
- ``LogSource``: the org's Logs, as ``GET /logs`` shows them, projected to ``paths``.

The run (``exports.pipeline``) only asks a source how many documents it holds, for its batches,
how to describe a column (CSV's data dictionary: ``exports.dictionary_columns``) and which
object its files belong to.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import Connection

from opencortex import faults
from opencortex.acl.viewer import Viewer, as_principal
from opencortex.exports.dictionary_columns import (
    DescribeColumn,
    FindObject,
    describe_element_columns,
    describe_instance_columns,
    describe_log_column,
)
from opencortex.exports.incremental import ChangeTracking, open_changes
from opencortex.exports.jobs import ExportJob
from opencortex.exports.prefetch import prefetched
from opencortex.exports.projection import project
from opencortex.exports.targets import (
    ExportTarget,
    TargetKind,
    instance_plan,
    is_logs,
    parse_target_where,
    resolve_target,
)
from opencortex.instances.lists import list_condition
from opencortex.instances.paths import read_path
from opencortex.instances.raw_rows import to_row
from opencortex.instances.serialise import DocumentPlan
from opencortex.instances.service import Instances
from opencortex.instances.splice import SplicePlan
from opencortex.logs import count_logs, scan_logs
from opencortex.model.definitions import ObjectDefinition
from opencortex.model.objects import find_object, get_object
from opencortex.query.ast import Node
from opencortex.query.evaluate import matches
from opencortex.query.parse import where_document
from opencortex.store.tables import documents

BATCH_SIZE = 1000


@dataclass(frozen=True)
class Batch:
    """Documents to write: as values, or (the fast path) each already encoded on one line."""

    documents: list[dict[str, Any]] | None = None
    encoded: list[bytes] | None = None


class ExportSource(Protocol):
    changes: ChangeTracking | None
    """What an object's instances are read as of, and the window of an incremental export."""

    def total(self) -> int:
        """How many documents the export will hold (``progress.total``)."""
        ...

    def batches(self, *, encoded: bool) -> AbstractContextManager[Iterator[Batch]]:
        """The documents, batch by batch; ``encoded``: the format takes encoded documents."""
        ...

    def describe(self, column: str) -> tuple[str, str] | None:
        """(type, label) of a CSV column, for the data dictionary."""
        ...

    def file_owner(self) -> tuple[str, ObjectDefinition] | None:
        """(plural, definition) whose File properties ``exportFiles`` copies; None: it cannot."""
        ...


def open_source(connection: Connection, dialect: str, job: ExportJob) -> ExportSource:
    """The export's source, read as its principal (or, without one, in full as the system)."""
    parameters = job.parameters
    org_id = job.org_id
    if parameters.principal is None:
        viewer = Viewer.system(org_id)
    else:
        viewer = as_principal(connection, org_id, parameters.principal)
    where = parameters.where.document if parameters.where is not None else None
    if is_logs(parameters.object):
        # The Logs API's ACL applies to whom the export reads as: its principal, else its creator.
        reader = viewer if parameters.principal is not None else as_principal(connection, org_id, job.creator)
        target = resolve_target(connection, dialect, org_id, None, None, reader)
        return LogSource(connection, org_id, parse_target_where(target, connection, dialect, org_id, reader, where),
                         parameters.paths)
    definition = get_object(connection, org_id, parameters.object)
    target = resolve_target(connection, dialect, org_id, definition, parameters.prefix, viewer)
    plan = instance_plan(target, viewer, parameters.paths, parameters.include, parameters.expand)
    assert target.definition is not None
    instances = Instances(connection, dialect, org_id, target.definition, viewer)
    if target.kind is TargetKind.DOCUMENT_ARRAY:
        node = parse_target_where(target, connection, dialect, org_id, viewer, where)
        return DocumentArraySource(instances, target, plan, node)
    if target.kind is TargetKind.LIST:
        assert target.prefix is not None and target.list_property is not None
        condition = list_condition(target.list_property, target.prefix.instance_id)
        given = where_document(where)
        where = {"$and": [condition, given]} if given else condition
    # What the archive reads as of, for exports after it; with ``since``, only the changes.
    changes = open_changes(connection, dialect, job, target.definition, instances,
                           parameters.where.document if parameters.where is not None else None)
    return InstanceSource(instances, where, plan, dialect, changes)


class InstanceSource:
    """An object's instances (or a List's), as the read API serialises them."""

    def __init__(self, instances: Instances, where: dict[str, Any] | None, plan: DocumentPlan, dialect: str,
                 changes: ChangeTracking | None = None) -> None:
        self.instances = instances
        self.where = where
        self.plan = plan
        self.dialect = dialect
        self.changes = changes
        self._changed = None if changes is None else changes.documents_condition(dialect)
        self._after: str | None = None  # a shard's start (``within``)
        self._describe: DescribeColumn | None = None

    def total(self) -> int:
        also = self._changed
        if self._after is not None:
            also = documents.c.id > self._after if also is None else sa.and_(also, documents.c.id > self._after)
        return self.instances.count(self.where, also=also)

    @property
    def also(self) -> Any:
        """The SQL condition read beside ``where`` and the ACL (an incremental export's window, a
        shard's ``_id`` range), or None."""
        return self._changed

    def within(self, after: str | None, upto: str | None) -> InstanceSource:
        """The same documents with ``after < _id <= upto`` only (None: that end open): one shard
        of a sharded export (``exports.sharding``). The scan starts after ``after`` (its keyset)."""
        shard = copy.copy(self)
        if upto is not None:
            shard._changed = documents.c.id <= upto if self._changed is None else sa.and_(self._changed,
                                                                                          documents.c.id <= upto)
        shard._after = after
        return shard

    @contextmanager
    def batches(self, *, encoded: bool) -> Iterator[Iterator[Batch]]:
        instances, plan = self.instances, self.plan
        # Documents built from the stored bodies, not value by value, where the plan allows;
        # formats that take encoded documents get them straight as bytes.
        splice = SplicePlan.build(plan, self.dialect)
        encode = encoded and splice is not None
        scan = instances.scan_raw(self.where, BATCH_SIZE, also=self._changed, after=self._after)
        # On PostgreSQL the next batch is read (by the server, in another process) while this
        # one is encoded, unless encoding reads too. SQLite reads in this process: measured,
        # a reading thread only added contention for the GIL.
        ahead = self.dialect == "postgresql" and not plan.expands()
        with prefetched(scan) if ahead else nullcontext(scan) as raw_batches:

            def render() -> Iterator[Batch]:
                for rows in raw_batches:
                    if encode:
                        assert splice is not None
                        yield Batch(encoded=splice.encode_rows(rows, instances.load_expanded))
                    elif splice is not None:
                        yield Batch(documents=splice.documents(rows, instances.load_expanded))
                    else:
                        yield Batch(documents=plan.serialise_rows([to_row(row) for row in rows],
                                                                  instances.load_expanded))

            yield render()

    def describe(self, column: str) -> tuple[str, str] | None:
        if self._describe is None:
            self._describe = describe_instance_columns(self.instances.definition, _object_finder(self.instances))
        return self._describe(column)

    def file_owner(self) -> tuple[str, ObjectDefinition] | None:
        definition = self.instances.definition
        return definition.plural_name, definition


class DocumentArraySource:
    """The elements of one instance's document array: one document each."""

    def __init__(self, instances: Instances, target: ExportTarget, plan: DocumentPlan, where: Node | None) -> None:
        assert target.prefix is not None
        self.instances = instances
        self.target = target
        self.plan = plan
        self.where = where
        self._elements: list[dict[str, Any]] | None = None
        self.changes: ChangeTracking | None = None
        self._describe: DescribeColumn | None = None

    def elements(self) -> list[dict[str, Any]]:
        """The elements that match ``where``, as a read of the instance shows them."""
        if self._elements is None:
            prefix = self.target.prefix
            assert prefix is not None
            parts = prefix.property_path.split(".")
            row = self.instances.get_row(prefix.instance_id)
            stored = _elements_at(row["body"], parts)
            wanted = {element.get("_id") for element in stored if matches(self.where, element)}
            shown = self.plan.serialise_rows([row], self.instances.load_expanded)[0]
            try:
                value = read_path(shown, parts)
            except faults.Fault:  # not there, or hidden from this principal: no elements
                value = []
            self._elements = [element for element in value if isinstance(element, dict)
                              and element.get("_id") in wanted] if isinstance(value, list) else []
        return self._elements

    def total(self) -> int:
        return len(self.elements())

    def batches(self, *, encoded: bool) -> AbstractContextManager[Iterator[Batch]]:
        elements = self.elements()
        return nullcontext(Batch(documents=elements[start:start + BATCH_SIZE])
                           for start in range(0, len(elements), BATCH_SIZE))

    def describe(self, column: str) -> tuple[str, str] | None:
        if self._describe is None:
            self._describe = describe_element_columns(self.target.element_properties(),
                                                      _object_finder(self.instances))
        return self._describe(column)

    def file_owner(self) -> tuple[str, ObjectDefinition] | None:
        return None


class LogSource:
    """The org's Logs, as ``GET /logs`` shows each record (projected to ``paths``)."""

    def __init__(self, connection: Connection, org_id: str, where: Node | None, paths: Sequence[str]) -> None:
        self.changes: ChangeTracking | None = None
        self.connection = connection
        self.org_id = org_id
        self.where = where
        self.paths = [tuple(path.split(".")) for path in paths] or None

    def total(self) -> int:
        return count_logs(self.connection, self.org_id, self.where)

    def batches(self, *, encoded: bool) -> AbstractContextManager[Iterator[Batch]]:
        # Each batch is fetched whole by its own statement: nothing stays open between them.
        scan = scan_logs(self.connection, self.org_id, self.where, BATCH_SIZE)
        paths = self.paths
        return nullcontext(Batch(documents=[project(record, paths) for record in records] if paths else records)
                           for records in scan)

    def describe(self, column: str) -> tuple[str, str] | None:
        return describe_log_column(column)

    def file_owner(self) -> tuple[str, ObjectDefinition] | None:
        return None


def _elements_at(body: Any, parts: list[str]) -> list[dict[str, Any]]:
    value = body
    for part in parts:
        value = value.get(part) if isinstance(value, dict) else None
    return [element for element in value if isinstance(element, dict)] if isinstance(value, list) else []


def _object_finder(instances: Instances) -> FindObject:
    """The definitions of the objects expanded references name, read in the export's transaction."""
    return lambda name: find_object(instances.connection, instances.org_id, name)
