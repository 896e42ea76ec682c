"""What the recovery tests share: exports of a small study, a worker killed mid-write (its partial
archive left in the store, local folder or S3, by a process that died), and ages and leases set by
hand."""

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


def on_local_folder(runtime: Runtime) -> bool:
    return isinstance(runtime.file_store.backend, LocalFileStore)


def killed_write(runtime: Runtime, key: str, size: int = 200_000) -> None:
    """A writer in another process that dies mid-write under ``key`` (an export worker killed while
    streaming its archive): no commit, no abort, no clean-up; on the local folder its lock dies
    with it, on S3 its multipart upload stays, with one part up (what makes it a partial there)."""
    if on_local_folder(runtime):
        opening = f"LocalFileStore(Path({str(local_store(runtime).root)!r}))"
        imports = "from pathlib import Path\nfrom opencortex.files import LocalFileStore"
    else:
        size = max(size, runtime.settings.s3_part_size + 1000)
        opening = "open_s3_store(Settings.from_env())"  # the test's store, from its OPENCORTEX_* variables
        imports = "from opencortex.files.s3 import open_s3_store\nfrom opencortex.settings import Settings"
    child = textwrap.dedent("""
        import os
        {imports}
        writer = {opening}.open_writer({key!r})
        writer.write(os.urandom({size}))  # more than a buffer (or a part): it reaches the store at once
        os._exit(9)
    """).format(imports=imports, opening=opening, key=key, size=size)
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
    """What is left under a key prefix: on the local folder its files, temporary files and
    folders; on S3 its objects and unfinished uploads, with the folders their keys imply."""
    if on_local_folder(runtime):
        top: Path = local_store(runtime).root.joinpath(*filter(None, prefix.split("/")))
        return sorted(str(path.relative_to(top)) for path in top.rglob("*")) if top.exists() else []
    store = runtime.file_store
    keys = [*store.list_keys(prefix), *(partial.key for partial in store.list_partials(prefix))]
    left: set[str] = set()
    for key in keys:
        parts = key.removeprefix(prefix).split("/")
        left.update("/".join(parts[:end]) for end in range(1, len(parts) + 1))
    return sorted(left)


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
