"""One export run: read -> serialise -> format -> zip -> encrypt -> store, streaming throughout.

``ExportRun`` does it in phases, one method each: clear earlier attempts' output, open the
source, write the data entry, write the format's extra entries (CSV's dictionary), copy files,
finish (manifest, zip, commit, the ``dataFile`` facet).

Documents are read in keyset-paged batches inside one read transaction (a consistent snapshot:
the manifest's ``asOf``), serialised by the same ``DocumentPlan`` as the read API, handed to the
format writer a batch at a time, and written through the streaming zip writer into the
encrypting file store. Nothing is visible until the store commits the archive; a failure or a
cancel aborts the writer and leaves nothing behind.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from opencortex import faults
from opencortex.acl.viewer import Viewer, as_principal
from opencortex.clock import utcnow
from opencortex.exports.archive import ZipStreamWriter
from opencortex.exports.files import CopyResult, FileCollector, copy_files
from opencortex.exports.formats import FormatWriter
from opencortex.exports.jobs import ExportJob, new_event
from opencortex.exports.manifest import ManifestEntry, build_manifest, encode_manifest
from opencortex.exports.naming import MANIFEST_NAME, data_entry_name
from opencortex.exports.output import archive_key, output_prefix, remove_earlier_attempts
from opencortex.exports.prefetch import prefetched
from opencortex.exports.relaxed_gc import relaxed_gc
from opencortex.files import EncryptedWriter, StoredObject
from opencortex.instances.lists import list_condition
from opencortex.instances.raw_rows import to_row
from opencortex.instances.selection import parse_selection
from opencortex.instances.serialise import DocumentPlan
from opencortex.instances.service import Instances
from opencortex.instances.splice import SplicePlan
from opencortex.model.definitions import ObjectDefinition
from opencortex.model.objects import get_object
from opencortex.model.properties.file import READY as FACET_READY
from opencortex.runtime import Runtime

BATCH_SIZE = 1000
HEARTBEAT_SECONDS = 0.5
ARCHIVE_MIME = "application/zip"
ARCHIVE_FACET = "content"
ARCHIVE_LOCATION = 4
"""The ``location`` of the archive's facet: the value Cortex's File facets show (cortex-api.md)."""
_SYSTEM_COLUMNS = ("_id", "object", "created", "updated", "type", "access")

# Called with the progress document; returns False when the run must stop (cancelled, or the
# lease was lost to another worker).
Heartbeat = Callable[[dict[str, Any]], bool]


class Stopped(Exception):
    """The run was told to stop; nothing it wrote is kept."""


@dataclass
class Outcome:
    documents: int
    """Written to the data entry."""
    stats: dict[str, Any]
    data_file: dict[str, Any]
    sha256: str
    store_key: str
    size: int
    events: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)  # stored beside the archive


@dataclass(frozen=True)
class ExportSource:
    """What the run reads, as whom: the export's object (or, with ``prefix``, one instance's list)."""

    definition: ObjectDefinition
    instances: Instances
    where: dict[str, Any] | None
    """The condition document (the export's ``where``, with the list's condition for a prefix)."""
    plan: DocumentPlan


def run_export(runtime: Runtime, job: ExportJob, heartbeat: Heartbeat) -> Outcome:
    return ExportRun(runtime, job, heartbeat).run()


class ExportRun:
    """One attempt at one export; ``run()`` once."""

    def __init__(self, runtime: Runtime, job: ExportJob, heartbeat: Heartbeat) -> None:
        self.runtime = runtime
        self.job = job
        self.parameters = job.parameters
        self.heartbeat = heartbeat
        self.entry_name = data_entry_name(job.created, job.parameters.format.media_type)
        self.progress: dict[str, Any] = {"phase": "reading", "docs": 0, "total": None, "bytes": 0}
        self.events: list[dict[str, Any]] = []
        self.entries: list[ManifestEntry] = []
        self.collector: FileCollector | None = None
        self.copied = CopyResult()
        self._last_beat = 0.0

    def run(self) -> Outcome:
        with relaxed_gc():
            self.clear_earlier_attempts()
            database = self.runtime.database
            writer = self.runtime.file_store.open_writer(archive_key(self.job.id, self.job.attempts))
            try:
                with database.connect() as connection:
                    if database.dialect == "postgresql":
                        connection.execution_options(isolation_level="REPEATABLE READ")
                    with connection.begin():
                        as_of = utcnow()
                        source = self.open_source(connection)
                        zip_writer = ZipStreamWriter(writer, modified=self.job.created, progress=self._written)
                        formatter = self.write_data(source, zip_writer)
                        self.write_extra_entries(source, zip_writer, formatter)
                        self.copy_files(zip_writer)
                stored = self.finish(zip_writer, writer, as_of)
            except BaseException:
                writer.abort()
                raise
            finally:
                if self.collector is not None:
                    self.collector.close()
        return Outcome(documents=self.documents(), stats=self.stats(), data_file=self.data_file(stored),
                       sha256=stored.sha256,
                       store_key=stored.key, size=stored.size, events=self.events, files=self.copied.stored)

    def clear_earlier_attempts(self) -> None:
        """A reclaimed job runs again from the start: earlier attempts' partial output goes."""
        remove_earlier_attempts(self.runtime, self.job.id, self.job.attempts)

    def open_source(self, connection: Connection) -> ExportSource:
        """The object (or the prefix's list) to read, as the export's principal, and how many
        documents that is (``progress.total``: the same filter and ACL)."""
        job, parameters = self.job, self.parameters
        dialect = self.runtime.database.dialect
        principal = parameters.principal
        viewer = Viewer.system(job.org_id) if principal is None else as_principal(connection, job.org_id, principal)
        definition = get_object(connection, job.org_id, parameters.object)
        where = parameters.where.document if parameters.where is not None else None
        if parameters.prefix is not None:
            prefix = parameters.prefix
            Instances(connection, dialect, job.org_id, definition, viewer).get_row(prefix.instance_id)
            prop = definition.find_property(prefix.list_property)
            if prop is None:
                raise faults.invalid_argument("The prefix's list property no longer exists.", path="prefix")
            definition = get_object(connection, job.org_id, prop.option("sourceObject"))
            condition = list_condition(prop, prefix.instance_id)
            where = {"$and": [condition, where]} if where is not None else condition
        instances = Instances(connection, dialect, job.org_id, definition, viewer)
        plan = DocumentPlan.build(definition, viewer,
                                  parse_selection(list(parameters.paths) or None, list(parameters.include),
                                                  list(parameters.expand)))
        self.progress["total"] = instances.count(where)
        if parameters.export_files:
            self.collector = FileCollector(job.id, job.org_id, definition.plural_name, definition,
                                           parameters.zip_files)
        return ExportSource(definition, instances, where, plan)

    def write_data(self, source: ExportSource, zip_writer: ZipStreamWriter) -> FormatWriter:
        """The data entry, batch by batch; returns the (closed) format writer."""
        export_format = self.parameters.format
        dialect = self.runtime.database.dialect
        formatter = export_format.open_writer(self.parameters.csv, None)
        collector, instances, plan, progress = self.collector, source.instances, source.plan, self.progress
        self.events.append(new_event("cursor.started"))
        try:
            entry = zip_writer.open_entry(self.entry_name)
            entry.write(formatter.begin())
            # Documents built from the stored bodies, not value by value, where the plan allows;
            # formats that take encoded documents, without files, get them straight as bytes.
            splice = SplicePlan.build(plan, dialect)
            encode = splice is not None and export_format.accepts_encoded and collector is None
            scan = instances.scan_raw(source.where, BATCH_SIZE)
            # On PostgreSQL the next batch is read (by the server, in another process) while this
            # one is encoded, unless encoding reads too. SQLite reads in this process: measured,
            # a reading thread only added contention for the GIL.
            ahead = dialect == "postgresql" and not plan.expands()
            with prefetched(scan) if ahead else nullcontext(scan) as batches:
                for rows in batches:
                    if encode:
                        assert splice is not None
                        encoded = splice.encode_rows(rows, instances.load_expanded)
                        entry.write(formatter.write_encoded(encoded, single_line=True))
                    else:
                        documents = (splice.documents(rows, instances.load_expanded) if splice is not None
                                     else plan.serialise_rows([to_row(row) for row in rows], instances.load_expanded))
                        if collector is not None:
                            collector.rewrite(documents)
                        entry.write(formatter.write_documents(documents))
                    progress["docs"] = formatter.records
                    self.beat()
            self.events.append(new_event("cursor.completed", {"docs": formatter.records}))
            if export_format.finish_event:
                self.events.append(new_event(f"{export_format.finish_event}.started"))
            progress["phase"] = "writing"
            for chunk in formatter.finish():
                entry.write(chunk)
                self.beat()
            if export_format.finish_event:
                self.events.append(new_event(f"{export_format.finish_event}.completed"))
            info = entry.close()
        finally:
            formatter.close()
        self.entries.append(ManifestEntry.from_info(info, "data", records=formatter.records,
                                                    format=export_format.media_type))
        return formatter

    def write_extra_entries(self, source: ExportSource, zip_writer: ZipStreamWriter, formatter: FormatWriter) -> None:
        """What the format adds after its data (CSV's ``dictionary.csv``, when asked for)."""
        extras = self.parameters.format.extra_entries(formatter, self.parameters.csv,
                                                      describe_columns(source.definition))
        for extra in extras:
            self.entries.append(ManifestEntry.from_info(zip_writer.write_entry(extra.name, [extra.content]),
                                                        extra.kind))

    def copy_files(self, zip_writer: ZipStreamWriter) -> None:
        """``exportFiles``: the files the data refers to, into the archive or beside it."""
        collector = self.collector
        if collector is None:
            return
        self.progress["phase"] = "files"
        self.events.append(new_event("files.started", {"files": collector.count}))
        self.copied = copy_files(collector, self.runtime.file_store, zip_writer,
                                 output_prefix(self.job.id, self.job.attempts), self.beat)
        self.entries += self.copied.entries
        self.events.append(new_event("files.completed", {"files": self.copied.count,
                                                         "skipped": self.copied.skipped}))

    def finish(self, zip_writer: ZipStreamWriter, writer: EncryptedWriter, as_of: datetime) -> StoredObject:
        """The manifest (last entry), the zip's directory, and the commit that publishes the archive."""
        manifest = build_manifest(self.parameters, self.entries, as_of=as_of, export_id=self.job.id,
                                  created=self.job.created)
        zip_writer.write_entry(MANIFEST_NAME, [encode_manifest(manifest)])
        zip_writer.close()
        self.beat(force=True)
        return writer.commit()

    def data_file(self, stored: StoredObject) -> dict[str, Any]:
        """The archive's facet (``dataFile``), as Cortex shows a ready file."""
        return {
            "name": ARCHIVE_FACET,
            "mime": ARCHIVE_MIME,
            "state": FACET_READY,
            "filename": self.entry_name,
            "size": stored.size,
            "ETag": stored.md5,
            "sha256": stored.sha256,
            "path": f"/exports/{self.job.id}/dataFile/{ARCHIVE_FACET}",
            "location": ARCHIVE_LOCATION,
            "creator": self.job.creator,
        }

    def documents(self) -> int:
        return self.entries[0].records or 0  # the data entry comes first

    def stats(self) -> dict[str, Any]:
        return {"docs": {"count": self.documents()},
                "files": {"count": self.copied.count, "size": self.copied.size}}

    def beat(self, force: bool = False) -> None:
        """Report progress (at most every ``HEARTBEAT_SECONDS``); ``Stopped`` when told to stop."""
        now = time.monotonic()
        if force or now - self._last_beat >= HEARTBEAT_SECONDS:
            self._last_beat = now
            if not self.heartbeat(dict(self.progress)):
                raise Stopped()

    def _written(self, written: int) -> None:
        self.progress["bytes"] = written


def describe_columns(definition: ObjectDefinition) -> Callable[[str], tuple[str, str] | None]:
    """``c_visits[0].c_when`` -> (type, label) of ``c_visits.c_when`` in the definition."""

    def describe(column: str) -> tuple[str, str] | None:
        if column in _SYSTEM_COLUMNS:
            return ("Date" if column in ("created", "updated") else "String", column)
        path = re.sub(r"\[\d+\]", "", column)
        prop = definition.find_property(path)
        if prop is None:
            parent = definition.find_property(path.rsplit(".", 1)[0]) if "." in path else None
            if parent is not None and parent.type_name == "Reference":
                return ("ObjectId" if path.endswith("._id") else "String", parent.label)
            return None
        return (prop.type_name, prop.label)

    return describe
