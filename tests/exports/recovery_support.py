"""What the recovery tests share: exports of a small study, a worker killed mid-write (its partial
archive left in the local store by a process that died), and ages and leases set by hand."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from opencortex.clock import utcnow
from opencortex.exports import operations
from opencortex.exports.jobs import ExportJob
from opencortex.exports.queue import claim_next_export
from opencortex.files import LocalFileStore
from opencortex.files.accounting import storage_usage
from opencortex.runtime import Runtime
from opencortex.store.tables import exports
from tests.support.platform import OrgFixture

HOUR = 3600


def create_export(platform: OrgFixture, label: str = "Patients") -> ExportJob:
    return operations.create(platform.runtime, platform.org, platform.admin["id"],
                             {"label": label, "objects": "c_patients"})


def claim_as(platform: OrgFixture, worker_id: str) -> ExportJob:
    """A worker ``worker_id`` claims the next export (and then, in the tests, dies)."""
    database = platform.runtime.database
    with database.begin() as connection:
        job = claim_next_export(connection, database.dialect, worker_id, 30)
    assert job is not None
    return job


def expire_lease(platform: OrgFixture, export_id: str) -> None:
    with platform.runtime.database.begin() as connection:
        connection.execute(exports.update().where(exports.c.id == export_id)
                           .values(lease_expires=utcnow() - timedelta(seconds=1)))


def local_store(runtime: Runtime) -> LocalFileStore:
    backend = runtime.file_store.backend
    assert isinstance(backend, LocalFileStore)
    return backend


def killed_write(runtime: Runtime, key: str, size: int = 200_000) -> None:
    """A writer in another process that dies mid-write under ``key`` (an export worker killed while
    streaming its archive): no commit, no abort, no clean-up; its lock dies with it."""
    child = textwrap.dedent(f"""
        import os
        from pathlib import Path
        from opencortex.files import LocalFileStore
        writer = LocalFileStore(Path({str(local_store(runtime).root)!r})).open_writer({key!r})
        writer.write(os.urandom({size}))  # more than a buffer: it reaches the file at once
        os._exit(9)
    """)
    subprocess.run([sys.executable, "-c", child], check=False, timeout=60)


def partial_keys(runtime: Runtime, prefix: str = "") -> list[str]:
    return [partial.key for partial in runtime.file_store.list_partials(prefix)]


def age_partials(runtime: Runtime, seconds: float, prefix: str = "") -> None:
    """Make the partials under ``prefix`` look last written ``seconds`` ago."""
    then = time.time() - seconds
    root = local_store(runtime).root
    for path in root.joinpath(*filter(None, prefix.split("/"))).rglob(".*.part"):
        os.utime(path, (then, then))


def folders(runtime: Runtime, prefix: str) -> list[str]:
    """What is left on disk under a key prefix (files, temporary files and folders)."""
    top: Path = local_store(runtime).root.joinpath(*filter(None, prefix.split("/")))
    return sorted(str(path.relative_to(top)) for path in top.rglob("*")) if top.exists() else []


def export_row(runtime: Runtime, export_id: str) -> dict[str, Any]:
    with runtime.database.connect() as connection:
        row = connection.execute(sa.select(exports).where(exports.c.id == export_id)).mappings().first()
    assert row is not None
    return dict(row)


def usage_and_stored(runtime: Runtime, org_id: str) -> tuple[int, int]:
    """(the bytes counted against the org, the bytes of the objects its exports hold in the store)."""
    with runtime.database.connect() as connection:
        used = storage_usage(connection, runtime.settings, org_id).used
    store = runtime.file_store
    return used, sum(store.size(key) for key in store.list_keys("exports/"))
