"""The benchmark's data: an org with the study model and N realistic patients, loaded by bulk import.

Everything lives in one work folder (the data folder of a runtime: SQLite file, master key,
encrypted file store) plus, for PostgreSQL, a database of its own created on the local server.
``bench.json`` in the folder describes what is there, so a later run with the same ``--workdir``
and ``--docs`` reuses it instead of loading again.

Attached files (for the ``files`` scenario) are added on demand by ``ensure_files``: random bytes
uploaded into the ``c_photo`` File property of the first patients by subject number, through
``opencortex.attachments.uploads.upload_file`` (a direct upload's code: encrypted at rest, counted in the
org's storage, facet ready). ``bench.json`` records them (``files``), so they are made once per
data set and per layout, and reused with ``--keep``.
"""

from __future__ import annotations

import math
import os
import resource
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from opencortex.acl.viewer import Viewer, as_principal
from opencortex.attachments.facets import storage_key
from opencortex.attachments.uploads import upload_file
from opencortex.cli.imports import auto_jobs
from opencortex.demo.study import PATIENTS, SITES, patient_bodies, site_bodies
from opencortex.instances.bulk import import_ndjson
from opencortex.instances.service import Instances
from opencortex.model.accounts import create_account
from opencortex.model.apps import create_app
from opencortex.model.objects import create_object, get_object, update_object
from opencortex.model.orgs import create_org, find_org
from opencortex.runtime import Runtime
from opencortex.settings import Settings

ORG = "bench"
ADMIN = "admin@bench.test"
MONITOR = "monitor@bench.test"  # no roles: sees only the patients shared with it (every other one)
PASSWORD = "bench password 1"  # noqa: S105 (a throw-away benchmark account)
PG_ADMIN_URL = os.environ.get("OPENCORTEX_BENCH_POSTGRES_URL",
                              os.environ.get("OPENCORTEX_TEST_POSTGRES_URL",
                                             "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))


@dataclass
class BenchData:
    db: str  # "sqlite" | "postgres"
    docs: int
    workdir: str
    database_url: str
    pg_database: str | None
    org_id: str
    app_key: str
    admin_id: str
    monitor_id: str
    site_ids: list[str]
    ndjson_bytes: int
    import_seconds: float
    import_cpu_seconds: float
    import_jobs: int = 0
    files: dict[str, Any] | None = None
    """What ``ensure_files`` attached: layout, the export's ``where``, each file's patient, storage id, sha256."""

    @property
    def data_dir(self) -> Path:
        return Path(self.workdir) / "var"

    def settings(self) -> Settings:
        return Settings(data_dir=self.data_dir, database_url=self.database_url)

    def open_runtime(self) -> Runtime:
        return Runtime.open(self.settings(), migrate=False)


def prepare(workdir: Path, docs: int, db: str, *, log: Any = print) -> BenchData:
    """The data set for ``docs`` patients on ``db``: reused from ``workdir`` when it is there."""
    marker = workdir / "bench.json"
    if marker.exists():
        data = BenchData(**orjson.loads(marker.read_bytes()))
        if data.docs == docs and data.db == db and _still_there(data):
            log(f"reusing {docs:,} patients in {workdir}")
            return data
        log(f"{workdir} holds another data set: loading afresh")
        discard(data)
    workdir.mkdir(parents=True, exist_ok=True)
    pg_database = None
    if db == "postgres":
        pg_database = f"oc_bench_{uuid.uuid4().hex[:12]}"
        with sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT").connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{pg_database}"')
        database_url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + pg_database
    else:
        database_url = f"sqlite:///{(workdir / 'var' / 'opencortex.db').resolve()}"
    settings = Settings(data_dir=workdir / "var", database_url=database_url)
    runtime = Runtime.open(settings, migrate=True)
    try:
        data = _load(runtime, workdir, docs, db, database_url, pg_database, log)
    finally:
        runtime.close()
    save(data)
    return data


def save(data: BenchData) -> None:
    """Write ``bench.json``, what a later run reuses."""
    (Path(data.workdir) / "bench.json").write_bytes(orjson.dumps(asdict(data), option=orjson.OPT_INDENT_2))


def discard(data: BenchData) -> None:
    """Remove the work folder and the PostgreSQL database."""
    if data.pg_database:
        with sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT").connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{data.pg_database}" WITH (FORCE)')
    shutil.rmtree(data.workdir, ignore_errors=True)


def _still_there(data: BenchData) -> bool:
    if data.pg_database is None:
        return (data.data_dir / "opencortex.db").exists()
    try:
        with sa.create_engine(data.database_url, poolclass=sa.pool.NullPool).connect() as connection:
            connection.exec_driver_sql("SELECT 1 FROM documents LIMIT 1")
    except sa.exc.SQLAlchemyError:
        return False
    return True


def _load(runtime: Runtime, workdir: Path, docs: int, db: str, database_url: str, pg_database: str | None,
          log: Any) -> BenchData:
    with runtime.database.begin() as connection:
        org = create_org(connection, ORG, "Benchmark Research")
        admin = create_account(connection, org["id"], email=ADMIN, password=PASSWORD, roles=["administrator"])
        monitor = create_account(connection, org["id"], email=MONITOR, password=PASSWORD, roles=[])
        app, key, _secret = create_app(connection, runtime.master_key, org["id"], name="Bench")
        create_object(connection, org["id"], {**SITES, "properties": [p for p in SITES["properties"]
                                                                      if p["type"] != "List"]})
        create_object(connection, org["id"], PATIENTS)
        sites_definition = update_object(connection, org["id"], "c_site", {"properties": SITES["properties"]})
        viewer = Viewer(org["id"], admin["id"], frozenset(admin["roles"]))
        sites = Instances(connection, runtime.database.dialect, org["id"], sites_definition, viewer)
        site_ids = [sites.create(body)["_id"] for body in site_bodies()]

    source = workdir / "patients.ndjson"
    log(f"generating {docs:,} patients into {source}")
    shared = [{"type": 1, "target": monitor["id"], "allow": 4}]  # Read, for the principal scenario
    with source.open("wb") as handle:
        for number, body in enumerate(patient_bodies(docs, site_ids)):
            if number % 2:
                body["acl"] = shared
            handle.write(orjson.dumps(body) + b"\n")
    size = source.stat().st_size
    log(f"importing {docs:,} patients ({size / 1e6:,.1f} MB of NDJSON) with the bulk import")
    jobs = auto_jobs()
    cpu = _cpu()
    with source.open("rb") as lines:
        report = import_ndjson(runtime.database, org["id"], "c_patients", viewer, lines, jobs=jobs)
    cpu = _cpu() - cpu
    if not report.committed:
        raise RuntimeError(f"the bulk import refused the generated data: {report.problems[:3]}")
    log(f"imported {report.imported:,} in {report.seconds:.1f} s ({report.imported / report.seconds:,.0f} docs/s)")
    source.unlink()
    if db == "postgres":  # what autovacuum does soon after a bulk load anyway; SQLite has no such thing
        with runtime.database.begin() as connection:
            connection.exec_driver_sql("ANALYZE documents")
    return BenchData(db=db, docs=docs, workdir=str(workdir), database_url=database_url, pg_database=pg_database,
                     org_id=org["id"], app_key=key, admin_id=admin["id"], monitor_id=monitor["id"],
                     site_ids=site_ids, ndjson_bytes=size, import_seconds=report.seconds,
                     import_cpu_seconds=cpu, import_jobs=jobs)


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (the validating processes)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


# Attached files


FILE_PROPERTY = "c_photo"
CHUNK = 1024 * 1024
MIB = 1024 * 1024
FILE_TYPES = {"jpg": "image/jpeg", "bin": "application/octet-stream"}
"""By name only (content is never sniffed): a JPEG is *stored* in the archive, a ``.bin`` deflated."""


@dataclass(frozen=True)
class FilesLayout:
    count: int
    size: int  # bytes of each file
    ext: str = "jpg"

    @classmethod
    def of(cls, total_mib: float, file_mib: float, ext: str = "jpg") -> FilesLayout:
        """``total_mib`` spread over files of about ``file_mib`` each (all of one size, the total exact)."""
        if total_mib <= 0 or file_mib <= 0:
            raise ValueError("--files-mib and --file-mib must be positive")
        count = max(1, math.ceil(total_mib / file_mib - 1e-9))
        return cls(count=count, size=max(1, int(total_mib * MIB) // count), ext=ext)

    @property
    def total(self) -> int:
        return self.count * self.size

    @property
    def where(self) -> str:
        """The export's ``where``: exactly the patients holding the files (``c_number`` is indexed)."""
        return orjson.dumps({"c_number": {"$lte": f"S-{self.count:07d}"}}).decode()

    def describe(self) -> str:
        return (f"{self.count:,} file{'s' if self.count != 1 else ''} of {_mib(self.size)} "
                f"({_mib(self.total)}, .{self.ext})")


def ensure_files(runtime: Runtime, data: BenchData, layout: FilesLayout, *, log: Any = print) -> dict[str, Any]:
    """Patients S-0000001 … S-<count> holding one file of ``layout.size`` random bytes each in
    ``c_photo``; made once per data set and layout (recorded in ``bench.json``)."""
    if layout.count > data.docs:
        raise ValueError(f"{layout.count} files need at least as many patients (--docs {data.docs})")
    if layout.size > runtime.settings.max_upload_bytes:
        raise ValueError(f"files of {layout.size} bytes are over the upload limit "
                         f"({runtime.settings.max_upload_bytes}); use a smaller --file-mib")
    current = data.files
    store = runtime.file_store
    if (current is not None and (current["count"], current["size"], current["ext"]) ==
            (layout.count, layout.size, layout.ext)
            and all(store.exists(storage_key(data.org_id, item["storageId"])) for item in current["items"])):
        log(f"reusing {layout.describe()} attached to patients")
        return current
    log(f"uploading {layout.describe()} into {FILE_PROPERTY} of {layout.count:,} patients")
    with runtime.database.connect() as connection:
        org = find_org(connection, ORG)
        viewer = as_principal(connection, data.org_id, data.admin_id)
        instances = Instances(connection, runtime.database.dialect, data.org_id,
                              get_object(connection, data.org_id, "c_patient"), viewer)
        patients = [(row["id"], row["body"]["c_number"]) for batch in instances.scan(layout.where)
                    for row in batch]
    if org is None or len(patients) != layout.count:
        raise RuntimeError(f"{layout.where} selects {len(patients)} patients, not {layout.count}")
    items = []
    started = time.perf_counter()
    for instance_id, number in sorted(patients, key=lambda patient: patient[1]):
        facet = upload_file(runtime, viewer, org, "c_patient", instance_id, FILE_PROPERTY,
                            f"photo-{number}.{layout.ext}", _random_chunks(layout.size),
                            content_type=FILE_TYPES[layout.ext])
        items.append({"id": instance_id, "number": number, "storageId": facet["storageId"],
                      "size": facet["size"], "sha256": facet["sha256"], "mime": facet["mime"]})
    seconds = time.perf_counter() - started
    log(f"uploaded {layout.total / 1e6:,.1f} MB in {seconds:.1f} s ({layout.total / 1e6 / seconds:,.0f} MB/s)")
    data.files = {"count": layout.count, "size": layout.size, "ext": layout.ext, "total": layout.total,
                  "where": layout.where, "items": items}
    save(data)
    return data.files


def _random_chunks(size: int) -> Iterator[bytes]:
    """Incompressible bytes, a chunk at a time (as an upload's body arrives)."""
    left = size
    while left > 0:
        chunk = os.urandom(min(CHUNK, left))
        left -= len(chunk)
        yield chunk


def _mib(size: int) -> str:
    if size >= MIB:
        return f"{size / MIB:,.0f} MiB" if size % MIB == 0 else f"{size / MIB:,.1f} MiB"
    return f"{size / 1024:,.0f} KiB"
