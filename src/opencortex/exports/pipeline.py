"""One export run: read -> serialise -> format -> zip -> encrypt -> store, streaming throughout.

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
from typing import Any

import orjson

from opencortex import faults
from opencortex.acl.viewer import Viewer, as_principal
from opencortex.clock import as_utc, utcnow
from opencortex.exports.archive import ZipStreamWriter
from opencortex.exports.files import CopyResult, FileCollector, copy_files
from opencortex.exports.formats import CSV, open_format_writer
from opencortex.exports.formats.csv_writer import CsvOptions
from opencortex.exports.formats.dictionary import DICTIONARY_NAME, write_dictionary
from opencortex.exports.manifest import ExportParameters, ManifestEntry, build_manifest, encode_manifest
from opencortex.exports.naming import data_entry_name
from opencortex.exports.prefetch import prefetched
from opencortex.exports.queue import event
from opencortex.exports.relaxed_gc import relaxed_gc
from opencortex.instances.lists import list_condition
from opencortex.instances.raw_rows import to_row
from opencortex.instances.selection import parse_selection
from opencortex.instances.serialise import DocumentPlan
from opencortex.instances.service import Instances
from opencortex.instances.splice import SplicePlan
from opencortex.model.definitions import ObjectDefinition
from opencortex.model.objects import get_object
from opencortex.runtime import Runtime

BATCH_SIZE = 1000
HEARTBEAT_SECONDS = 0.5
ARCHIVE_MIME = "application/zip"

# Called with the progress document; returns False when the run must stop (cancelled, or the
# lease was lost to another worker).
Heartbeat = Callable[[dict[str, Any]], bool]


class Stopped(Exception):
    """The run was told to stop; nothing it wrote is kept."""


@dataclass
class Outcome:
    stats: dict[str, Any]
    data_file: dict[str, Any]
    sha256: str
    store_key: str
    size: int
    events: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)  # stored beside the archive


def output_prefix(export_id: str, attempt: int | None = None) -> str:
    """Where an export's output lives; each attempt has its own folder, so a worker that lost its
    lease can only ever remove its own output, never the output of the run that replaced it."""
    return f"exports/{export_id}/" if attempt is None else f"exports/{export_id}/{attempt}/"


def archive_key(export_id: str, attempt: int) -> str:
    return output_prefix(export_id, attempt) + "archive.zip"


def run_export(runtime: Runtime, job: dict[str, Any], heartbeat: Heartbeat) -> Outcome:
    with relaxed_gc():
        return _run(runtime, job, heartbeat)


def _run(runtime: Runtime, job: dict[str, Any], heartbeat: Heartbeat) -> Outcome:
    params = job["params"]
    store = runtime.file_store
    for key in list(store.list_keys(output_prefix(job["id"]))):
        if not key.startswith(output_prefix(job["id"], job["attempts"])):
            store.delete(key)  # partial output of an earlier attempt; never counted as stored
    events: list[dict[str, Any]] = []
    progress = {"phase": "reading", "docs": 0, "total": None, "bytes": 0}
    last_beat = 0.0

    def beat(force: bool = False) -> None:
        nonlocal last_beat
        now = time.monotonic()
        if force or now - last_beat >= HEARTBEAT_SECONDS:
            last_beat = now
            if not heartbeat(dict(progress)):
                raise Stopped()

    database = runtime.database
    writer = store.open_writer(archive_key(job["id"], job["attempts"]))
    try:
        with database.connect() as connection:
            if database.dialect == "postgresql":
                connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                as_of = utcnow()
                definition, instances, where = _source(connection, database.dialect, job)
                plan = DocumentPlan.build(definition, instances.viewer,
                                          parse_selection(params["paths"] or None, params["include"], params["expand"]))
                progress["total"] = instances.count(where)
                zip_writer = ZipStreamWriter(writer, modified=as_utc(job["created"]),
                                             progress=lambda written: progress.__setitem__("bytes", written))
                csv_options = CsvOptions.from_json(params["csv"]) if params["format"] == CSV else None
                formatter = open_format_writer(params["format"], csv_options=csv_options)
                entry_name = data_entry_name(as_utc(job["created"]), params["format"])
                collector = (FileCollector(job["id"], job["org_id"], definition.plural_name, definition,
                                           params["zipFiles"]) if params["exportFiles"] else None)
                events.append(event("cursor.started"))
                entries: list[ManifestEntry] = []
                try:
                    entry = zip_writer.open_entry(entry_name)
                    entry.write(formatter.begin())
                    # Documents built from the stored bodies, not value by value, where the plan allows;
                    # NDJSON and JSON without files go straight to bytes.
                    splice = SplicePlan.build(plan, database.dialect)
                    encode = splice is not None and params["format"] != CSV and collector is None
                    scan = instances.scan_raw(where, BATCH_SIZE)
                    # On PostgreSQL the next batch is read (by the server, in another process) while this
                    # one is encoded, unless encoding reads too. SQLite reads in this process: measured,
                    # a reading thread only added contention for the GIL.
                    ahead = database.dialect == "postgresql" and not plan.expands()
                    with prefetched(scan) if ahead else nullcontext(scan) as batches:
                        for rows in batches:
                            if encode:
                                assert splice is not None
                                encoded = splice.encode_rows(rows, instances.load_expanded)
                                entry.write(formatter.write_encoded(encoded, single_line=True))
                            else:
                                documents = (splice.documents(rows, instances.load_expanded) if splice is not None
                                             else plan.serialise_rows([to_row(row) for row in rows],
                                                                      instances.load_expanded))
                                if collector is not None:
                                    collector.rewrite(documents)
                                entry.write(formatter.write_documents(documents))
                            progress["docs"] = formatter.records
                            beat()
                    events.append(event("cursor.completed", {"docs": formatter.records}))
                    if params["format"] == CSV:
                        events.append(event("csv.started"))
                    progress["phase"] = "writing"
                    for chunk in formatter.finish():
                        entry.write(chunk)
                        beat()
                    if params["format"] == CSV:
                        events.append(event("csv.completed"))
                    info = entry.close()
                finally:
                    formatter.close()
                entries.append(ManifestEntry.from_info(info, "data", records=formatter.records,
                                                       format=params["format"]))
                columns = getattr(formatter, "columns", None)
                if csv_options is not None and params["csv"].get("dictionary") and columns is not None:
                    dictionary = write_dictionary(columns, _describer(definition), csv_options)
                    entries.append(ManifestEntry.from_info(
                        zip_writer.write_entry(DICTIONARY_NAME, [dictionary]), "dictionary"))
                copied = CopyResult()
                if collector is not None:
                    progress["phase"] = "files"
                    events.append(event("files.started", {"files": collector.count}))
                    try:
                        copied = copy_files(collector, store, zip_writer,
                                            output_prefix(job["id"], job["attempts"]), beat)
                    finally:
                        collector.close()
                    entries += copied.entries
                    events.append(event("files.completed", {"files": copied.count, "skipped": copied.skipped}))
        manifest = build_manifest(_parameters(params), entries, as_of=as_of, export_id=job["id"],
                                  created=as_utc(job["created"]))
        zip_writer.write_entry("manifest.json", [encode_manifest(manifest)])
        zip_writer.close()
        beat(force=True)
        stored = writer.commit()
    except BaseException:
        writer.abort()
        raise
    filename = entry_name
    data_file = {
        "name": "content",
        "mime": ARCHIVE_MIME,
        "state": 2,
        "filename": filename,
        "size": stored.size,
        "ETag": stored.md5,
        "sha256": stored.sha256,
        "path": f"/exports/{job['id']}/dataFile/content",
        "location": 4,
        "creator": job["creator"],
    }
    stats = {"docs": {"count": entries[0].records}, "files": {"count": copied.count, "size": copied.size}}
    return Outcome(stats=stats, data_file=data_file, sha256=stored.sha256, store_key=stored.key,
                   size=stored.size, events=events, files=copied.stored)


def _source(connection: Any, dialect: str, job: dict[str, Any]) -> tuple[ObjectDefinition, Instances, Any]:
    """What to read, as whom: the export's object (or, with ``prefix``, one instance's list)."""
    params = job["params"]
    org_id = job["org_id"]
    principal = params["principal"]
    viewer = Viewer.system(org_id) if principal is None else as_principal(connection, org_id, principal)
    definition = get_object(connection, org_id, params["object"])
    where: Any = params["where"]
    if params["prefix"]:
        instance_id, list_name = re.split(r"[./]", params["prefix"], maxsplit=1)
        owner = Instances(connection, dialect, org_id, definition, viewer)
        owner.get_row(instance_id)
        prop = definition.find_property(list_name)
        if prop is None:
            raise faults.invalid_argument("The prefix's list property no longer exists.", path="prefix")
        definition = get_object(connection, org_id, prop.option("sourceObject"))
        condition = list_condition(prop, instance_id)
        where = {"$and": [condition, orjson.loads(where)]} if where else condition
    return definition, Instances(connection, dialect, org_id, definition, viewer), where


def _parameters(params: dict[str, Any]) -> ExportParameters:
    return ExportParameters(
        object=params["objects"], format=params["format"], paths=params["paths"], include=params["include"],
        expand=params["expand"], where=params["where"], principal=params["principal"], prefix=params["prefix"],
        export_files=params["exportFiles"], zip_files=params["zipFiles"],
        csv=CsvOptions.from_json(params["csv"]) if params["format"] == CSV else None,
    )


def _describer(definition: ObjectDefinition) -> Callable[[str], tuple[str, str] | None]:
    """``c_visits[0].c_when`` -> (type, label) of ``c_visits.c_when`` in the definition."""

    def describe(column: str) -> tuple[str, str] | None:
        if column in ("_id", "object", "created", "updated", "type", "access"):
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
