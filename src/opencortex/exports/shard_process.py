"""A shard process of a sharded export (``exports.sharding`` starts it).

The process opens its own runtime from the worker's settings and a database connection, then
waits for its ``ShardTask``. It reads the export's record again and opens the same source the run
opened (``exports.sources.open_source``: the same where, ACL, paths, include, expand,
de-identification) in the worker's snapshot: on PostgreSQL the very snapshot (``SET TRANSACTION
SNAPSHOT`` of the one the worker exported), on SQLite one it proves equal (the same change mark
and definition fingerprint; otherwise it says ``stale`` and reads nothing, and the worker and the
other shards read its share). Then it asks the worker for ranges of ``_id``, one at a time, until
none is left. Each range's records are written the way a whole export writes them, without what
starts or ends the data entry, and deflated into pieces of a few MiB: each by a fresh compressor
ended with ``deflate.end_segment``, each an encrypted object in the attempt's folder.

The conversation on its pipe to the worker, after the task:

- it says ``("ready",)`` (or ``("stale",)``, and ends);
- it asks ``("next",)``; the worker answers ``("range", ShardRange)`` or ``("none",)``;
- ``("progress", records)`` now and then; ``("piece", ShardPiece)`` as each piece is stored, so
  the worker can join it at once; ``("range", RangeDone)`` when a range is complete;
- CSV: every range is spilled first; then ``("columns", [...])`` and it waits for
  ``("header", [...])`` (the union of every shard's columns) before it lays out its rows;
- ``("done", ShardResult)``; or ``("failed", kind, reason, path, resource, message)`` for a
  fault, ``("crashed", text)`` for anything else.

A worker that goes away closes its end of the pipe; the shard notices between two batches and
stops, leaving its partial object to the attempt's clean-up.
"""

from __future__ import annotations

import contextlib
import logging
import re
import resource
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection as Channel
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from opencortex import faults
from opencortex.exports import sources
from opencortex.exports.deflate import Compressor, compressor_factory, crc32, end_segment
from opencortex.exports.deidentify.profiles import open_deidentifier
from opencortex.exports.deidentify.transform import Deidentifier
from opencortex.exports.formats import FormatContext, FormatWriter
from opencortex.exports.formats.csv_writer import CsvWriter
from opencortex.exports.formats.format import keep_value
from opencortex.exports.jobs import ExportJob
from opencortex.exports.queue import get_export
from opencortex.exports.relaxed_gc import relaxed_gc
from opencortex.exports.sources import Batch, InstanceSource, open_source
from opencortex.files import EncryptedFileStore, EncryptedWriter
from opencortex.keys import MasterKey
from opencortex.query.sqlite_functions import install_sqlite_functions
from opencortex.runtime import Runtime
from opencortex.settings import Settings
from opencortex.store.database import Database

log = logging.getLogger("opencortex.exports")
PROGRESS_SECONDS = 0.25
_BUFFER = 256 * 1024  # compressed bytes gathered before a write to the store
_SNAPSHOT_ID = re.compile(r"^[0-9A-Fa-f]+-[0-9A-Fa-f]+(?:-[0-9A-Fa-f]+)?$")


class WorkerGone(Exception):  # noqa: N818 -- a condition, not an error of this process
    """The worker closed the pipe (it stopped the export, or died): nothing more to do."""


@dataclass(frozen=True)
class ShardRange:
    """One range of the export's ``_id``s: ``after < _id <= upto`` (None: that end open)."""

    index: int
    after: str | None
    upto: str | None
    documents: int
    """What the range holds in the worker's snapshot (each reader checks it read as many)."""


@dataclass(frozen=True)
class ShardTask:
    """What a shard process reads with and where it writes; sent once the ranges are planned."""

    org_id: str
    export_id: str
    process: int
    mark: str
    """The worker's change mark and definition fingerprint: the snapshot this shard must read."""
    definition: str
    snapshot: str | None
    """PostgreSQL: the id of the worker's exported snapshot."""
    folder: str
    """Where its pieces go: a folder in the attempt's."""
    level: int
    backend: str
    batch_size: int
    piece_bytes: int
    """Bytes of records after which a piece ends (at the end of a batch)."""
    as_of: datetime | None


@dataclass(frozen=True)
class ShardPiece:
    """One stored piece of a range: an encrypted object holding raw deflate ended by
    ``deflate.end_segment``, of ``size`` bytes of records with CRC-32 ``crc``."""

    range: int
    number: int
    key: str
    size: int
    crc: int


@dataclass(frozen=True)
class RangeDone:
    range: int
    records: int
    pieces: int


@dataclass(frozen=True)
class ShardResult:
    process: int
    records: int
    ranges: int
    pieces: int
    seconds: float
    """Reading, encoding and deflating its records."""
    cpu_seconds: float
    peak_rss: int


def run_shard(settings: Settings, channel: Channel) -> None:
    """The shard process's entry point (``multiprocessing.Process`` target). It opens its runtime
    and a database connection at once, then waits for its ``ShardTask``: the worker starts shard
    processes before it has planned the ranges, so that this start-up overlaps the planning."""
    logging.basicConfig(stream=sys.stderr, level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    task: ShardTask | None = None
    try:
        runtime = _open_runtime(settings)
        try:
            with runtime.database.connect() as connection:
                try:
                    task = channel.recv()
                except EOFError:  # the worker needed no shards after all, or stopped
                    return
                assert isinstance(task, ShardTask)
                result = _run(runtime, connection, task, channel)
        finally:
            runtime.close()
        if result is not None:
            _send(channel, ("done", result))
    except WorkerGone:
        return
    except faults.Fault as fault:
        _tell(channel, ("failed", fault.kind, fault.reason, fault.path, fault.resource, fault.message))
    except BaseException as error:
        log.exception("export %s: a shard failed", task.export_id if task is not None else "?")
        _tell(channel, ("crashed", f"{type(error).__name__}: {error}"))
    finally:
        channel.close()


def _run(runtime: Runtime, connection: Connection, task: ShardTask, channel: Channel) -> ShardResult | None:
    dialect = runtime.database.dialect
    if dialect == "postgresql":
        connection.execution_options(isolation_level="REPEATABLE READ")
    with relaxed_gc(), connection.begin():
        if task.snapshot is not None:
            if not _SNAPSHOT_ID.match(task.snapshot):
                raise ValueError(f"{task.snapshot!r} is not a PostgreSQL snapshot id")
            # The first statement of the transaction: it then sees what the worker sees.
            connection.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{task.snapshot}'")
        job = get_export(connection, task.org_id, task.export_id)
        source = open_source(connection, dialect, job)
        record = source.changes.record if source.changes is not None else None
        if (not isinstance(source, InstanceSource) or record is None or record.mark != task.mark
                or record.definition != task.definition):
            _send(channel, ("stale",))
            return None
        _send(channel, ("ready",))
        return ShardRun(runtime, connection, task, channel, job, source).run()


class ShardRun:
    """This process's share of the export: ranges asked for one at a time, until none is left."""

    def __init__(self, runtime: Runtime, connection: Connection, task: ShardTask, channel: Channel, job: ExportJob,
                 source: InstanceSource) -> None:
        self.runtime = runtime
        self.task = task
        self.channel = channel
        self.source = source
        parameters = self.parameters = job.parameters
        self.deidentifier: Deidentifier | None = None
        if parameters.deidentify_id is not None:
            self.deidentifier = open_deidentifier(connection, runtime.master_key, job.org_id,
                                                  parameters.deidentify_id, source.instances.definition.name)
        deidentifier = self.deidentifier
        self.context = FormatContext(definition=source.instances.definition, paths=parameters.paths,
                                     include=parameters.include, export_id=job.id, as_of=task.as_of,
                                     value_rule=deidentifier.action_at if deidentifier is not None else keep_value)
        self.records = 0
        """Read so far, in every range."""
        self.ranges = 0
        self.pieces = 0
        self._last_report = 0.0

    def run(self) -> ShardResult:
        started = time.monotonic()
        sources.BATCH_SIZE = self.task.batch_size  # page as the worker does
        spilled: list[tuple[ShardRange, CsvWriter]] = []  # CSV: laid out once the header is known
        try:
            while (shard_range := self.next_range()) is not None:
                self.ranges += 1
                writer = self.parameters.format.open_writer(self.parameters.format_options, None, self.context)
                if isinstance(writer, CsvWriter):
                    spilled.append((shard_range, writer))
                    self.read(shard_range, writer, None)
                    continue
                try:
                    with self.pieces_of(shard_range) as pieces:
                        self.read(shard_range, writer, pieces)
                        self.range_done(shard_range, writer, pieces)
                finally:
                    writer.close()
            if spilled:
                header = self.header([writer for _, writer in spilled])
                # In _id order, the order the worker joins them in (those taken below the split
                # came last).
                for shard_range, writer in sorted(spilled, key=lambda spill: spill[0].index):
                    with self.pieces_of(shard_range) as pieces:
                        for chunk in writer.finish_body(header):
                            pieces.write(chunk)
                        self.range_done(shard_range, writer, pieces)
        finally:
            for _, writer in spilled:
                writer.close()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return ShardResult(self.task.process, self.records, self.ranges, self.pieces,
                           seconds=time.monotonic() - started, cpu_seconds=usage.ru_utime + usage.ru_stime,
                           peak_rss=peak_rss())

    def next_range(self) -> ShardRange | None:
        _send(self.channel, ("next",))
        message = _receive(self.channel)
        if message[0] == "range":
            assert isinstance(message[1], ShardRange)
            return message[1]
        return None

    def read(self, shard_range: ShardRange, writer: FormatWriter, pieces: PieceWriter | None) -> None:
        """The range's records into ``pieces`` (CSV: into the writer's spill file)."""
        encoded = self.parameters.format.accepts_encoded and self.deidentifier is None
        before = self.records
        with self.source.within(shard_range.after, shard_range.upto).batches(encoded=encoded) as batches:
            for chunk in record_chunks(batches, writer, self.deidentifier):
                if pieces is not None:
                    pieces.write(chunk)
                self.report(before + writer.records)
        self.records = before + writer.records
        self.report(self.records, force=True)
        if writer.records != shard_range.documents:
            raise RuntimeError(f"range {shard_range.index} held {shard_range.documents} documents in the worker's "
                               f"snapshot; this shard read {writer.records}")

    @contextlib.contextmanager
    def pieces_of(self, shard_range: ShardRange) -> Iterator[PieceWriter]:
        pieces = PieceWriter(self.runtime.file_store, self.task, shard_range, self.channel)
        try:
            yield pieces
        finally:
            pieces.abort()

    def range_done(self, shard_range: ShardRange, writer: FormatWriter, pieces: PieceWriter) -> None:
        pieces.finish()
        self.pieces += pieces.count
        _send(self.channel, ("range", RangeDone(shard_range.index, writer.records, pieces.count)))

    def header(self, writers: list[CsvWriter]) -> list[str]:
        """CSV: hand the worker this shard's columns, and wait for the header of every shard's."""
        columns: dict[str, None] = {}
        for writer in writers:
            columns.update(dict.fromkeys(writer.seen_columns()))
        _send(self.channel, ("columns", list(columns)))
        message = _receive(self.channel)
        if message[0] != "header":
            raise WorkerGone()
        return list(message[1])

    def report(self, records: int, *, force: bool = False) -> None:
        """Progress, now and then; and whether the worker still wants this shard (it closes the
        pipe when not)."""
        now = time.monotonic()
        if force or now - self._last_report >= PROGRESS_SECONDS:
            self._last_report = now
            if self.channel.poll():  # nothing is sent to a shard while it reads: the pipe closed
                with contextlib.suppress(EOFError):
                    self.channel.recv()
                raise WorkerGone()
            _send(self.channel, ("progress", records))


def record_chunks(batches: Iterable[Batch], writer: FormatWriter, deidentifier: Deidentifier | None
                  ) -> Iterator[bytes]:
    """A range's records as bytes, joined by the format's separator, with nothing before the first
    one or after the last (what starts, separates and ends the data entry is the worker's). The
    same encoding calls a whole data entry makes (``exports.data_entries``), so the same bytes;
    CSV spills its rows and yields nothing here (``CsvWriter.finish_body`` lays them out)."""
    separator = writer.separator
    first = True
    for batch in batches:
        if batch.encoded is not None:
            records = writer.encode_encoded(batch.encoded, single_line=True)
        else:
            documents = batch.documents or []
            if deidentifier is not None:
                deidentifier.apply(documents)
            records = writer.encode_documents(documents)
        if records:
            if not first:
                records.insert(0, b"")  # the separator after the previous batch's last record
            first = False
            yield separator.join(records)


class PieceWriter:
    """Deflates a range's records into pieces of about ``piece_bytes`` bytes of records, each its
    own encrypted object, deflated by its own compressor and ended on a byte boundary; each
    stored piece is announced at once (``("piece", ShardPiece)``), so the worker can join it
    while the shard goes on."""

    def __init__(self, store: EncryptedFileStore, task: ShardTask, shard_range: ShardRange, channel: Channel) -> None:
        self.store = store
        self.task = task
        self.range = shard_range
        self.channel = channel
        self.count = 0
        _, self._new_compressor = compressor_factory(task.level, task.backend)
        self._sink: EncryptedWriter | None = None
        self._compressor: Compressor | None = None
        self._size = 0
        self._crc = 0
        self._buffer = bytearray()

    def write(self, data: bytes) -> None:
        if not data:
            return
        if self._sink is None:
            key = f"{self.task.folder}{self.range.index:05d}-{self.count + 1:06d}.deflate"
            self._sink = self.store.open_writer(key)
            self._compressor = self._new_compressor()
            self._size = self._crc = 0
        assert self._compressor is not None
        self._size += len(data)
        self._crc = crc32(data, self._crc)
        self._emit(self._compressor.compress(data))
        if self._size >= self.task.piece_bytes:
            self._end_piece()

    def finish(self) -> None:
        if self._sink is not None:
            self._end_piece()

    def abort(self) -> None:
        """Drop the piece being written (a no-op once ``finish`` ran)."""
        sink, self._sink = self._sink, None
        if sink is not None:
            sink.abort()

    def _end_piece(self) -> None:
        sink, compressor = self._sink, self._compressor
        assert sink is not None and compressor is not None
        self._emit(end_segment(compressor))
        self._flush()
        sink.commit()
        self._sink = self._compressor = None
        self.count += 1
        _send(self.channel, ("piece", ShardPiece(self.range.index, self.count, sink.key, self._size, self._crc)))

    def _emit(self, data: bytes) -> None:
        if data:
            self._buffer += data
            if len(self._buffer) >= _BUFFER:
                self._flush()

    def _flush(self) -> None:
        if self._buffer:
            assert self._sink is not None
            self._sink.write(bytes(self._buffer))
            self._buffer.clear()


def _send(channel: Channel, message: tuple[Any, ...]) -> None:
    try:
        channel.send(message)
    except OSError:  # a closed pipe: the worker stopped the export, or died
        raise WorkerGone() from None


def _tell(channel: Channel, message: tuple[Any, ...]) -> None:
    with contextlib.suppress(OSError):  # the worker is gone already
        channel.send(message)


def _receive(channel: Channel) -> tuple[Any, ...]:
    try:
        message = channel.recv()
    except EOFError:
        raise WorkerGone() from None
    if not isinstance(message, tuple) or not message:
        raise WorkerGone()
    return message


def _open_runtime(settings: Settings) -> Runtime:
    """The worker's runtime, opened again in this process: nothing is checked or written (the
    worker did that when it started), since a shard only reads the database."""
    master_key = MasterKey.load(settings.data_dir, settings.master_key)
    if master_key is None:
        raise RuntimeError(f"no master key: {Path(settings.data_dir) / 'master.key'} is missing")
    database = Database(settings.resolved_database_url)
    install_sqlite_functions(database.engine)
    return Runtime(settings, database, master_key)


def peak_rss() -> int:
    """This process's peak resident memory in bytes (``VmHWM``)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else 0
