"""Incremental exports (``since``): only what changed after a base, plus what left it.

Every export of an object's instances records what it read as of (``ChangeRecord``, in the
export's ``changes`` column and its manifest): the database's change mark (``store.changes``:
exact, no clock), the time, and a fingerprint of the object's definition. An export with
``since`` then reads, in the same snapshot as the rest of its data:

- the instances created or changed after its base that match its ``where`` (the data entry);
- ``deleted.ndjson``: one line per instance that a consumer holding the base must remove:
  ``{"_id", "object", "deleted": <when>}`` for those deleted after the base (and not created
  again since), ``{"_id", "object", "unmatched": <when changed>}`` for those changed after the
  base that no longer match ``where``.

So applying the data (upsert by ``_id``) and removing the listed ``_id``s, in any order, turns a
copy of the base into a copy of this export's full equivalent. The rules that keep that true
(same request as the base, an unchanged definition, no ``principal``/``prefix``/``expand``,
tombstones kept long enough) are checked at create (``check_since``) and again when the export
runs (``open_changes``); docs/exports.md explains each.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import Connection

from opencortex import faults
from opencortex.acl.viewer import Viewer
from opencortex.clock import as_utc, iso, utcnow
from opencortex.exports import queue
from opencortex.exports.archive import ZipStreamWriter
from opencortex.exports.jobs import ExportJob, ExportParameters, ExportState, new_event
from opencortex.exports.manifest import ManifestEntry
from opencortex.exports.since import ExportSince
from opencortex.exports.targets import ExportTarget, TargetKind, instance_plan
from opencortex.instances.service import Instances
from opencortex.model.definitions import ObjectDefinition
from opencortex.query.parse import parse_where
from opencortex.store.changes import changed_after, current_change_mark
from opencortex.store.tables import deleted_documents, deleted_documents_purged, documents

DELETED_NAME = "deleted.ndjson"
DELETED_KIND = "deleted"
NDJSON = "application/x-ndjson"
# A tombstone's time is the deleting statement's; its transaction may commit a little later. A base
# is only used while tombstones this much older than it are still kept.
MARGIN = timedelta(days=1)
_BATCH = 1000
# What may differ between an incremental export and its base: how it is named, what runs after it.
_FREE = frozenset({"since", "afterScript", "storageId"})
Transform = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


@dataclass(frozen=True)
class ChangeRecord:
    """What an archive of an object's instances was read as of (the ``changes`` column)."""

    mark: str
    """The database's change mark (``store.changes``)."""
    as_of: datetime
    definition: str
    """SHA-256 of the object definition the data was read with."""

    def to_json(self) -> dict[str, Any]:
        return {"asOf": self.mark, "at": iso(self.as_of), "definition": self.definition}

    @classmethod
    def from_json(cls, stored: Any) -> ChangeRecord | None:
        if not isinstance(stored, dict) or not isinstance(stored.get("asOf"), str):
            return None
        moment = datetime.fromisoformat(str(stored["at"]).replace("Z", "+00:00"))
        return cls(stored["asOf"], as_utc(moment), str(stored["definition"]))


@dataclass(frozen=True)
class ChangeWindow:
    """An incremental export's window: after its base export's mark (exact), or after a date."""

    since: ExportSince
    base: ExportJob | None = None
    base_record: ChangeRecord | None = None
    after: datetime | None = None

    def documents_changed(self, dialect: str) -> Any:
        if self.base_record is not None:
            return changed_after(documents.c.change_seq, self.base_record.mark, dialect)
        return sa.func.coalesce(documents.c.updated, documents.c.created) > self.after

    def tombstones_changed(self, dialect: str) -> Any:
        if self.base_record is not None:
            return changed_after(deleted_documents.c.change_seq, self.base_record.mark, dialect)
        return deleted_documents.c.deleted > self.after

    def to_json(self) -> dict[str, Any]:
        if self.base is not None and self.base_record is not None:
            return {"export": self.base.id, "asOf": self.base_record.mark, "at": iso(self.base_record.as_of)}
        return {"date": iso(self.after)}


@dataclass
class ChangeTracking:
    """One run's change bookkeeping: what it reads as of, and its window when it is incremental."""

    record: ChangeRecord
    window: ChangeWindow | None
    instances: Instances
    where: dict[str, Any] | None
    events: list[dict[str, Any]] = field(default_factory=list)

    def documents_condition(self, dialect: str) -> Any:
        """What narrows the data to the window (None: a full export)."""
        return None if self.window is None else self.window.documents_changed(dialect)

    def write_deleted(self, zip_writer: ZipStreamWriter, transform: Transform | None = None) -> ManifestEntry | None:
        """``deleted.ndjson`` (incremental exports only), written from the run's snapshot;
        ``transform``: what the data's documents go through (de-identification), applied to each line."""
        if self.window is None:
            return None
        entry = zip_writer.open_entry(DELETED_NAME)
        records = 0
        for lines in self._removed():
            encoded = [orjson.dumps(line) for line in (transform(lines) if transform is not None else lines)]
            entry.write((b"\n" if records else b"") + b"\n".join(encoded))
            records += len(lines)
        info = entry.close()
        return ManifestEntry.from_info(info, DELETED_KIND, records=records, format=NDJSON)

    def manifest_json(self) -> dict[str, Any]:
        """The manifest's ``changes``: this archive's mark, and what it is incremental to."""
        return {"asOf": self.record.mark, "since": None if self.window is None else self.window.to_json()}

    def _removed(self) -> Iterator[list[dict[str, Any]]]:
        instances, window = self.instances, self.window
        assert window is not None
        connection, dialect, org_id = instances.connection, instances.dialect, instances.org_id
        name = instances.definition.name
        still_there = sa.select(documents.c.id).where(
            documents.c.org_id == deleted_documents.c.org_id, documents.c.object == deleted_documents.c.object,
            documents.c.id == deleted_documents.c.id).exists()
        tombstones = sa.select(deleted_documents.c.id, deleted_documents.c.deleted).where(
            deleted_documents.c.org_id == org_id, deleted_documents.c.object == name,
            window.tombstones_changed(dialect), ~still_there)
        yield from _keyset(connection, tombstones, deleted_documents.c.id, name, "deleted")
        if self.where is None:
            return
        matching = instances.condition(parse_where(self.where, instances.query_schema()))
        unmatched = sa.select(documents.c.id, sa.func.coalesce(documents.c.updated, documents.c.created)).where(
            documents.c.org_id == org_id, documents.c.object == name, window.documents_changed(dialect),
            sa.not_(sa.func.coalesce(matching, sa.false())))
        yield from _keyset(connection, unmatched, documents.c.id, name, "unmatched")


def _keyset(connection: Connection, statement: sa.Select[Any], key: Any, name: str,
            what: str) -> Iterator[list[dict[str, Any]]]:
    last: str | None = None
    while True:
        page = statement if last is None else statement.where(key > last)
        rows = connection.execute(page.order_by(key).limit(_BATCH)).all()
        if not rows:
            return
        yield [{"_id": row[0], "object": name, what: iso(as_utc(row[1]))} for row in rows]
        last = rows[-1][0]


# At create


def check_since(connection: Connection, org_id: str, parameters: ExportParameters, target: ExportTarget,
                viewer: Viewer) -> None:
    """Refuse ``since`` where an incremental export could not be exact (raises one fault at ``since``)."""
    since = parameters.since
    if since is None:
        return
    problem = _unsupported(parameters, target, viewer)
    if problem is None and since.export_id is not None:
        problem = _base_problem(connection, org_id, parameters, since.export_id, at_create=True)
    if problem is None and since.moment is not None:
        if since.moment > utcnow():
            problem = "since is a date in the future: nothing has changed after it yet."
        else:
            problem = _purged_after(connection, org_id, since.moment)
    if problem is not None:
        raise faults.invalid_argument(problem, path="since")


def _unsupported(parameters: ExportParameters, target: ExportTarget, viewer: Viewer) -> str | None:
    """Combinations whose result would not be a true delta: each would need changes that leave
    no trace in the exported instances themselves."""
    if target.kind is TargetKind.LOGS:
        return "since is not available for the Logs."
    if target.kind is not TargetKind.OBJECT:
        return ("since cannot be used with prefix: what a List or a document array holds changes without "
                "its instances changing.")
    if parameters.principal is not None:
        return ("since cannot be used with principal: what an account may read changes with its roles and "
                "the object's access, without any instance changing.")
    if parameters.expand or instance_plan(target, viewer, parameters.paths, parameters.include, ()).expands():
        return ("since cannot be used with expanded references: a referenced instance changes without the "
                "exported one changing.")
    return None


def _base_problem(connection: Connection, org_id: str, parameters: ExportParameters, export_id: str, *,
                  at_create: bool) -> str | None:
    try:
        base = queue.get_export(connection, org_id, export_id)
    except faults.Fault:
        return f"since names export {export_id}, which does not exist (it may have expired or been deleted)."
    if at_create and base.state is ExportState.ERROR:
        return f"since names export {export_id}, which ended in error: it has no data to continue from."
    if base.state is ExportState.READY and ChangeRecord.from_json(base.changes) is None:
        return f"since names export {export_id}, which recorded no change mark (made before incremental exports)."
    difference = request_difference(base.parameters, parameters)
    if difference is not None:
        return f"since names export {export_id}, which asked for other data ({difference} differs)."
    return None


def request_difference(base: ExportParameters, parameters: ExportParameters) -> str | None:
    """The first property (other than ``since``, ``afterScript``) in which two exports ask for
    different data; None when they ask for the same."""
    ours, theirs = _request(parameters), _request(base)
    for key in sorted(ours.keys() | theirs.keys()):
        if ours.get(key) != theirs.get(key):
            return key
    return None


def _request(parameters: ExportParameters) -> dict[str, Any]:
    shown = {key: value for key, value in parameters.to_json().items() if key not in _FREE}
    shown["where"] = parameters.where.document if parameters.where is not None else None
    return shown


# When the export runs


def open_changes(connection: Connection, dialect: str, job: ExportJob, definition: ObjectDefinition,
                 instances: Instances, where: dict[str, Any] | None) -> ChangeTracking:
    """This run's change mark and, for ``since``, its window; a fault when ``since`` names a base
    it cannot continue from (``previous`` then falls back to a full export, saying why)."""
    record = ChangeRecord(current_change_mark(connection, dialect), utcnow(), definition_fingerprint(definition))
    tracking = ChangeTracking(record, None, instances, where)
    since = job.parameters.since
    if since is None:
        return tracking
    if since.moment is not None:
        problem = _purged_after(connection, job.org_id, since.moment)
        if problem is not None:
            raise faults.invalid_argument(problem, path="since")
        tracking.window = ChangeWindow(since, after=since.moment)
        return tracking
    base = _base(connection, job)
    if base is None:
        tracking.events.append(new_event("since.full", {"reason": "the schedule has no previous ready export"}))
        return tracking
    problem = _run_problem(connection, job, base, record)
    if problem is not None:
        if since.previous:
            tracking.events.append(new_event("since.full", {"reason": problem, "previous": base.id}))
            return tracking
        raise faults.invalid_argument(problem, path="since")
    tracking.window = ChangeWindow(since, base=base, base_record=ChangeRecord.from_json(base.changes))
    tracking.events.append(new_event("since.base", {"export": base.id}))
    return tracking


def _base(connection: Connection, job: ExportJob) -> ExportJob | None:
    since = job.parameters.since
    assert since is not None
    if since.previous:
        if job.schedule_id is None:
            raise faults.invalid_argument("since: previous belongs to export schedules.", path="since")
        return queue.previous_schedule_export(connection, job.org_id, job.schedule_id, job)
    assert since.export_id is not None
    try:
        return queue.get_export(connection, job.org_id, since.export_id)
    except faults.Fault:
        raise faults.invalid_argument(f"since names export {since.export_id}, which no longer exists.",
                                      path="since") from None


def _run_problem(connection: Connection, job: ExportJob, base: ExportJob, record: ChangeRecord) -> str | None:
    if base.state is not ExportState.READY:
        return f"export {base.id}, the base, is {base.state.value}: only a ready export can be continued."
    base_record = ChangeRecord.from_json(base.changes)
    if base_record is None:
        return f"export {base.id}, the base, recorded no change mark."
    difference = request_difference(base.parameters, job.parameters)
    if difference is not None:
        return f"export {base.id}, the base, asked for other data ({difference} differs)."
    if base_record.definition != record.definition:
        return (f"the definition of {job.parameters.objects} changed after export {base.id}: what an instance "
                "shows may have changed without the instance changing; make a full export.")
    return _purged_after(connection, job.org_id, base_record.as_of - MARGIN)


def _purged_after(connection: Connection, org_id: str, moment: datetime) -> str | None:
    """A fault's reason when tombstones of deletions after ``moment`` may have been purged."""
    purged = connection.execute(sa.select(deleted_documents_purged.c.purged_before).where(
        deleted_documents_purged.c.org_id == org_id)).scalar()
    if purged is not None and as_utc(purged) > moment:
        return (f"deletions before {iso(as_utc(purged))} are no longer recorded (OPENCORTEX_TOMBSTONE_DAYS): "
                "since must be after that; make a full export.")
    return None


def definition_fingerprint(definition: ObjectDefinition) -> str:
    """SHA-256 of the definition as stored (its times left out): any change to it changes this."""
    body = {key: value for key, value in definition.to_json().items() if key not in ("created", "updated")}
    return hashlib.sha256(orjson.dumps({"id": definition.id, **body}, option=orjson.OPT_SORT_KEYS)).hexdigest()
