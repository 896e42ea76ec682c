"""One export on every core: a large export's data phase split by ``_id`` into ranges read at once.

``write_sharded_data`` is the data phase of ``ExportRun`` (``exports.pipeline``) when an export
can be sharded. Its ``_id``s are split into ranges (``RANGES_PER_PROCESS`` per process), read by
up to ``OPENCORTEX_EXPORT_PROCESSES`` processes: the worker itself takes ranges from the front, in
order, and reads them straight into the zip entry; a shard process of its own per further process
(``exports.shard_process``) takes ranges one at a time, upward from a split placed when the first
of them has started (``shard_pool.RangeClaims``), and deflates each into pieces of a few MiB, each
an encrypted object in the attempt's folder. Once the worker reaches the split, it joins the
later ranges in ``_id`` order, piece by piece as each is stored, while the shard processes still
read the last ones: every piece is a deflate stream ended on a byte boundary without a final
block, so the pieces in order, with what starts, separates and ends the entry deflated between
them by the worker, are one valid deflate stream (``ZipEntryWriter.append_deflated``; the CRC-32
combined, the SHA-256 of the inflated bytes). The entry is byte for byte the one a single process
writes. Shard processes that run out of ranges above the split take the ones below it,
downward, until they meet the worker; so a shard process slow to start, or a loaded core, costs
only its share.

Which exports: an object's instances (or a List's), as NDJSON, JSON or CSV, without
``exportFiles`` (whose file collector belongs to one run) or ``maxEntryBytes`` parts, of at least
``SHARD_THRESHOLD`` documents. Any other export runs as it always did, in one process.

The ranges are ``_id`` quantiles of exactly the rows the export reads (found by the database
with the same condition: where, ACL, the window of ``since``), and every reader reads
the worker's snapshot:
on PostgreSQL the very snapshot (``pg_export_snapshot``), on SQLite, which cannot share one, a
snapshot each shard process proves equal by the database's change mark; one that cannot (a write
came in between) reads nothing, and the others read its share.

While shard processes run, the worker sums their progress into the export's, renews its lease and
notices a cancel; stopping, failing or losing a shard process ends every shard process and
removes their pieces, and the archive, never committed, is discarded with them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from opencortex.exports import sources
from opencortex.exports.archive import EntryInfo, ZipEntryWriter, ZipStreamWriter
from opencortex.exports.formats import CSV, JSON, NDJSON, FormatWriter
from opencortex.exports.formats.csv_cells import header_order
from opencortex.exports.formats.csv_writer import CsvWriter
from opencortex.exports.jobs import new_event
from opencortex.exports.manifest import ManifestEntry
from opencortex.exports.output import output_prefix
from opencortex.exports.shard_pool import JOIN_SHARE, ShardPool
from opencortex.exports.shard_process import ShardPiece, ShardRange, ShardTask, peak_rss, record_chunks
from opencortex.exports.sources import ExportSource, InstanceSource
from opencortex.query.parse import parse_where
from opencortex.store.tables import documents

if TYPE_CHECKING:
    from opencortex.exports.pipeline import ExportRun

log = logging.getLogger("opencortex.exports")

SHARD_THRESHOLD = 100_000
"""Exports of fewer documents are read by one process: starting processes would cost more than it saves."""
SHARDED_FORMATS = frozenset({NDJSON, JSON, CSV})
"""Formats whose data entry is records joined by a separator between what starts and ends it,
so ranges can be written apart. (ODM writes per-file metadata and is read by one process.)"""
RANGES_PER_PROCESS = 16
"""Ranges of ``_id`` per process: enough that the split falls close to where it should and that a
faster reader takes more of them, and that what is left to join once the last range is read is
small; few enough that each is large (the plan asks the database once per range)."""
PIECE_BYTES = 32 * 1024 * 1024
"""Bytes of records in a shard's piece (about 4 MiB deflated): small enough that the worker joins
a range's first pieces while the next are written, large enough that the flush ending each piece
and the fresh compressor after it cost nothing measurable."""
SHARDS_FOLDER = "shards/"
"""Under the attempt's folder: the shards' pieces, removed with the attempt's output."""
_WAIT_SECONDS = 0.2


def write_sharded_data(run: ExportRun, source: ExportSource, zip_writer: ZipStreamWriter) -> FormatWriter | None:
    """The data entry, written by several processes; None when this export is read by one
    (then nothing was written or recorded, and the run writes it as it always did)."""
    processes = run.runtime.settings.export_processes
    if not shardable(run, source, processes):
        return None
    assert isinstance(source, InstanceSource)
    # The shard processes start first: their start-up overlaps the plan.
    pool = ShardPool(run.runtime.settings, processes - 1)
    try:
        pool.start()
        ranges = plan_ranges(source, processes * RANGES_PER_PROCESS, run.progress["total"])
    except BaseException:
        pool.close()
        raise
    if len(ranges) < 2:
        pool.close()
        return None
    return ShardedData(run, source, zip_writer, ranges, pool).write()


def shardable(run: ExportRun, source: ExportSource, processes: int) -> bool:
    parameters = run.parameters
    total = run.progress.get("total")
    return (processes > 1 and isinstance(source, InstanceSource) and source.changes is not None
            and parameters.format.media_type in SHARDED_FORMATS and not parameters.export_files
            and run.collector is None and parameters.max_entry_bytes is None
            and isinstance(total, int) and total >= SHARD_THRESHOLD)


def plan_ranges(source: InstanceSource, count: int, total: int) -> list[ShardRange]:
    """Up to ``count`` ranges of ``_id``, each holding ``total // count`` of the documents the
    source reads (the last one the rest, counted): each boundary found by the database, stepping
    that many ``_id``s past the previous one in index order (``OFFSET``), so the plan costs a scan
    of the index, never a row in Python (0.06 s per million on SQLite, against 0.4 s to fetch
    every ``_id``: how measured, docs/exports.md)."""
    instances = source.instances
    connection = instances.connection
    condition = sa.and_(documents.c.org_id == instances.org_id, documents.c.object == instances.definition.name,
                        instances.condition(parse_where(source.where, instances.query_schema())))
    if source.also is not None:
        condition = sa.and_(condition, source.also)
    step = max(total // count, 1)
    ranges: list[ShardRange] = []
    after: str | None = None
    while len(ranges) < count - 1:
        beyond = condition if after is None else sa.and_(condition, documents.c.id > after)
        upto = connection.execute(sa.select(documents.c.id).where(beyond).order_by(documents.c.id)
                                  .limit(1).offset(step - 1)).scalar()
        if upto is None:
            break
        ranges.append(ShardRange(len(ranges), after, str(upto), step))
        after = str(upto)
    beyond = condition if after is None else sa.and_(condition, documents.c.id > after)
    rest = int(connection.execute(sa.select(sa.func.count()).select_from(documents).where(beyond)).scalar_one())
    if rest or not ranges:
        ranges.append(ShardRange(len(ranges), after, None, rest))
    return ranges


class ShardedData:
    """The data phase of one run, across processes; ``write()`` once."""

    def __init__(self, run: ExportRun, source: InstanceSource, zip_writer: ZipStreamWriter,
                 ranges: list[ShardRange], pool: ShardPool) -> None:
        self.run = run
        self.source = source
        self.zip_writer = zip_writer
        self.ranges = ranges
        self.pool = pool
        self.store = run.runtime.file_store
        self.folder = output_prefix(run.job.id, run.job.attempts) + SHARDS_FOLDER
        self.join_seconds = 0.0
        """Spent copying (and inflating to hash) the shards' pieces into the entry."""
        self.join_cpu_seconds = 0.0
        self.wait_seconds = 0.0
        """Spent waiting for the shard processes (for their pieces, their columns, their last word)."""

    def write(self) -> FormatWriter:
        run, pool = self.run, self.pool
        parameters = run.parameters
        writer = parameters.format.open_writer(parameters.format_options, None, run.format_context(self.source))
        run.events.append(new_event("cursor.started"))
        run.events.append(new_event("cursor.sharded", {"shards": len(self.ranges), "processes": pool.count + 1}))
        try:
            pool.assign(self.tasks(), self.ranges, 0.0 if isinstance(writer, CsvWriter) else JOIN_SHARE)
            entry = JoinedEntry(self.zip_writer.open_entry(run.entry_name), writer)
            own = self.read_own(writer, entry)
            if isinstance(writer, CsvWriter):
                self.write_csv(writer, entry)
            else:
                run.progress["phase"] = "writing"
                self.join_shards(entry)
                run.events.append(new_event("cursor.completed", {"docs": writer.records + pool.records()}))
            return self.finish(writer, entry, own)
        finally:
            writer.close()
            self.close()

    def tasks(self) -> list[ShardTask]:
        run, source = self.run, self.source
        assert source.changes is not None
        record = source.changes.record
        snapshot = None
        if run.runtime.database.dialect == "postgresql":
            # Valid while this transaction is open, which it is until the archive is written.
            snapshot = str(source.instances.connection.execute(sa.text("SELECT pg_export_snapshot()")).scalar_one())
        return [ShardTask(org_id=run.job.org_id, export_id=run.job.id, process=process, mark=record.mark,
                          definition=record.definition, snapshot=snapshot, folder=self.folder,
                          level=self.zip_writer.level, backend=self.zip_writer.backend,
                          batch_size=sources.BATCH_SIZE, piece_bytes=PIECE_BYTES, as_of=run.as_of)
                for process in range(1, self.pool.count + 1)]

    def read_own(self, writer: FormatWriter, entry: JoinedEntry) -> dict[str, Any]:
        """The ranges this process takes, from the front, each read in the run's own transaction
        straight into the entry (CSV: into the writer's spill file); its figures."""
        began, cpu = time.monotonic(), time.thread_time()
        ranges = 0
        while (index := self.pool.claims.next_for_worker()) is not None:
            shard_range = self.ranges[index]
            before = writer.records
            self.read_here(self.source.within(shard_range.after, shard_range.upto), writer, entry)
            if writer.records - before != shard_range.documents:
                raise RuntimeError(f"range {index} held {shard_range.documents} documents; this run read "
                                   f"{writer.records - before}")
            ranges += 1
        return {"docs": writer.records, "ranges": ranges, "seconds": round(time.monotonic() - began, 3),
                "cpuSeconds": round(time.thread_time() - cpu, 3)}

    def read_here(self, shard: InstanceSource, writer: FormatWriter, entry: JoinedEntry) -> None:
        export_format = self.run.parameters.format
        deidentifier = self.run.deidentifier
        encoded = export_format.accepts_encoded and deidentifier is None
        with shard.batches(encoded=encoded) as batches:
            entry.write_run(record_chunks(self.reporting(batches, writer), writer, deidentifier))

    def reporting(self, batches: Iterator[sources.Batch], writer: FormatWriter) -> Iterator[sources.Batch]:
        for batch in batches:
            yield batch
            self.report(writer, 0)

    def waiting(self) -> None:
        """While the worker waits for its shards."""
        began = time.monotonic()
        self.report(None, _WAIT_SECONDS)
        self.wait_seconds += time.monotonic() - began

    def report(self, writer: FormatWriter | None, timeout: float) -> None:
        """Take in (and answer) the shards' messages, waiting up to ``timeout``; beat with the
        progress of all."""
        pool = self.pool
        if writer is not None:
            pool.worker_records = writer.records
        if not pool.closed:
            pool.poll(timeout)
        self.run.progress["docs"] = pool.worker_records + pool.records()
        self.run.beat()

    def write_csv(self, writer: CsvWriter, entry: JoinedEntry) -> None:
        """CSV: one header for every range (the union of their columns, in CSV's header order),
        then each range's rows laid out under it."""
        run, pool = self.run, self.pool
        columns = set(writer.seen_columns())
        for shard_columns in pool.columns(self.waiting):
            columns.update(shard_columns)
        run.events.append(new_event("cursor.completed", {"docs": writer.records + pool.records()}))
        run.events.append(new_event("csv.started"))
        run.progress["phase"] = "writing"
        header = header_order(list(columns))
        pool.send_header(header)
        entry.write_run(self.beating(writer.finish_body(header)))
        self.join_shards(entry)
        run.events.append(new_event("csv.completed"))

    def join_shards(self, entry: JoinedEntry) -> None:
        """The ranges the shard processes read, in order, each piece copied into the entry as soon
        as it is stored (while they write the next ones), then removed."""
        pool = self.pool
        for index in pool.claims.after_worker():
            joined = 0
            while True:
                pieces = pool.pieces.get(index, [])
                if joined < len(pieces):
                    self.copy(entry, pieces[joined], first=joined == 0)
                    joined += 1
                    continue
                done = pool.ranges_done.get(index)
                if done is not None and joined == done.pieces:
                    break
                pool.require_open()
                self.waiting()

    def copy(self, entry: JoinedEntry, piece: ShardPiece, *, first: bool) -> None:
        began, cpu = time.monotonic(), time.thread_time()
        reader = self.store.open_reader(piece.key)
        try:
            entry.append_piece(self.beating(reader), piece.size, piece.crc, first=first)
        finally:
            reader.close()
        self.store.delete(piece.key)
        self.join_seconds += time.monotonic() - began
        self.join_cpu_seconds += time.thread_time() - cpu

    def beating(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """While the worker writes: the lease renewed, and the shard processes answered at once (one
        asking for its next range would otherwise wait for the whole join)."""
        pool = self.pool
        for chunk in chunks:
            yield chunk
            if not pool.closed:
                pool.poll(0)
            self.run.beat()

    def finish(self, writer: FormatWriter, entry: JoinedEntry, own: dict[str, Any]) -> FormatWriter:
        pool = self.pool
        pool.settle(self.waiting)
        writer.records += sum(done.records for done in pool.ranges_done.values())  # every range's documents
        self.run.progress["docs"] = writer.records
        info = entry.close()
        self.run.entries.append(ManifestEntry.from_info(info, "data", records=writer.records,
                                                        format=self.run.parameters.format.media_type))
        processes = [{**own, "joinSeconds": round(self.join_seconds, 3),
                      "joinCpuSeconds": round(self.join_cpu_seconds, 3), "waitSeconds": round(self.wait_seconds, 3),
                      "peakRss": peak_rss()}]
        for process in range(1, pool.count + 1):
            result = pool.finished.get(process)
            startup = round(pool.startup.get(process, 0.0), 3)
            if result is None:  # stale, or never asked for a range
                processes.append({"docs": 0, "ranges": 0, "stale": pool.ready.get(process) is False,
                                  "startupSeconds": startup})
                continue
            processes.append({"docs": result.records, "ranges": result.ranges, "pieces": result.pieces,
                              "seconds": round(result.seconds, 3), "cpuSeconds": round(result.cpu_seconds, 3),
                              "peakRss": result.peak_rss, "startupSeconds": startup})
        self.run.events.append(new_event("shards.completed", {"processes": processes, "split": pool.claims.split}))
        return writer

    def close(self) -> None:
        """Every shard process ended, every piece removed (whatever happened)."""
        self.pool.close()
        try:
            self.store.delete_prefix(self.folder)
        except Exception:  # the attempt's clean-up removes its whole folder anyway
            log.exception("export %s: removing the shards' pieces failed", self.run.job.id)


class JoinedEntry:
    """The data entry, from runs of records (each joined by the format's separator, with nothing
    before its first record): what starts the entry before the first run, the separator between
    runs, what ends it after the last; ``empty()`` when there were none."""

    def __init__(self, entry: ZipEntryWriter, writer: FormatWriter) -> None:
        self.entry = entry
        self.writer = writer
        self.started = False

    def write_run(self, chunks: Iterator[bytes]) -> None:
        for index, chunk in enumerate(chunks):
            if index == 0:
                self._begin_run()
            self.entry.write(chunk)

    def append_piece(self, chunks: Iterator[bytes], size: int, crc: int, *, first: bool) -> None:
        """A deflated piece of records; ``first``: of a run (the run's later pieces carry their
        separators)."""
        if first:
            self._begin_run()
        self.entry.append_deflated(chunks, size=size, crc=crc)

    def close(self) -> EntryInfo:
        self.entry.write(self.writer.tail() if self.started else self.writer.empty())
        return self.entry.close()

    def _begin_run(self) -> None:
        self.entry.write(self.writer.separator if self.started else self.writer.head(1))
        self.started = True
