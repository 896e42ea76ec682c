"""``opencortex export download`` leaves no partial file when the download fails, and leaves a
file that was already there as it was."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from opencortex import faults
from opencortex.cli.main import cli
from opencortex.exports import operations
from opencortex.exports.output import archive_key
from opencortex.exports.worker import ExportWorker
from opencortex.files import EncryptedFileStore, LocalFileStore
from tests.instances.conftest import load_study
from tests.support.platform import OrgFixture


@pytest.fixture
def ready(platform: OrgFixture) -> str:
    """The id of a ready export of a small study."""
    load_study(platform, 6)
    job = operations.create(platform.runtime, platform.org, platform.admin["id"],
                            {"label": "Patients", "objects": "c_patients"})
    while ExportWorker(platform.runtime, concurrency=1).run_once():
        pass
    assert operations.get(platform.runtime, platform.org["id"], job.id).state.value == "ready"
    return job.id


def download(platform: OrgFixture, export_id: str, output: Path) -> Result:
    return CliRunner().invoke(cli, ["--data-dir", str(platform.runtime.settings.data_dir), "--database-url",
                                    platform.runtime.database.url, "export", "download", "--org", platform.code,
                                    export_id, "-o", str(output)])


def leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_a_download_writes_the_whole_archive(platform, ready, tmp_path):
    output = tmp_path / "out" / "export.zip"
    output.parent.mkdir()
    result = download(platform, ready, output)
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(output) as archive:
        assert archive.namelist()[-1] == "manifest.json"
    assert leftovers(output.parent) == ["export.zip"]


def test_an_archive_damaged_at_rest_leaves_no_partial_file(platform, ready, tmp_path):
    backend = platform.runtime.file_store.backend
    assert isinstance(backend, LocalFileStore)
    stored = backend.root.joinpath(*archive_key(ready, 1).split("/"))
    damaged = bytearray(stored.read_bytes())
    damaged[-20] ^= 0xFF  # the archive fails authentication as it is read
    stored.write_bytes(bytes(damaged))
    output = tmp_path / "out" / "export.zip"
    output.parent.mkdir()
    result = download(platform, ready, output)
    assert result.exit_code == 1 and "failed authentication" in result.output
    assert leftovers(output.parent) == []


@pytest.fixture
def failing_midway(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every read from the store gives one chunk, then the storage fails."""
    real = EncryptedFileStore.open_reader

    def open_reader(self: EncryptedFileStore, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        reader = real(self, key, start, end)

        def chunks() -> Iterator[bytes]:
            with reader:
                yield next(iter(reader))
                raise faults.storage_unavailable("the storage stopped answering")

        return _Closing(chunks())

    monkeypatch.setattr(EncryptedFileStore, "open_reader", open_reader)


class _Closing:
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        return self.chunks

    def __enter__(self) -> _Closing:
        return self

    def __exit__(self, *_exc: object) -> None:
        pass


def test_a_download_that_fails_midway_removes_its_partial_file_and_keeps_an_earlier_one(platform, ready, tmp_path,
                                                                                         failing_midway):
    output = tmp_path / "out" / "export.zip"
    output.parent.mkdir()
    result = download(platform, ready, output)
    assert result.exit_code == 1 and "stopped answering" in result.output
    assert leftovers(output.parent) == []

    output.write_bytes(b"an earlier download")
    assert download(platform, ready, output).exit_code == 1
    assert leftovers(output.parent) == ["export.zip"] and output.read_bytes() == b"an earlier download"
