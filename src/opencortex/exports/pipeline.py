"""One export run: read -> serialise -> format -> zip -> encrypt -> store, streaming throughout.

``ExportRun`` does it in phases, one method each: clear earlier attempts' output, open the
source, write the data entry (or its parts, ``maxEntryBytes``), write the format's extra entries
(CSV's dictionary), copy files, finish (manifest, zip, commit, the ``dataFile`` facet).

Documents come from the export's source (``exports.sources``: an object's instances, a List's,
a document array's elements, or the Logs), read in batches inside one read transaction (a
consistent snapshot: the manifest's ``asOf``), serialised as the read API shows them, handed to
the format writer a batch at a time, and written through the streaming zip writer into the
encrypting file store. Nothing is visible until the store commits the archive; a failure or a
cancel aborts the writer and leaves nothing behind. With ``deidentify``, every batch goes through
the profile (``exports.deidentify``) before anything else sees it: the files' entry names, the
format writer, the CSV dictionary, the manifest.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from opencortex import faults
from opencortex.clock import utcnow
from opencortex.exports.archive import ZipStreamWriter
from opencortex.exports.data_entries import open_data_entries
from opencortex.exports.deidentify.profiles import open_deidentifier
from opencortex.exports.deidentify.transform import Deidentifier
from opencortex.exports.files import CopyResult, FileCollector, copy_files
from opencortex.exports.formats import FormatContext, FormatWriter
from opencortex.exports.formats.format import DescribeColumn, keep_value
from opencortex.exports.incremental import ChangeTracking
from opencortex.exports.jobs import ExportJob, new_event
from opencortex.exports.manifest import (
    SIGNATURE_FIELD,
    SIGNATURE_NAME,
    ManifestEntry,
    build_manifest,
    encode_manifest,
    sign_manifest,
)
from opencortex.exports.naming import MANIFEST_NAME, data_entry_name
from opencortex.exports.output import archive_key, output_prefix, remove_earlier_attempts
from opencortex.exports.relaxed_gc import relaxed_gc
from opencortex.exports.sharding import write_sharded_data
from opencortex.exports.sources import ExportSource, open_source
from opencortex.files import EncryptedWriter, StoredObject
from opencortex.model.properties.file import READY as FACET_READY
from opencortex.runtime import Runtime

HEARTBEAT_SECONDS = 0.5
ARCHIVE_MIME = "application/zip"
ARCHIVE_FACET = "content"
ARCHIVE_LOCATION = 4
"""The ``location`` of the archive's facet: the value Cortex's File facets show (cortex-api.md)."""

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
    changes: dict[str, Any] | None = None
    """What the archive was read as of (``exports.incremental``), for incremental exports after it."""


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
        self.deidentifier: Deidentifier | None = None
        self.as_of: datetime | None = None
        self.changes: ChangeTracking | None = None
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
                        as_of = self.as_of = utcnow()
                        source = self.open_source(connection)
                        zip_writer = ZipStreamWriter(writer, modified=self.job.created, progress=self._written)
                        formatter = self.write_data(source, zip_writer)
                        self.write_extra_entries(source, zip_writer, formatter)
                        self.write_deleted(zip_writer)
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
                       store_key=stored.key, size=stored.size, events=self.events, files=self.copied.stored,
                       changes=self.changes.record.to_json() if self.changes is not None else None)

    def clear_earlier_attempts(self) -> None:
        """A reclaimed job runs again from the start: earlier attempts' partial output goes."""
        remove_earlier_attempts(self.runtime, self.job.id, self.job.attempts)

    def open_source(self, connection: Connection) -> ExportSource:
        """What to read (``exports.sources``), as the export's principal, and how many documents
        that is (``progress.total``: the same filter and ACL)."""
        source = open_source(connection, self.runtime.database.dialect, self.job)
        self.progress["total"] = source.total()
        self.changes = source.changes  # what it reads as of; with since, its base (exports.incremental)
        if self.changes is not None:
            self.events += self.changes.events
        if self.parameters.deidentify_id is not None:
            owner = source.file_owner()  # the object whose instances are read (deidentify needs one)
            self.deidentifier = open_deidentifier(connection, self.runtime.master_key, self.job.org_id,
                                                  self.parameters.deidentify_id,
                                                  owner[1].name if owner is not None else self.parameters.object)
        if self.parameters.export_files:
            owner = source.file_owner()
            if owner is None:  # refused at create; kept as a guard for records written before
                raise faults.invalid_argument("exportFiles cannot be used with this export's objects or prefix.",
                                              path="exportFiles")
            plural, definition = owner
            self.collector = FileCollector(self.job.id, self.job.org_id, plural, definition,
                                           self.parameters.zip_files)
        return source

    def write_data(self, source: ExportSource, zip_writer: ZipStreamWriter) -> FormatWriter:
        """The data entry (or its parts), batch by batch; returns the (closed) format writer."""
        sharded = write_sharded_data(self, source, zip_writer)  # a large export, read by several processes
        if sharded is not None:
            return sharded
        export_format = self.parameters.format
        formatter = export_format.open_writer(self.parameters.format_options, None, self.format_context(source))
        collector, progress, deidentifier = self.collector, self.progress, self.deidentifier
        self.events.append(new_event("cursor.started"))
        try:
            output = open_data_entries(zip_writer, formatter, self.job.created, export_format.media_type,
                                       self.parameters.max_entry_bytes)
            output.begin()
            # Formats that take encoded documents, with nothing to rewrite, get them as bytes.
            encoded = export_format.accepts_encoded and collector is None and deidentifier is None
            with source.batches(encoded=encoded) as batches:
                for batch in batches:
                    if batch.encoded is not None:
                        output.write_encoded(batch.encoded)
                    else:
                        documents = batch.documents or []
                        if deidentifier is not None:
                            deidentifier.apply(documents)
                        if collector is not None:
                            collector.rewrite(documents)
                        output.write_documents(documents)
                    progress["docs"] = formatter.records
                    self.beat()
            self.events.append(new_event("cursor.completed", {"docs": formatter.records}))
            if export_format.finish_event:
                self.events.append(new_event(f"{export_format.finish_event}.started"))
            progress["phase"] = "writing"
            for _ in output.finish():
                self.beat()
            if export_format.finish_event:
                self.events.append(new_event(f"{export_format.finish_event}.completed"))
            self.entries += output.close()
        finally:
            formatter.close()
        return formatter

    def format_context(self, source: ExportSource) -> FormatContext:
        """What a format may need besides the documents (ODM's metadata comes from the definition)."""
        owner = source.file_owner()
        deidentifier = self.deidentifier
        return FormatContext(definition=owner[1] if owner is not None else None, paths=self.parameters.paths,
                             include=self.parameters.include, export_id=self.job.id, as_of=self.as_of,
                             value_rule=deidentifier.action_at if deidentifier is not None else keep_value)

    def describe(self, source: ExportSource) -> DescribeColumn:
        """The data dictionary's (type, label) of a column, as de-identification left its values."""
        deidentifier = self.deidentifier
        if deidentifier is None:
            return source.describe

        def describe(column: str) -> tuple[str, str] | None:
            described = source.describe(column)
            action = deidentifier.action_at(re.sub(r"\[\d+\]", "", column))
            if described is None or action in (None, "shiftDate"):
                return described
            return ("String", described[1])

        return describe

    def write_extra_entries(self, source: ExportSource, zip_writer: ZipStreamWriter, formatter: FormatWriter) -> None:
        """What the format adds after its data (CSV's ``dictionary.csv``, when asked for)."""
        extras = self.parameters.format.extra_entries(formatter, self.parameters.format_options, self.describe(source))
        for extra in extras:
            self.entries.append(ManifestEntry.from_info(zip_writer.write_entry(extra.name, [extra.content]),
                                                        extra.kind))

    def write_deleted(self, zip_writer: ZipStreamWriter) -> None:
        """``since``: ``deleted.ndjson``, the ``_id``s a copy of the base must remove
        (``exports.incremental``), de-identified like the data."""
        if self.changes is None:
            return
        deidentifier = self.deidentifier
        entry = self.changes.write_deleted(zip_writer, None if deidentifier is None else deidentifier.apply)
        if entry is not None:
            self.entries.append(entry)
            self.events.append(new_event("deleted.completed", {"records": entry.records}))

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
        """The manifest's signature and the manifest (the last entry), the zip's directory, and the
        commit that publishes the archive."""
        deidentifier = self.deidentifier
        applied = None if deidentifier is None else {"profile": deidentifier.name, "version": deidentifier.version}
        manifest = build_manifest(self.parameters, self.entries, as_of=as_of, export_id=self.job.id,
                                  created=self.job.created, deidentification=applied)
        if self.changes is not None:
            manifest["changes"] = self.changes.manifest_json()
        manifest["signature"] = dict(SIGNATURE_FIELD)
        encoded = encode_manifest(manifest)
        # Before the manifest, which stays the last entry: the signature is of its exact bytes.
        zip_writer.write_entry(SIGNATURE_NAME, [sign_manifest(self.runtime.master_key, self.job.org_id, encoded)])
        zip_writer.write_entry(MANIFEST_NAME, [encoded])
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
        return sum(entry.records or 0 for entry in self.entries if entry.kind == "data")  # the entry or its parts

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
