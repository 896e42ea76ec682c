"""Bulk import: an NDJSON file of instances, validated line by line, written in one transaction.

Every line goes through the same checks as ``POST /{objects}`` (``Instances.create``): the
object's ``createAcl``, the writer's access to each property, the instance's own ``acl``
(sharing), and ``validate_create``. Valid lines are inserted in batches (one ``executemany`` of
``batch_size`` rows per statement) inside ONE transaction for the whole file; unique values are
enforced by the database's indexes, as for a create. When any line is bad, reading goes on to
report every bad line (up to ``max_problems``), then the whole transaction is rolled back:
nothing half-written is ever left behind.

Lines may be documents as an export writes them. The system properties the read API adds are
handled like this:

- ``object`` must name the object imported into, when present;
- ``owner``, ``creator``, ``updater`` and ``access`` are ignored: the importer (``--as``) owns and
  created every instance, exactly as with a create through the API;
- ``_id``, ``created`` and ``updated`` are ignored, and fresh ones given, unless ``keep_ids`` is
  set: then they are kept when present (``_id`` a 24-hex-digit ObjectId not yet used in the
  object, ``created``/``updated`` ISO 8601 instants) and a bad value is a bad line.

Validation is most of the cost, so it can run in worker processes (``jobs``): chunks of lines
go out to them, at most ``2 * jobs`` at a time, and come back in file order; this process gives
the ``_id``s (so ``_id`` order is file order) and writes the rows. Memory stays flat: the chunks
in flight, one batch of rows and the (capped) problem list are all that is held.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from opencortex import faults
from opencortex.acl.viewer import Viewer
from opencortex.clock import utcnow
from opencortex.ids import is_object_id, new_object_id
from opencortex.instances.service import Instances, _check_sharing, _pop_acl
from opencortex.model.definitions import ObjectDefinition
from opencortex.model.indexes import index_name, indexed_paths
from opencortex.model.objects import get_object
from opencortex.model.properties.dates import parse_instant
from opencortex.model.validation import validate_create
from opencortex.store.database import Database
from opencortex.store.tables import documents

BATCH_SIZE = 1000
MAX_PROBLEMS = 100
SQLITE_CACHE_KIB = 256 * 1024

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
    """Instances written and committed: ``lines`` when committed, else 0."""
    problems: list[LineProblem] = field(default_factory=list)
    more_problems: bool = False
    """More bad lines than ``max_problems``: reading stopped at the last one reported."""
    committed: bool = False
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "object": self.object,
            "lines": self.lines,
            "imported": self.imported,
            "committed": self.committed,
            "problems": [{"line": problem.line, "fault": problem.fault} for problem in self.problems],
            "moreProblems": self.more_problems,
            "seconds": round(self.seconds, 3),
        }


class _Rejected(Exception):
    """Raised inside the transaction so that it rolls back."""


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

    A fault that concerns the whole import (no such object, ``createAcl`` refuses the viewer) is
    raised; bad lines are listed in the report, whose ``committed`` is then False. With
    ``jobs`` > 0, lines are validated in that many worker processes (validation is most of the
    cost), a bounded number of chunks ahead, while this process writes the rows, in file order;
    with 0, everything happens here.
    """
    started = time.perf_counter()
    report = ImportReport(object=object_name)
    try:
        with database.begin() as connection, _page_cache(connection):
            definition = get_object(connection, org_id, object_name)
            report.object = definition.name
            if not viewer.can_create(definition.settings):
                raise faults.create_denied(path=definition.name)
            instances = Instances(connection, database.dialect, org_id, definition, viewer)
            writer = _BatchWriter(connection, org_id, definition, batch_size)
            read = 0
            stopped = False
            if jobs > 0:
                outcomes = _validated_in_processes(lines, instances, keep_ids, jobs)
            else:
                outcomes = _validated(enumerate(lines, 1), instances, keep_ids)
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
                    else:
                        if outcome["id"] is None:
                            outcome["id"] = new_object_id()  # here, so that _id order is file order
                        writer.add(number, outcome)
                        report.problems.extend(writer.take_problems())
                    if len(report.problems) > max_problems:
                        stopped = True  # the one past the cap says there are more; it is cut below
                        break
            if progress is not None:
                progress(read)
            if not stopped:
                writer.flush()
                report.problems.extend(writer.take_problems())
            if report.problems:
                report.problems.sort(key=lambda problem: problem.line)
                if len(report.problems) > max_problems:
                    del report.problems[max_problems:]
                    report.more_problems = True
                raise _Rejected()
            report.imported = report.lines
            report.committed = True
    except _Rejected:
        pass
    report.seconds = time.perf_counter() - started
    return report


@contextlib.contextmanager
def _page_cache(connection: Connection) -> Iterator[None]:
    """SQLite keeps 2 MiB of pages per connection by default; inserting into a large table with
    a dozen indexes then reads index pages back over and over. This connection gets a bigger (still
    fixed) cache for the import, and its own size back before it returns to the pool."""
    if connection.dialect.name != "sqlite":
        yield
        return
    previous = int(connection.exec_driver_sql("PRAGMA cache_size").scalar() or -2000)
    connection.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {previous}")


# (line number, bytes read, the row without its _id unless kept | the problem | None for a blank line)
Outcome = tuple[int, int, "dict[str, Any] | LineProblem | None"]


def _validated(numbered: Iterable[tuple[int, bytes]], instances: Instances,
               keep_ids: bool) -> Generator[Outcome, None, None]:
    for number, raw in numbered:
        if not raw.strip():
            yield number, len(raw), None
            continue
        try:
            row = new_row(instances, _parse(raw), keep_ids=keep_ids)
        except faults.Fault as fault:
            yield number, len(raw), LineProblem(number, fault.to_json())
            continue
        if not (keep_ids and "_id" in row["kept"]):
            row["id"] = None  # given by the caller, in file order
        del row["kept"]
        yield number, len(raw), row


def _validated_in_processes(lines: Iterable[bytes], instances: Instances, keep_ids: bool,
                            jobs: int) -> Generator[Outcome, None, None]:
    """``_validated`` in ``jobs`` processes, chunk by chunk, results in file order; at most
    ``2 * jobs`` chunks are in flight, so memory stays flat however long the file is."""
    definition = instances.definition
    stored = {key: value for key, value in definition.to_json().items() if key not in ("created", "updated")}
    context = (stored, definition.id, instances.org_id, instances.dialect, instances.viewer)
    numbered = enumerate(lines, 1)
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_start_validator, initargs=context) as pool:
        pending: deque[Future[list[Outcome]]] = deque()
        try:
            while chunk := list(itertools.islice(numbered, _CHUNK)):
                pending.append(pool.submit(_validate_chunk, chunk, keep_ids))
                if len(pending) >= 2 * jobs:
                    yield from pending.popleft().result()
            while pending:
                yield from pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


_CHUNK = 500
_validator: Instances | None = None


def _start_validator(definition_json: dict[str, Any], definition_id: str, org_id: str, dialect: str,
                     viewer: Viewer) -> None:
    global _validator
    definition = ObjectDefinition.from_json(definition_json, id=definition_id)
    _validator = Instances(None, dialect, org_id, definition, viewer)  # type: ignore[arg-type]  # never queries


def _validate_chunk(chunk: list[tuple[int, bytes]], keep_ids: bool) -> list[Outcome]:
    assert _validator is not None
    return list(_validated(chunk, _validator, keep_ids))


def new_row(instances: Instances, document: dict[str, Any], *, keep_ids: bool = False) -> dict[str, Any]:
    """The ``documents`` row that ``Instances.create`` would insert for ``document`` (an export
    line or an API body), after the very same checks; a ``Fault`` when it would refuse it.
    ``kept`` (not a column) holds the system values taken from the line (``keep_ids``).

    The calls below are ``Instances.create``'s, in its order, minus its insert and read-back
    (``createAcl`` is checked once per import by the caller). When ``create`` gains a check, it
    belongs here too: better, ``create`` should build its row with this function.
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
    """Rows go out ``batch_size`` at a time in one ``executemany``, each batch in a savepoint:
    when a batch breaks a unique index, it is replayed row by row to find the lines at fault."""

    def __init__(self, connection: Connection, org_id: str, definition: ObjectDefinition, batch_size: int) -> None:
        self.connection = connection
        self.batch_size = batch_size
        dialect = connection.dialect
        self.processors = {
            name: documents.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in ("created", "updated", "acl", "body")
        }
        marker = "?" if dialect.paramstyle == "qmark" else "%s"
        self.sql = (f"INSERT INTO documents ({', '.join(_COLUMNS)}) "  # noqa: S608 (fixed names, markers)
                    f"VALUES ({', '.join(marker for _ in _COLUMNS)})")
        # Which property each unique index enforces, to name it in a conflict.
        self.index_paths = {index_name(org_id, definition.name, path): path
                            for path, (unique, _prop) in indexed_paths(definition).items() if unique}
        self.pending: list[tuple[int, tuple[Any, ...]]] = []
        self.problems: list[LineProblem] = []

    def add(self, line: int, row: Mapping[str, Any]) -> None:
        values = []
        for name in _COLUMNS:
            value = row[name]
            processor = self.processors.get(name)
            values.append(processor(value) if processor is not None and value is not None else value)
        self.pending.append((line, tuple(values)))
        if len(self.pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        savepoint = self.connection.begin_nested()
        try:
            self.connection.exec_driver_sql(self.sql, [values for _line, values in batch])
        except IntegrityError:
            savepoint.rollback()
            self._replay(batch)
        else:
            savepoint.commit()

    def take_problems(self) -> list[LineProblem]:
        taken, self.problems = self.problems, []
        return taken

    def _replay(self, batch: list[tuple[int, tuple[Any, ...]]]) -> None:
        for line, values in batch:
            savepoint = self.connection.begin_nested()
            try:
                self.connection.exec_driver_sql(self.sql, values)
            except IntegrityError as error:
                savepoint.rollback()
                self.problems.append(LineProblem(line, self._conflict(error).to_json()))
            else:
                savepoint.commit()

    def _conflict(self, error: IntegrityError) -> faults.Fault:
        text = str(error.orig)
        for name, path in self.index_paths.items():
            if name in text:
                return faults.already_exists("A unique property already has this value.", path=path)
        if "ix_doc_" in text:
            return faults.already_exists("A unique property already has this value.")
        return faults.already_exists("An instance with this _id already exists.", path="_id")


def _fault_texts(fault: Mapping[str, Any]) -> list[str]:
    children = fault.get("faults") or []
    if children:
        return [text for child in children for text in _fault_texts(child)]
    text = str(fault.get("reason") or fault.get("message") or fault.get("errCode"))
    return [f"{fault['path']}: {text}" if fault.get("path") else text]
