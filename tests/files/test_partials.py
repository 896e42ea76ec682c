"""Partial writes (what a killed writer leaves), deleting whole folders, the stale-partial sweep,
empty folders, and a full disk: on the local store, and through the encrypted store above it."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import BinaryIO

import pytest

from opencortex.faults import Fault
from opencortex.files import EncryptedFileStore, LocalFileStore, PartialWrite, local

HOUR = 3600


def put(backend: LocalFileStore, key: str, data: bytes) -> None:
    with backend.open_writer(key) as writer:
        writer.write(data)
        writer.commit()


def killed_write(backend: LocalFileStore, key: str, size: int) -> None:
    """A writer in another process that dies mid-write: no commit, no abort, no clean-up."""
    child = textwrap.dedent(f"""
        import os
        from pathlib import Path
        from opencortex.files import LocalFileStore
        writer = LocalFileStore(Path({str(backend.root)!r})).open_writer({key!r})
        writer.write(b"x" * {size})  # more than a buffer: it reaches the file at once
        os._exit(9)
    """)
    subprocess.run([sys.executable, "-c", child], check=False, timeout=60)


def files_and_folders(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


def age(root: Path, seconds: float) -> None:
    """Make every partial under ``root`` look last written ``seconds`` ago."""
    then = time.time() - seconds
    for path in root.rglob(".*.part"):
        os.utime(path, (then, then))


def test_a_killed_writers_partial_is_listed_but_is_not_a_key(backend: LocalFileStore) -> None:
    put(backend, "exports/e1/1/manifest.json", b"{}")
    killed_write(backend, "exports/e1/1/archive.zip", 300_000)
    assert list(backend.list_keys("exports/")) == ["exports/e1/1/manifest.json"]
    partials = list(backend.list_partials("exports/e1/"))
    assert [(partial.key, partial.size) for partial in partials] == [("exports/e1/1/archive.zip", 300_000)]
    assert isinstance(partials[0], PartialWrite) and time.time() - partials[0].modified < 60
    assert list(backend.list_partials("exports/e2/")) == []
    assert list(backend.list_partials("exports/e1/1/arch")) == partials  # a plain string prefix, as keys


def test_delete_prefix_removes_objects_partials_and_the_emptied_folders(backend: LocalFileStore) -> None:
    put(backend, "exports/e1/1/archive.zip", b"first attempt")
    killed_write(backend, "exports/e1/2/archive.zip", 100_000)
    put(backend, "exports/e1/2/files/0000000001/photo", b"copied file")
    put(backend, "exports/e10/1/archive.zip", b"another export")  # shares the string prefix "exports/e1"
    assert backend.delete_prefix("exports/e1/") == 3
    assert list(backend.list_keys()) == ["exports/e10/1/archive.zip"]
    assert list(backend.list_partials()) == []
    assert files_and_folders(backend.root) == ["exports", "exports/e10", "exports/e10/1", "exports/e10/1/archive.zip"]
    # The last export of the store: every folder up to the root goes, the root stays.
    assert backend.delete_prefix("exports/e10/") == 1
    assert files_and_folders(backend.root) == []
    assert backend.root.is_dir()
    assert backend.delete_prefix("exports/nothing/") == 0


@pytest.mark.parametrize("prefix", ["", "exports/e1", "exports//", "/exports/", "../x/"])
def test_delete_prefix_takes_only_a_whole_folder(backend: LocalFileStore, prefix: str) -> None:
    put(backend, "exports/e1/1/archive.zip", b"kept")
    with pytest.raises(Fault) as raised:
        backend.delete_prefix(prefix)
    assert raised.value.err_code == "cortex.invalidArgument.fileKey"
    assert list(backend.list_keys()) == ["exports/e1/1/archive.zip"]


def test_a_writer_whose_folder_is_deleted_can_never_publish(backend: LocalFileStore) -> None:
    writer = backend.open_writer("exports/e1/3/archive.zip")
    writer.write(b"a lost attempt")
    assert backend.delete_prefix("exports/e1/") == 1
    with pytest.raises(FileNotFoundError):
        writer.commit()
    assert list(backend.list_keys()) == [] and list(backend.list_partials()) == []
    assert files_and_folders(backend.root) == []


def test_the_sweep_removes_old_partials_only(backend: LocalFileStore) -> None:
    put(backend, "orgs/o1/files/kept", b"committed objects are never swept")
    killed_write(backend, "exports/e1/1/archive.zip", 50_000)
    killed_write(backend, "orgs/o1/files/upload", 10_000)
    # Young: a writer that paused may still be running (on a store without locks, the age is all
    # there is), so nothing goes.
    assert backend.sweep_stale_partials(HOUR) == 0
    assert len(list(backend.list_partials())) == 2
    age(backend.root / "exports", 2 * HOUR)
    assert backend.sweep_stale_partials(HOUR) == 1
    assert [partial.key for partial in backend.list_partials()] == ["orgs/o1/files/upload"]
    [upload] = (backend.root / "orgs/o1/files").glob(".upload.*.part")
    assert files_and_folders(backend.root) == sorted(  # the swept partial's folders went with it
        ["orgs", "orgs/o1", "orgs/o1/files", "orgs/o1/files/kept", str(upload.relative_to(backend.root))])
    age(backend.root, 2 * HOUR)
    assert backend.sweep_stale_partials(HOUR) == 1
    assert files_and_folders(backend.root) == ["orgs", "orgs/o1", "orgs/o1/files", "orgs/o1/files/kept"]


def test_the_sweep_never_takes_a_write_in_flight_whatever_its_age(backend: LocalFileStore) -> None:
    writer = backend.open_writer("exports/e1/1/archive.zip")
    writer.write(b"first half, ")
    age(backend.root, 10 * HOUR)  # a long pause (a slow query between two writes)
    assert backend.sweep_stale_partials(0) == 0
    writer.write(b"second half")
    writer.commit()
    assert b"".join(backend.open_reader("exports/e1/1/archive.zip")) == b"first half, second half"


def test_a_writer_in_another_process_is_safe_until_it_dies(backend: LocalFileStore) -> None:
    child = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from opencortex.files import LocalFileStore
        writer = LocalFileStore(Path({str(backend.root)!r})).open_writer("exports/e1/1/archive.zip")
        writer.write(b"y" * 10_000)
        print("writing", flush=True)
        sys.stdin.read()  # alive until the test closes our standard input
        writer.commit()
    """)
    with subprocess.Popen([sys.executable, "-c", child], stdin=subprocess.PIPE, stdout=subprocess.PIPE) as process:
        assert process.stdout is not None and process.stdin is not None
        assert process.stdout.readline() == b"writing\n"
        age(backend.root, 10 * HOUR)
        assert backend.sweep_stale_partials(0) == 0  # its writer holds the partial's lock
        process.kill()
        process.wait()
        process.stdin.close()
        process.stdout.close()
    assert backend.sweep_stale_partials(0) == 1
    assert files_and_folders(backend.root) == []


def test_remove_empty_folders_clears_what_older_versions_left(backend: LocalFileStore) -> None:
    put(backend, "exports/e1/1/archive.zip", b"kept")
    (backend.root / "exports/e2/1/files").mkdir(parents=True)  # left by a crash, or an older version
    (backend.root / "orgs/o1").mkdir(parents=True)
    backend.remove_empty_folders("exports/")
    assert files_and_folders(backend.root) == [
        "exports", "exports/e1", "exports/e1/1", "exports/e1/1/archive.zip", "orgs", "orgs/o1"]
    assert backend.sweep_stale_partials(HOUR) == 0  # the sweep clears empty folders anywhere
    assert files_and_folders(backend.root) == ["exports", "exports/e1", "exports/e1/1", "exports/e1/1/archive.zip"]


def test_deleting_the_last_key_of_a_folder_removes_the_folders_it_empties(backend: LocalFileStore) -> None:
    put(backend, "orgs/o1/files/a", b"1")
    put(backend, "orgs/o1/files/b", b"2")
    put(backend, "orgs/o2/files/c", b"3")
    backend.delete("orgs/o1/files/a")
    assert (backend.root / "orgs/o1/files").is_dir()
    backend.delete("orgs/o1/files/b")
    assert files_and_folders(backend.root) == ["orgs", "orgs/o2", "orgs/o2/files", "orgs/o2/files/c"]
    backend.delete("orgs/o2/files/c")
    assert files_and_folders(backend.root) == [] and backend.root.is_dir()


def test_an_aborted_write_leaves_no_folder_behind_but_a_later_write_gets_one(backend: LocalFileStore) -> None:
    put(backend, "exports/e0/kept", b"a neighbour")
    with backend.open_writer("exports/e1/1/archive.zip") as writer:
        writer.write(b"never committed")
    assert files_and_folders(backend.root) == ["exports", "exports/e0", "exports/e0/kept"]
    backend.delete("exports/e0/kept")
    assert files_and_folders(backend.root) == []
    put(backend, "exports/e1/1/archive.zip", b"now")
    assert list(backend.list_keys()) == ["exports/e1/1/archive.zip"]


def test_a_writer_recreates_a_folder_that_a_delete_removed_under_it(
    backend: LocalFileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = local._open_partial
    raced = []

    def open_after_a_delete_pruned_the_folder(path: Path) -> BinaryIO:
        if not raced:
            raced.append(path)
            path.parent.rmdir()  # what deleting the folder's last key does, between mkdir and open
        return original(path)

    monkeypatch.setattr(local, "_open_partial", open_after_a_delete_pruned_the_folder)
    put(backend, "orgs/o1/files/new", b"stored anyway")
    assert raced and b"".join(backend.open_reader("orgs/o1/files/new")) == b"stored anyway"


def test_writes_and_deletes_racing_in_one_folder(backend: LocalFileStore) -> None:
    failures: list[BaseException] = []

    def churn(name: str) -> None:
        try:
            for index in range(150):
                put(backend, f"orgs/o1/files/{name}{index}", b"x")
                backend.delete(f"orgs/o1/files/{name}{index}")
        except BaseException as error:  # noqa: BLE001 (reported by the assertion below)
            failures.append(error)

    threads = [threading.Thread(target=churn, args=(name,)) for name in ("a", "b", "c")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert files_and_folders(backend.root) == []


class _FullSink:
    """A temporary file on a disk that is full: a write (``on="write"``), or the flush of what was
    buffered before the commit's fsync (``on="flush"``), fails as the OS fails it."""

    def __init__(self, real: BinaryIO, error: int, on: str) -> None:
        self.real = real
        self.error = error
        self.on = on

    def write(self, chunk: bytes) -> int:
        if self.on == "write":
            raise OSError(self.error, os.strerror(self.error))
        return self.real.write(chunk)

    def flush(self) -> None:
        if self.on == "flush":
            raise OSError(self.error, os.strerror(self.error))
        self.real.flush()

    def fileno(self) -> int:
        return self.real.fileno()

    def close(self) -> None:
        self.real.close()


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EDQUOT])
@pytest.mark.parametrize("on", ["write", "flush"])
def test_a_full_disk_is_a_storage_full_fault_without_paths(
    backend: LocalFileStore, monkeypatch: pytest.MonkeyPatch, on: str, error: int
) -> None:
    original = local._open_partial
    monkeypatch.setattr(local, "_open_partial", lambda path: _FullSink(original(path), error, on))
    with pytest.raises(Fault) as raised, backend.open_writer("exports/e1/1/archive.zip") as writer:
        writer.write(b"z" * 5000)
        writer.commit()
    fault = raised.value.to_json()
    assert (fault["errCode"], fault["status"], fault["code"]) == ("cortex.error.storageFull", 507, "kError")
    assert "full" in fault["message"] and "/" not in str(fault) and "part" not in str(fault)
    assert isinstance(raised.value.__cause__, OSError) and raised.value.__cause__.errno == error
    assert list(backend.list_keys()) == [] and list(backend.list_partials()) == []
    with pytest.raises(ValueError):
        writer.write(b"more")  # the writer was aborted: it cannot be committed later by mistake


def test_other_os_errors_are_not_called_a_full_disk(backend: LocalFileStore, monkeypatch: pytest.MonkeyPatch) -> None:
    original = local._open_partial
    monkeypatch.setattr(local, "_open_partial", lambda path: _FullSink(original(path), errno.EIO, "write"))
    with pytest.raises(OSError) as raised, backend.open_writer("k") as writer:
        writer.write(b"z" * 100)
    assert raised.value.errno == errno.EIO and not isinstance(raised.value, Fault)
    assert list(backend.list_partials()) == []


def test_a_full_disk_through_the_encrypted_store(
    store: EncryptedFileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = local._open_partial
    monkeypatch.setattr(local, "_open_partial", lambda path: _FullSink(original(path), errno.ENOSPC, "write"))
    with pytest.raises(Fault) as raised:
        store.write_chunks("orgs/o1/files/big", iter([b"q" * 1024 * 1024] * 3))
    assert raised.value.err_code == "cortex.error.storageFull"
    assert list(store.list_keys()) == [] and list(store.list_partials()) == []
    monkeypatch.setattr(local, "_open_partial", original)
    assert store.write_chunks("orgs/o1/files/big", [b"fits now"]).size == 8


def test_the_encrypted_store_passes_partials_deletes_and_sweeps_through(
    store: EncryptedFileStore, data_dir: Path
) -> None:
    store.write_chunks("exports/e1/1/archive.zip", [b"done"])
    with store.open_writer("exports/e1/2/archive.zip") as writer:
        writer.write(b"w" * 2_000_000)
        assert [partial.key for partial in store.list_partials("exports/e1/")] == ["exports/e1/2/archive.zip"]
        assert store.sweep_stale_partials(0) == 0  # in flight
        assert store.delete_prefix("exports/e1/") == 2
        with pytest.raises(FileNotFoundError):
            writer.commit()
    assert list(store.list_keys()) == [] and files_and_folders(data_dir / "files") == []
