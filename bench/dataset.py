"""The benchmark's data: an org with the study model and N realistic patients, loaded by bulk import.

Everything lives in one work folder (the data folder of a runtime: SQLite file, master key,
encrypted file store) plus, for PostgreSQL, a database of its own created on the local server.
``bench.json`` in the folder describes what is there, so a later run with the same ``--workdir``
and ``--docs`` reuses it instead of loading again.
"""

from __future__ import annotations

import os
import resource
import shutil
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from opencortex.acl.viewer import Viewer
from opencortex.cli.imports import auto_jobs
from opencortex.demo.study import PATIENTS, SITES, patient_bodies, site_bodies
from opencortex.instances.bulk import import_ndjson
from opencortex.instances.service import Instances
from opencortex.model.accounts import create_account
from opencortex.model.apps import create_app
from opencortex.model.objects import create_object, update_object
from opencortex.model.orgs import create_org
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
    marker.write_bytes(orjson.dumps(asdict(data), option=orjson.OPT_INDENT_2))
    return data


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
