"""Reference pipelines over the same table, in the same run: what this machine can do at best.

- passthrough: read the stored JSON text in keyset-paged batches of 1000 (as the export does),
  join it into NDJSON, deflate (ISA-L level 1) into a zip entry with ``ZipStreamWriter``, encrypt
  and write through the encrypted file store. No parsing: the floor of the whole export path.
- re-encode: the same, with ``orjson.loads`` + ``orjson.dumps`` of every document: the floor of
  any export that must look inside the documents (ACL, paths, expand all need to).
- ``sqlite3 -json``: the SQLite command-line tool writing the table's bodies as JSON to a file
  (no zip, no encryption): how fast SQLite itself hands the rows out.
- ``COPY ... TO STDOUT``: PostgreSQL's own bulk export of the bodies, read through psycopg into a
  file (no zip, no encryption).
- files copy (with the ``files`` scenario): every attached file decrypted from the store and
  written, encrypted again, into one object, as the archive is (with its MD5 and SHA-256), but no
  zip entry, no per-file SHA-256 and no documents: the floor of an export's files part.
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import orjson
import psycopg

from bench.dataset import BenchData
from bench.exports import Run
from opencortex.attachments.facets import storage_key
from opencortex.exports.archive import ZipStreamWriter
from opencortex.runtime import Runtime

BATCH = 1000


def passthrough(runtime: Runtime, data: BenchData, *, reencode: bool = False) -> Run:
    store = runtime.file_store
    key = f"bench/{uuid.uuid4().hex}/archive.zip"
    database = runtime.database
    if database.dialect == "postgresql":
        sql = ("SELECT id, body::text FROM documents WHERE org_id = %s AND object = %s AND id > %s "
               "ORDER BY id LIMIT %s")
    else:
        sql = "SELECT id, body FROM documents WHERE org_id = ? AND object = ? AND id > ? ORDER BY id LIMIT ?"
    started, cpu = time.perf_counter(), _cpu()
    writer = store.open_writer(key)
    docs = 0
    try:
        with database.connect() as connection:
            if database.dialect == "postgresql":
                connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                archive = ZipStreamWriter(writer)
                entry = archive.open_entry("data.ndjson")
                last = ""
                while True:
                    rows = connection.exec_driver_sql(sql, (data.org_id, "c_patient", last, BATCH)).fetchall()
                    if not rows:
                        break
                    if reencode:
                        lines = [orjson.dumps(orjson.loads(body)) for _id, body in rows]
                    else:
                        lines = [body.encode() for _id, body in rows]
                    if docs:
                        lines.insert(0, b"")
                    entry.write(b"\n".join(lines))
                    docs += len(rows)
                    last = rows[-1][0]
                info = entry.close()
                archive.close()
        stored = writer.commit()
    except BaseException:
        writer.abort()
        raise
    seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    store.delete(key)
    return Run(seconds=seconds, cpu=cpu, docs=docs, data_bytes=info.size, archive_bytes=stored.size)


def files_copy(runtime: Runtime, data: BenchData) -> Run:
    """The attached files (``BenchData.files``), decrypted and re-encrypted into one stored object."""
    if data.files is None:
        raise RuntimeError("the data set has no files (bench.dataset.ensure_files)")
    store = runtime.file_store
    key = f"bench/{uuid.uuid4().hex}/files.bin"
    started, cpu = time.perf_counter(), _cpu()
    writer = store.open_writer(key)
    try:
        for item in data.files["items"]:
            with store.open_reader(storage_key(data.org_id, item["storageId"])) as reader:
                for chunk in reader:
                    writer.write(chunk)
        stored = writer.commit()
    except BaseException:
        writer.abort()
        raise
    seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    store.delete(key)
    if stored.size != data.files["total"]:
        raise RuntimeError(f"copied {stored.size} bytes of files, expected {data.files['total']}")
    count = data.files["count"]
    return Run(seconds=seconds, cpu=cpu, docs=count, data_bytes=0, archive_bytes=stored.size, files=count,
               file_bytes=stored.size)


def sqlite_json(data: BenchData, scratch: Path) -> Run | None:
    """``sqlite3 -json`` of the bodies into a file; None when the binary is not installed."""
    binary = shutil.which("sqlite3")
    if binary is None or data.db != "sqlite":
        return None
    output = scratch / f"sqlite3-{uuid.uuid4().hex}.json"
    database = str(data.data_dir / "opencortex.db")
    query = (f"SELECT body FROM documents WHERE org_id = '{data.org_id}' AND object = 'c_patient' "  # noqa: S608
             "ORDER BY id")
    before = _children_cpu()
    started = time.perf_counter()
    with output.open("wb") as handle:
        subprocess.run([binary, "-readonly", "-json", database, query], stdout=handle, check=True)
    seconds = time.perf_counter() - started
    size = output.stat().st_size
    output.unlink()
    return Run(seconds=seconds, cpu=_children_cpu() - before, docs=data.docs, data_bytes=size, archive_bytes=0)


def pg_copy(data: BenchData, scratch: Path) -> Run | None:
    """``COPY (SELECT body ...) TO STDOUT`` through psycopg into a file."""
    if data.db != "postgres":
        return None
    url = data.database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    output = scratch / f"copy-{uuid.uuid4().hex}.txt"
    query = (f"COPY (SELECT body FROM documents WHERE org_id = '{data.org_id}' "  # noqa: S608
             "AND object = 'c_patient' ORDER BY id) TO STDOUT")
    started, cpu = time.perf_counter(), _cpu()
    with (psycopg.connect(url) as connection, connection.cursor() as cursor, output.open("wb") as handle,
          cursor.copy(query) as copy):
        for chunk in copy:
            handle.write(chunk)
    seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    size = output.stat().st_size
    output.unlink()
    return Run(seconds=seconds, cpu=cpu, docs=data.docs, data_bytes=size, archive_bytes=0)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
