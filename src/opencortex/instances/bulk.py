"""Bulk import: an NDJSON file of instances, validated line by line, written batch by batch.

Every line goes through the same checks as ``POST /{objects}`` (``Instances.create``): the
object's ``createAcl``, the writer's access to each property, the instance's own ``acl``
(sharing), and ``validate_create``. Valid lines are inserted in batches of ``batch_size`` rows
(``_BatchWriter``), each batch in its own short write transaction (``_Batches``), so that other
writers (API requests, an export's lease renewals) get the database between batches instead of
waiting for the whole file; on SQLite the import also pauses now and then so that they do.
Unique values are enforced by the database's indexes, as for a create. When any line is bad,
reading goes on to report every bad line (up to ``max_problems``), then every instance the
import committed is deleted again (``_Batches.undo``, also in short transactions), so a bad file
leaves nothing behind. What readers may see meanwhile, and what a killed import leaves, is in
docs/import.md.

Lines may be documents as an export writes them. The system properties the read API adds are
handled like this:

- ``object`` must name the object imported into, when present;
- ``owner``, ``creator``, ``updater`` and ``access`` are ignored: the importer (``--as``) owns and
  created every instance, exactly as with a create through the API;
- ``_id``, ``created`` and ``updated`` are ignored, and fresh ones given, unless ``keep_ids`` is
  set: then they are kept when present (``_id`` a 24-hex-digit ObjectId not yet used in the
  object, ``created``/``updated`` ISO 8601 instants) and a bad value is a bad line.

Validation is most of the cost, so it can run in worker processes (``jobs``): chunks of lines
go out to them, at most ``2 * jobs + 2`` at a time, and come back in file order; this process gives
the ``_id``s (so ``_id`` order is file order) and writes the rows. Memory stays flat: the chunks
in flight, one batch of rows and the (capped) problem list are all that is held; the ``_id``s
written so far (for the undo) go to a temporary file, 12 bytes each.

Per line, ``_Rows`` makes ``new_row``'s calls in its order, each decided once per import where it
can be (the writer's access, the compiled create plan of ``validate_create``, sharing), with the
reference call whenever the fast answer is not a plain yes, so that faults are the same. A row
leaves validation ready for the driver (JSON as text, dates as the dialect binds them), so that
the writing process only gives ``_id``s and hands batches to the database (``_BatchWriter``).
"""
from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import sqlite3
import tempfile
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, RootTransaction
from sqlalchemy.exc import IntegrityError

from opencortex import faults
from opencortex.acl.levels import Access
from opencortex.acl.viewer import Viewer
from opencortex.clock import utcnow
from opencortex.ids import is_object_id, new_object_id
from opencortex.instances.service import Instances, _check_sharing, _pop_acl
from opencortex.model.definitions import ObjectDefinition
from opencortex.model.indexes import index_name, indexed_paths
from opencortex.model.objects import get_object
from opencortex.model.properties import PropertyDefinition, WriteContext
from opencortex.model.properties.dates import parse_instant
from opencortex.model.validation import compiled_create, validate_create, validate_create_reference
from opencortex.store.change_triggers import SQLITE_BUMP_STAMP, SQLITE_CURRENT_STAMP
from opencortex.store.database import Database, _json_text
from opencortex.store.tables import documents

try:  # PostgreSQL's driver, when installed: a batch goes in by COPY, whose errors are the driver's own
    from psycopg import IntegrityError as _PsycopgIntegrityError
    _DRIVER_INTEGRITY_ERRORS: tuple[type[Exception], ...] = (_PsycopgIntegrityError,)
except ImportError:  # pragma: no cover
    _DRIVER_INTEGRITY_ERRORS = ()
_INTEGRITY_ERRORS: tuple[type[Exception], ...] = (IntegrityError, *_DRIVER_INTEGRITY_ERRORS)

BATCH_SIZE = 1000
MAX_PROBLEMS = 100
SQLITE_CACHE_KIB = 256 * 1024
# A write transaction takes batches until it has held the write lock this long, then commits:
# other writers wait at most about this (plus a batch), and the import does not pay a commit
# (every page a transaction dirtied is written to the WAL again) per batch.
TRANSACTION_SECONDS = 0.5
# On SQLite one writer holds the database at a time and a waiting writer only retries now and
# then (SQLite's busy handler sleeps up to 100 ms between tries), so the import, which would take
# the lock back right after each commit, leaves it free for a while after every so much holding:
# a waiting write waits about a second at most, and the import loses under a tenth of its speed.
SHARE_LOCK_EVERY_SECONDS = 1.0
SHARE_LOCK_FOR_SECONDS = 0.1
UNDO_BATCH = 500

log = logging.getLogger("opencortex.instances")

# System properties that reads (and so exports) add to every document.
IGNORED_KEYS = ("owner", "creator", "updater", "access")
KEPT_WITH_IDS = ("_id", "created", "updated")
_COLUMNS = ("org_id", "object", "id", "type", "owner", "creator", "updater", "created", "updated", "sequence",
            "acl", "body")

# Called with the bytes read so far (a progress bar over the file's size).
Progress = Callable[[int], None]


@dataclass(frozen=True)
class LineProblem:
    """A bad line: its number (from 1) and the fault a create of it through the API would get."""

    line: int
    fault: dict[str, Any]

    def describe(self) -> str:
        """One line of text: the fault's reason and path, then each child fault's."""
        return f"line {self.line}: " + "; ".join(_fault_texts(self.fault))


@dataclass
class ImportReport:
    object: str
    lines: int = 0
    """Lines holding a document (blank lines are skipped)."""
    imported: int = 0
    """Instances written and kept: ``lines`` when committed, else 0."""
    problems: list[LineProblem] = field(default_factory=list)
    more_problems: bool = False
    """More bad lines than ``max_problems``: reading stopped at the last one reported."""
    committed: bool = False
    seconds: float = 0.0
    transactions: int = 0
    """Write transactions (each takes batches for up to ``TRANSACTION_SECONDS``; an undo's count)."""
    longest_transaction_seconds: float = 0.0
    """The longest time one of them held the database's write lock."""

    def to_json(self) -> dict[str, Any]:
        return {
            "object": self.object,
            "lines": self.lines,
            "imported": self.imported,
            "committed": self.committed,
            "problems": [{"line": problem.line, "fault": problem.fault} for problem in self.problems],
            "moreProblems": self.more_problems,
            "seconds": round(self.seconds, 3),
            "transactions": self.transactions,
            "longestTransactionSeconds": round(self.longest_transaction_seconds, 3),
        }


def import_ndjson(
    database: Database,
    org_id: str,
    object_name: str,
    viewer: Viewer,
    lines: Iterable[bytes],
    *,
    keep_ids: bool = False,
    batch_size: int = BATCH_SIZE,
    max_problems: int = MAX_PROBLEMS,
    jobs: int = 0,
    progress: Progress | None = None,
) -> ImportReport:
    """Import NDJSON ``lines`` into ``object_name`` as ``viewer``, all or nothing.

    Batches are committed as they are written; when any line is bad (its fault is in the
    report, whose ``committed`` is then False), or the import fails, what it committed is
    deleted again. A fault that concerns the whole import (no such object, ``createAcl`` refuses
    the viewer) is raised before anything is written. With ``jobs`` > 0, lines are validated in
    that many worker processes (validation is most of the cost), a bounded number of chunks
    ahead, while this process writes the rows, in file order; with 0, everything happens here.
    """
    started = time.perf_counter()
    report = ImportReport(object=object_name)
    with database.connect() as connection, _page_cache(connection), _WrittenIds() as written:
        with database.transaction(connection):  # a short one: the definition, read once
            definition = get_object(connection, org_id, object_name)
        report.object = definition.name
        if not viewer.can_create(definition.settings):
            raise faults.create_denied(path=definition.name)
        instances = Instances(connection, database.dialect, org_id, definition, viewer)
        writer = _BatchWriter(connection, org_id, definition, batch_size)
        batches = _Batches(database, connection, writer, written, report)
        try:
            _read_and_write(lines, instances, keep_ids, jobs, max_problems, batches, report, progress)
            if not report.problems:
                batches.commit()
        except BaseException:
            batches.rollback()
            if written.count:
                log.warning("import into %s failed after %d instances were committed: deleting them",
                            definition.name, written.count)
                batches.undo()
            raise
        if report.problems:
            batches.undo()
        else:
            report.imported = report.lines
            report.committed = True
    report.seconds = time.perf_counter() - started
    return report


def _read_and_write(lines: Iterable[bytes], instances: Instances, keep_ids: bool, jobs: int, max_problems: int,
                    batches: _Batches, report: ImportReport, progress: Progress | None) -> None:
    """Validate every line, write the valid ones batch by batch, and list the bad ones."""
    connection = instances.connection
    writer = batches.writer
    read = 0
    stopped = False
    rows = _Rows(instances, keep_ids, connection.dialect)
    if jobs > 0:
        outcomes = _validated_in_processes(lines, rows, jobs, type(connection.dialect))
    else:
        outcomes = _validated(enumerate(lines, 1), rows)
    with contextlib.closing(outcomes):
        for number, size, outcome in outcomes:
            read += size
            if progress is not None and number % 256 == 0:
                progress(read)
            if outcome is None:  # a blank line
                continue
            report.lines += 1
            if isinstance(outcome, LineProblem):
                report.problems.append(outcome)
            elif writer.add(number, outcome):  # a full batch: write it
                report.problems.extend(batches.write())
            if len(report.problems) > max_problems:
                stopped = True  # the one past the cap says there are more; it is cut below
                break
    if progress is not None:
        progress(read)
    if not stopped:
        report.problems.extend(batches.write())
    if report.problems:
        report.problems.sort(key=lambda problem: problem.line)
        if len(report.problems) > max_problems:
            del report.problems[max_problems:]
            report.more_problems = True


class _Batches:
    """Batches in short write transactions; the ``_id``s each one committed go to ``written``.

    A transaction takes batches until it has held the write lock for ``TRANSACTION_SECONDS``.
    On SQLite, after every ``SHARE_LOCK_EVERY_SECONDS`` of holding it, the next transaction
    waits ``SHARE_LOCK_FOR_SECONDS`` before taking it again, so that writers waiting for it
    (each retries at least every 100 ms) get their turn.
    """

    def __init__(self, database: Database, connection: Connection, writer: _BatchWriter, written: _WrittenIds,
                 report: ImportReport) -> None:
        self.database = database
        self.connection = connection
        self.writer = writer
        self.written = written
        self.report = report
        self.share_lock = database.dialect == "sqlite"
        self.held_since_shared = 0.0
        self._open: RootTransaction | None = None
        self._began = 0.0
        self._uncommitted: list[str] = []

    def write(self) -> list[LineProblem]:
        """Write what the writer has queued; the lines that broke a unique index."""
        if not self.writer.pending:
            return []
        if self._open is None:
            self._begin()
        problems = self.writer.flush()
        self._uncommitted.extend(self.writer.inserted)
        if time.perf_counter() - self._began >= TRANSACTION_SECONDS:
            self.commit()
        return problems

    def commit(self) -> None:
        if self._open is None:
            return
        transaction, self._open = self._open, None
        # Noted before the commit: a commit cut short (Ctrl-C, SIGTERM) may have happened or not,
        # and the undo must delete these rows if it did (deleting rows that are not there is free).
        self.written.add(self._uncommitted)
        self._uncommitted = []
        try:
            transaction.commit()
        finally:
            self._ended()

    def rollback(self) -> None:
        """Drop what is not committed, and whatever state an interrupted statement left behind
        (SQLAlchemy then needs a rollback before the connection can be used again)."""
        self._open = None
        self._uncommitted = []
        self.connection.rollback()

    def undo(self) -> None:
        """Roll back what is not committed; delete every instance this import committed, a bounded
        number per transaction."""
        self.rollback()
        name = self.writer.object
        for ids in self.written.chunks(UNDO_BATCH):
            self._begin()
            self.connection.execute(documents.delete().where(
                documents.c.org_id == self.writer.org_id, documents.c.object == name, documents.c.id.in_(ids)))
            assert self._open is not None
            transaction, self._open = self._open, None
            transaction.commit()
            self._ended()
        self.written.clear()

    def _begin(self) -> None:
        if self.share_lock and self.held_since_shared >= SHARE_LOCK_EVERY_SECONDS:
            time.sleep(SHARE_LOCK_FOR_SECONDS)
            self.held_since_shared = 0.0
        self._open = self.database.begin_writing(self.connection)  # holds the write lock from here
        self._began = time.perf_counter()

    def _ended(self) -> None:
        held = time.perf_counter() - self._began
        self.held_since_shared += held
        self.report.transactions += 1
        self.report.longest_transaction_seconds = max(self.report.longest_transaction_seconds, held)


class _WrittenIds:
    """The ``_id``s an import has committed, in a temporary file (12 bytes each), for its undo."""

    ID_BYTES = 12

    def __init__(self) -> None:
        self.count = 0
        self._file: Any = None

    def __enter__(self) -> _WrittenIds:
        self._file = tempfile.TemporaryFile(prefix="opencortex-import-")  # noqa: SIM115 (closed in __exit__)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._file.close()

    def add(self, ids: list[str]) -> None:
        if ids:
            self._file.seek(0, 2)
            self._file.write(b"".join(bytes.fromhex(row_id) for row_id in ids))
            self.count += len(ids)

    def chunks(self, size: int) -> Iterator[list[str]]:
        self._file.seek(0)
        while block := self._file.read(size * self.ID_BYTES):
            yield [block[offset:offset + self.ID_BYTES].hex() for offset in range(0, len(block), self.ID_BYTES)]

    def clear(self) -> None:
        self._file.seek(0)
        self._file.truncate()
        self.count = 0


@contextlib.contextmanager
def _page_cache(connection: Connection) -> Iterator[None]:
    """SQLite keeps 2 MiB of pages per connection by default; inserting into a large table with
    a dozen indexes then reads index pages back over and over. This connection gets a bigger (still
    fixed) cache for the import, and its own size back before it returns to the pool. (Set on the
    driver's connection, outside any transaction: the import begins and ends its own.)"""
    if connection.dialect.name != "sqlite":
        yield
        return
    driver = connection.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    previous = int(driver.execute("PRAGMA cache_size").fetchone()[0] or -2000)
    driver.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    try:
        yield
    finally:
        # An interrupted statement makes SQLAlchemy close the driver's connection: nothing to restore.
        with contextlib.suppress(sqlite3.ProgrammingError):
            driver.execute(f"PRAGMA cache_size = {previous}")


# (line number, bytes read, the encoded row | the problem | None for a blank line)
Outcome = tuple[int, int, "tuple[Any, ...] | LineProblem | None"]


def _validated(numbered: Iterable[tuple[int, bytes]], rows: _Rows) -> Generator[Outcome, None, None]:
    make = rows.make
    for number, raw in numbered:
        if not raw or raw.isspace():
            yield number, len(raw), None
            continue
        try:
            row = make(_parse(raw))
        except faults.Fault as fault:
            yield number, len(raw), LineProblem(number, fault.to_json())
            continue
        yield number, len(raw), row


def _validated_in_processes(lines: Iterable[bytes], rows: _Rows, jobs: int,
                            dialect_class: type[Any]) -> Generator[Outcome, None, None]:
    """``_validated`` in ``jobs`` processes, chunk by chunk, results in file order; at most
    ``2 * jobs + 2`` chunks are out, so memory stays flat however long the file is. (Enough for
    the validators to keep working while this process writes a batch: a batch takes longer to
    insert than a chunk to validate.) Until a process is up (starting one takes a good half
    second), and whenever the next result is not back yet, this process validates the next chunk
    itself (``rows``) rather than wait (up to as many chunks again)."""
    instances = rows.instances
    definition = instances.definition
    stored = {key: value for key, value in definition.to_json().items() if key not in ("created", "updated")}
    context = (stored, definition.id, instances.org_id, instances.dialect, instances.viewer, rows.keep_ids,
               dialect_class)
    numbered = enumerate(lines, 1)
    ahead = 2 * jobs + 2
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_start_validator, initargs=context) as pool:
        pending: deque[Future[list[Outcome]] | list[Outcome]] = deque()  # in file order
        started = pool.submit(_validator_started)
        while not started.done() and (chunk := list(itertools.islice(numbered, _CHUNK))):
            yield from _validated(chunk, rows)
        try:
            while True:
                while len(pending) < ahead and (chunk := list(itertools.islice(numbered, _CHUNK))):
                    pending.append(pool.submit(_validate_chunk, chunk))
                if not pending:
                    return
                head = pending[0]
                if isinstance(head, list) or head.done() or len(pending) >= 2 * ahead:
                    pending.popleft()
                    yield from head if isinstance(head, list) else head.result()
                elif chunk := list(itertools.islice(numbered, _CHUNK)):
                    pending.append(list(_validated(chunk, rows)))
                else:
                    pending.popleft()
                    yield from head.result()
        finally:
            for future in pending:
                if isinstance(future, Future):
                    future.cancel()


_CHUNK = 2000  # lines; fewer, bigger chunks cost this process less to hand out
_validator: _Rows | None = None


def _start_validator(definition_json: dict[str, Any], definition_id: str, org_id: str, dialect: str,
                     viewer: Viewer, keep_ids: bool, dialect_class: type[Any]) -> None:
    global _validator
    definition = ObjectDefinition.from_json(definition_json, id=definition_id)
    instances = Instances(None, dialect, org_id, definition, viewer)  # type: ignore[arg-type]  # never queries
    _validator = _Rows(instances, keep_ids, dialect_class())


def _validator_started() -> bool:
    return _validator is not None


def _validate_chunk(chunk: list[tuple[int, bytes]]) -> list[Outcome]:
    assert _validator is not None
    return list(_validated(chunk, _validator))


class _Rows:
    """``new_row`` for every line of one import, as the tuple ``_BatchWriter`` inserts.

    The same calls in the same order; what does not change from line to line (the writer's
    access, which properties it may write, the compiled create plan, the environment) is
    decided once. Each step takes its fast path only when the answer is a plain yes, and
    otherwise makes ``new_row``'s very call, which raises the very fault.
    """

    def __init__(self, instances: Instances, keep_ids: bool, dialect: Any) -> None:
        definition = instances.definition
        viewer = instances.viewer
        self.instances = instances
        self.definition = definition
        self.keep_ids = keep_ids
        self.owner = owner = None if viewer.anonymous else viewer.account_id
        self.access = viewer.instance_access(definition.settings, owner, [])
        self.env = {"ac.principal": owner}
        self.ctx = WriteContext(self.env)
        self.writes = _WriteChecks(instances, self.access, owner)
        self.encode_time = documents.c.created.type.dialect_impl(dialect).bind_processor(dialect)

    def make(self, document: dict[str, Any]) -> tuple[Any, ...]:
        """``(_id or None, type, owner, created, updated, acl, body)``: the parts of the row that
        ``new_row(instances, document, keep_ids=...)`` makes, ready for the driver; ``_id`` is
        None unless kept (the writer gives it, in file order). ``document`` is consumed."""
        definition = self.definition
        kept = _system_values(definition, document, self.keep_ids)
        given = document
        instance_acl = _pop_acl(given)
        type_name = given.get("type") if definition.object_types else None
        access = self.access
        self.writes.check(given, type_name)
        try:
            stored = compiled_create(definition, given, None, self.ctx)
        except Exception:  # noqa: BLE001 (a fault or anything unusual: the reference decides, and reports)
            stored = validate_create_reference(definition, given, env=self.env)
        if instance_acl and (access < Access.SHARE or any(entry["allow"] > access for entry in instance_acl)):
            _check_sharing(access, [], instance_acl)
        encode_time = self.encode_time
        created = kept.get("created") or utcnow()
        updated = kept.get("updated")
        if encode_time is not None:
            created = encode_time(created)
            updated = None if updated is None else encode_time(updated)
        return (kept.get("_id"), type_name, self.owner, created, updated, _json_text(instance_acl), _json_text(stored))


class _WriteChecks:
    """``Instances._check_writes`` for one writer at one access level: which properties it may
    not write is decided once per property map, so a line that names none of them costs a few
    lookups; a line that does goes to ``_check_writes``, which names them in its fault."""

    def __init__(self, instances: Instances, access: int, owner: str | None) -> None:
        self.instances = instances
        self.access = access
        self.owner = owner
        definition = instances.definition
        union = dict(definition.properties)
        for object_type in definition.object_types.values():
            for name, prop in object_type.properties.items():
                union.setdefault(name, prop)
        self.untyped = self._compile(union)
        self.typed = {name: self._compile(definition.properties_for(name)) for name in definition.object_types}

    def _compile(self, properties: Mapping[str, PropertyDefinition]) -> _Denials | None:
        """The names refused here, and the Documents with names refused inside; None: none."""
        viewer = self.instances.viewer
        denied = set()
        nested: dict[str, _Denials] = {}
        for name, prop in properties.items():
            if name == "_id":
                continue
            if not viewer.can_write_property(prop, self.access, self.owner):
                denied.add(name)
                continue
            children = getattr(prop, "properties", None)
            if prop.type_name == "Document" and children:
                inner = self._compile(children)
                if inner is not None:
                    nested[name] = inner
        return (frozenset(denied), nested) if denied or nested else None

    def check(self, given: Mapping[str, Any], type_name: Any) -> None:
        denials = self.typed.get(type_name, self.untyped) if isinstance(type_name, str) else self.untyped
        if denials is not None and _names_denied(denials, given):
            self.instances._check_writes(given, self.access, self.owner, type_name)


_Denials = tuple[frozenset[str], dict[str, Any]]


def _names_denied(denials: _Denials, given: Mapping[str, Any]) -> bool:
    denied, nested = denials
    for name, value in given.items():
        if name in denied:
            return True
        inner = nested.get(name)
        if inner is not None:
            for element in value if isinstance(value, list) else [value]:
                if isinstance(element, Mapping) and _names_denied(inner, element):
                    return True
    return False


def new_row(instances: Instances, document: dict[str, Any], *, keep_ids: bool = False) -> dict[str, Any]:
    """The ``documents`` row that ``Instances.create`` would insert for ``document`` (an export
    line or an API body), after the very same checks; a ``Fault`` when it would refuse it.
    ``kept`` (not a column) holds the system values taken from the line (``keep_ids``).

    The calls below are ``Instances.create``'s, in its order, minus its insert and read-back
    (``createAcl`` is checked once per import by the caller). When ``create`` gains a check, it
    belongs here too: better, ``create`` should build its row with this function. The import
    itself runs ``_Rows.make``, the same calls with what does not change between lines decided
    once; tests hold the two to the same rows and faults.
    """
    definition = instances.definition
    viewer = instances.viewer
    kept = _system_values(definition, document, keep_ids)
    given = dict(document)
    instance_acl = _pop_acl(given)
    type_name = given.get("type") if definition.object_types else None
    owner = None if viewer.anonymous else viewer.account_id
    access = viewer.instance_access(definition.settings, owner, [])
    instances._check_writes(given, access, owner, type_name)
    stored = validate_create(definition, dict(given), env={"ac.principal": owner})
    if instance_acl:
        _check_sharing(access, [], instance_acl)
    return {
        "org_id": instances.org_id,
        "object": definition.name,
        "id": kept.get("_id") or new_object_id(),
        "type": type_name,
        "owner": owner,
        "creator": owner,
        "updater": None,
        "created": kept.get("created") or utcnow(),
        "updated": kept.get("updated"),
        "sequence": 0,
        "acl": instance_acl,
        "body": stored,
        "kept": kept,
    }


def _parse(raw: bytes) -> dict[str, Any]:
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise faults.invalid_json(f"The line is not JSON: {error.msg} at character {error.pos + 1}.") from None
    if not isinstance(document, dict):
        raise faults.invalid_argument("Each line is one JSON object.")
    return document


def _system_values(definition: ObjectDefinition, document: dict[str, Any], keep_ids: bool) -> dict[str, Any]:
    """Takes the read API's system properties out of ``document``; returns those to keep."""
    named = document.pop("object", None)
    if named is not None and named != definition.name:
        raise faults.invalid_argument(f"This line is a {named!r}, not a {definition.name!r}.", path="object")
    for key in IGNORED_KEYS:
        document.pop(key, None)
    given = {key: document.pop(key) for key in KEPT_WITH_IDS if key in document}
    if not keep_ids:
        return {}
    kept: dict[str, Any] = {}
    if "_id" in given:
        if not is_object_id(given["_id"]):
            raise faults.invalid_value("_id is a 24-digit lower-case hex ObjectId.", path="_id")
        kept["_id"] = given["_id"]
    for key in ("created", "updated"):
        value = given.get(key)
        if value is None and key == "updated":
            continue
        try:
            if not isinstance(value, str):
                raise ValueError(value)
            kept[key] = datetime.fromisoformat(parse_instant(value).replace("Z", "+00:00"))
        except ValueError:
            if key in given:
                raise faults.invalid_value(f"{key} is an ISO 8601 date-time.", path=key) from None
    return kept


class _BatchWriter:
    """Rows go out ``batch_size`` at a time; when a batch breaks a unique index, the lines at
    fault are found row by row, and the rows that do not clash are in, as a row-by-row insert
    would leave them (the import is then rolled back anyway).

    Rows come encoded (``_Rows.make``): JSON as text, which SQLite stores as it is and
    PostgreSQL parses (the text ``json_serializer`` would have sent), dates as the dialect binds
    them. Only the ``_id`` is given here, so that ``_id`` order is file order.

    On SQLite, a batch is one ``executemany`` without a savepoint (a savepoint costs a fifth of
    the insert: every page a batch touches is copied to a sub-journal first). A row that breaks
    a unique index is undone alone (SQLite undoes a failed statement, and each row is one) and
    ``executemany`` stops there: the rows before it are in, and the writer goes on after it. On
    PostgreSQL, where an error aborts the transaction, a batch is one ``COPY`` (two thirds of the
    time of an ``executemany``) in a savepoint, replayed row by row in savepoints when it fails.
    """

    def __init__(self, connection: Connection, org_id: str, definition: ObjectDefinition, batch_size: int) -> None:
        self.connection = connection
        self.batch_size = batch_size
        self.org_id = org_id
        self.object = definition.name
        dialect = connection.dialect
        marker = "?" if dialect.paramstyle == "qmark" else "%s"
        markers = [marker] * len(_COLUMNS)
        if dialect.name == "postgresql":
            markers[_COLUMNS.index("acl")] = f"CAST({marker} AS json)"
            markers[_COLUMNS.index("body")] = f"CAST({marker} AS jsonb)"
        # On SQLite a batch carries one change stamp (store.change_triggers: the insert trigger, which
        # would stamp each row with two more writes, leaves stamped rows alone); PostgreSQL's is free.
        stamp = (", change_seq", ", " + SQLITE_CURRENT_STAMP) if dialect.name == "sqlite" else ("", "")
        self.sql = (f"INSERT INTO documents ({', '.join(_COLUMNS)}{stamp[0]}) "  # noqa: S608 (fixed names, markers)
                    f"VALUES ({', '.join(markers)}{stamp[1]})")
        # Which property each unique index enforces, to name it in a conflict.
        self.index_paths = {index_name(org_id, definition.name, path): path
                            for path, (unique, _prop) in indexed_paths(definition).items() if unique}
        self.pending: list[tuple[Any, ...]] = []
        self.lines: list[int] = []
        self.inserted: list[str] = []
        """The ``_id``s the last ``flush`` inserted (rows that broke an index are not among them)."""
        self.sqlite = dialect.name == "sqlite"
        self.copy = (f"COPY documents ({', '.join(_COLUMNS)}) FROM STDIN"
                     if dialect.name == "postgresql" and dialect.driver == "psycopg" else None)

    def add(self, line: int, row: tuple[Any, ...]) -> bool:
        """Queue an encoded row (``_Rows.make``); True when the batch is full (``flush`` it)."""
        row_id, type_name, owner, created, updated, acl, body = row
        self.pending.append((self.org_id, self.object, row_id or new_object_id(), type_name, owner, owner, None,
                             created, updated, 0, acl, body))
        self.lines.append(line)
        return len(self.pending) >= self.batch_size

    def flush(self) -> list[LineProblem]:
        """Write what is queued; the lines that broke a unique index."""
        self.inserted = []
        if not self.pending:
            return []
        batch, lines = self.pending, self.lines
        self.pending, self.lines = [], []
        failed: set[int] = set()  # positions in the batch
        problems = self._write(lines, batch, failed)
        self.inserted = [row[2] for position, row in enumerate(batch) if position not in failed]
        return problems

    def _write(self, lines: list[int], batch: list[tuple[Any, ...]], failed: set[int]) -> list[LineProblem]:
        if self.sqlite:
            return self._write_sqlite(lines, batch, failed)
        savepoint = self.connection.begin_nested()
        try:
            if self.copy is not None:
                self._copy(batch)
            else:
                self.connection.exec_driver_sql(self.sql, batch)
        except _INTEGRITY_ERRORS:
            savepoint.rollback()
            return self._replay(lines, batch, failed)
        savepoint.commit()
        return []

    def _copy(self, batch: list[tuple[Any, ...]]) -> None:
        driver = self.connection.connection.driver_connection  # this transaction's psycopg connection
        with driver.cursor() as cursor, cursor.copy(self.copy) as copy:  # type: ignore[union-attr]
            for values in batch:
                copy.write_row(values)

    def _write_sqlite(self, lines: list[int], batch: list[tuple[Any, ...]], failed: set[int]) -> list[LineProblem]:
        driver = self.connection.connection.driver_connection  # this transaction's sqlite3 connection
        assert isinstance(driver, sqlite3.Connection)
        cursor = driver.cursor()
        cursor.execute(SQLITE_BUMP_STAMP)  # this batch's change stamp
        problems = []
        start = 0
        try:
            while start < len(batch):
                # executemany takes one row from the iterator, runs it, then takes the next: the
                # row that failed is the last one handed out (counting changes instead would also
                # count what triggers write).
                handed = _Counted(batch, start)
                try:
                    cursor.executemany(self.sql, handed)
                except sqlite3.IntegrityError as error:
                    position = handed.last  # the rows before it are in
                    problems.append(LineProblem(lines[position], self._conflict(str(error)).to_json()))
                    failed.add(position)
                    start = position + 1
                else:
                    break
        finally:
            cursor.close()
        return problems

    def _replay(self, lines: list[int], batch: list[tuple[Any, ...]], failed: set[int]) -> list[LineProblem]:
        problems = []
        for position, (line, values) in enumerate(zip(lines, batch, strict=True)):
            savepoint = self.connection.begin_nested()
            try:
                self.connection.exec_driver_sql(self.sql, values)
            except IntegrityError as error:
                savepoint.rollback()
                failed.add(position)
                problems.append(LineProblem(line, self._conflict(str(error.orig)).to_json()))
            else:
                savepoint.commit()
        return problems

    def _conflict(self, text: str) -> faults.Fault:
        for name, path in self.index_paths.items():
            if name in text:
                return faults.already_exists("A unique property already has this value.", path=path)
        if "ix_doc_" in text:
            return faults.already_exists("A unique property already has this value.")
        return faults.already_exists("An instance with this _id already exists.", path="_id")


class _Counted:
    """The rows of ``batch`` from ``start`` on, as an iterator that knows the position of the last
    row it handed out."""

    def __init__(self, batch: list[tuple[Any, ...]], start: int) -> None:
        self._batch = batch
        self.last = start - 1

    def __iter__(self) -> _Counted:
        return self

    def __next__(self) -> tuple[Any, ...]:
        if self.last + 1 >= len(self._batch):
            raise StopIteration
        self.last += 1
        return self._batch[self.last]


def _fault_texts(fault: Mapping[str, Any]) -> list[str]:
    children = fault.get("faults") or []
    if children:
        return [text for child in children for text in _fault_texts(child)]
    text = str(fault.get("reason") or fault.get("message") or fault.get("errCode"))
    return [f"{fault['path']}: {text}" if fault.get("path") else text]
