"""Helpers of the incremental export tests: a small object, exports run to the end, archives read back."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import orjson

from opencortex.acl.viewer import Viewer
from opencortex.exports import operations
from opencortex.exports.jobs import ExportJob
from opencortex.exports.output import archive_key
from opencortex.exports.worker import ExportWorker
from opencortex.ids import ROLE_ADMINISTRATOR
from opencortex.instances.service import Instances
from opencortex.model.objects import create_object, get_object
from tests.support.platform import OrgFixture


def small_object(name: str) -> dict[str, Any]:
    return {
        "name": name, "label": "Item", "createAcl": [{"type": 3, "target": ROLE_ADMINISTRATOR}],
        "defaultAcl": [{"type": 3, "target": ROLE_ADMINISTRATOR, "allow": 7}],
        "properties": [
            {"name": "c_n", "label": "N", "type": "Number", "indexed": True},
            {"name": "c_tag", "label": "Tag", "type": "String", "indexed": True},
        ],
    }  # fmt: skip


def define(platform: OrgFixture, name: str) -> None:
    with platform.runtime.database.begin() as connection:
        create_object(connection, platform.org["id"], small_object(name))


class Items:
    """Writes to one object's instances, each in its own transaction, as the administrator."""

    def __init__(self, platform: OrgFixture, name: str) -> None:
        self.platform = platform
        self.name = name

    def _with(self, action: str, *args: Any) -> Any:
        runtime, org_id = self.platform.runtime, self.platform.org["id"]
        admin = Viewer(org_id, self.platform.admin["id"], frozenset(self.platform.admin["roles"]))
        with runtime.database.begin() as connection:
            definition = get_object(connection, org_id, self.name)
            return getattr(Instances(connection, runtime.database.dialect, org_id, definition, admin), action)(*args)

    def create(self, body: dict[str, Any]) -> str:
        return str(self._with("create", body)["_id"])

    def update(self, instance_id: str, body: dict[str, Any]) -> None:
        self._with("update", instance_id, body)

    def delete(self, instance_id: str) -> None:
        self._with("delete", instance_id)


def export(platform: OrgFixture, worker: ExportWorker, **body: Any) -> ExportJob:
    """Create an export and run every pending one; the export as it ended."""
    job = operations.create(platform.runtime, platform.org, platform.admin["id"], {"label": "Delta", **body})
    while worker.run_once():
        pass
    return operations.get(platform.runtime, platform.org["id"], job.id)


def archive_bytes(platform: OrgFixture, job: ExportJob) -> bytes:
    """The archive as downloaded (decrypted)."""
    with platform.runtime.file_store.open_reader(archive_key(job.id, job.attempts)) as reader:
        return b"".join(reader)


def archive(platform: OrgFixture, job: ExportJob) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(archive_bytes(platform, job)))


def manifest(platform: OrgFixture, job: ExportJob) -> dict[str, Any]:
    return dict(orjson.loads(archive(platform, job).read("manifest.json")))


def contents(platform: OrgFixture, job: ExportJob) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the documents, the lines of ``deleted.ndjson``, empty without one)."""
    assert job.state.value == "ready", job.fault
    zipped = archive(platform, job)
    names = zipped.namelist()
    data = next(name for name in names if name.startswith("export-"))
    deleted = zipped.read("deleted.ndjson") if "deleted.ndjson" in names else b""
    return _lines(zipped.read(data)), _lines(deleted)


def _lines(data: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in data.split(b"\n") if line.strip()]


def apply(copy: dict[str, dict[str, Any]], job_contents: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> None:
    """What a consumer does with an incremental export: upsert its documents by ``_id``, then remove
    every ``_id`` of ``deleted.ndjson`` (in this order, the one that goes wrong if a re-created
    instance were also listed as deleted)."""
    documents, removed = job_contents
    for document in documents:
        copy[document["_id"]] = document
    for line in removed:
        copy.pop(line["_id"], None)
