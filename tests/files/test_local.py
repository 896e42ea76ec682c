"""The local-folder backend: streaming, ranges, listing, and atomic publication."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from opencortex.faults import Fault
from opencortex.files import LocalFileStore


def put(backend: LocalFileStore, key: str, data: bytes) -> None:
    with backend.open_writer(key) as writer:
        writer.write(data)
        writer.commit()


def test_round_trip_in_chunks(backend: LocalFileStore) -> None:
    data = os.urandom(700_000)
    with backend.open_writer("orgs/1/a.bin") as writer:
        for offset in range(0, len(data), 65_536):
            writer.write(data[offset : offset + 65_536])
        writer.commit()
    assert b"".join(backend.open_reader("orgs/1/a.bin")) == data
    assert backend.size("orgs/1/a.bin") == len(data)
    assert backend.exists("orgs/1/a.bin")
    assert (backend.root / "orgs" / "1" / "a.bin").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0, 0, slice(0, 1)),
        (0, 9, slice(0, 10)),
        (500_000, 600_000, slice(500_000, 600_001)),
        (699_990, None, slice(699_990, None)),
        (699_990, 10**9, slice(699_990, None)),
        (700_000, None, slice(0, 0)),
        (0, None, slice(None)),
    ],
)
def test_range_reads(backend: LocalFileStore, start: int, end: int | None, expected: slice) -> None:
    data = os.urandom(700_000)
    put(backend, "r", data)
    assert b"".join(backend.open_reader("r", start, end)) == data[expected]


@pytest.mark.parametrize(("start", "end"), [(-1, None), (10, 9)])
def test_malformed_ranges_are_faults(backend: LocalFileStore, start: int, end: int | None) -> None:
    put(backend, "r", b"abc")
    with pytest.raises(Fault) as raised:
        backend.open_reader("r", start, end)
    assert raised.value.err_code == "cortex.invalidArgument.range"


def test_missing_keys(backend: LocalFileStore) -> None:
    for call in (lambda: backend.open_reader("no/such"), lambda: backend.size("no/such")):
        with pytest.raises(Fault) as raised:
            call()
        assert raised.value.err_code == "cortex.notFound.file"
        assert raised.value.status == 404
    assert not backend.exists("no/such")
    backend.delete("no/such")  # idempotent, as in S3


def test_a_folder_of_keys_is_not_an_object(backend: LocalFileStore) -> None:
    put(backend, "a/b", b"x")
    assert not backend.exists("a")
    with pytest.raises(Fault):
        backend.size("a")
    with pytest.raises(Fault):
        backend.open_reader("a")
    backend.delete("a")
    assert backend.exists("a/b")
    with pytest.raises(Fault) as raised, backend.open_writer("a") as writer:
        writer.commit()
    assert raised.value.err_code == "cortex.invalidArgument.fileKey"
    with pytest.raises(Fault) as raised:
        backend.open_writer("a/b/c")  # "a/b" is a file, so it cannot be a folder
    assert raised.value.err_code == "cortex.invalidArgument.fileKey"
    assert sorted(backend.list_keys()) == ["a/b"]


def test_delete(backend: LocalFileStore) -> None:
    put(backend, "d/x", b"1")
    backend.delete("d/x")
    assert not backend.exists("d/x")
    assert list(backend.list_keys()) == []


def test_list_keys_in_lexicographic_order_with_string_prefixes(backend: LocalFileStore) -> None:
    keys = ["a-c", "a/b", "a/c/d", "a0", "b", "ab", "a/c.txt"]
    keys += ["exports/1.zip", "exports/10.zip", "exports/2.zip"]
    for key in keys:
        put(backend, key, b"x")
    assert list(backend.list_keys()) == sorted(keys)
    assert list(backend.list_keys("a/")) == ["a/b", "a/c.txt", "a/c/d"]
    assert list(backend.list_keys("a/c")) == ["a/c.txt", "a/c/d"]
    assert list(backend.list_keys("a")) == sorted(key for key in keys if key.startswith("a"))
    assert list(backend.list_keys("exports/1")) == ["exports/1.zip", "exports/10.zip"]
    assert list(backend.list_keys("nothing/")) == []


def test_commit_replaces_an_existing_object(backend: LocalFileStore) -> None:
    put(backend, "k", b"old")
    with backend.open_writer("k") as writer:
        writer.write(b"new, longer")
        assert b"".join(backend.open_reader("k")) == b"old"  # not visible before commit
        writer.commit()
    assert b"".join(backend.open_reader("k")) == b"new, longer"


def test_abort_and_exceptions_publish_nothing(backend: LocalFileStore) -> None:
    writer = backend.open_writer("x/aborted")
    writer.write(b"half")
    writer.abort()
    writer.abort()  # idempotent
    with pytest.raises(ValueError):
        writer.write(b"more")
    with pytest.raises(RuntimeError), backend.open_writer("x/failed") as failing:
        failing.write(b"half")
        raise RuntimeError("the producer failed")
    with backend.open_writer("x/forgotten") as forgotten:
        forgotten.write(b"never committed")
    assert list(backend.list_keys()) == []
    assert [path.name for path in backend.root.rglob("*") if path.is_file()] == []


def test_a_writer_killed_before_commit_leaves_nothing_visible(backend: LocalFileStore) -> None:
    put(backend, "k", b"the old object")
    child = textwrap.dedent(f"""
        import os
        from pathlib import Path
        from opencortex.files import LocalFileStore
        writer = LocalFileStore(Path({str(backend.root)!r})).open_writer("k")
        writer.write(b"x" * 100_000)
        os._exit(9)  # killed mid-write: no commit, no abort, no cleanup
    """)
    subprocess.run([sys.executable, "-c", child], check=False)
    assert b"".join(backend.open_reader("k")) == b"the old object"
    assert list(backend.list_keys()) == ["k"]
    partials = [path for path in backend.root.iterdir() if path.name.endswith(".part")]
    assert len(partials) == 1 and partials[0].name.startswith(".")
    assert backend.sweep_stale_partials(older_than_seconds=3600) == 0  # could still be running
    assert backend.sweep_stale_partials(older_than_seconds=0) == 1
    assert sorted(path.name for path in backend.root.iterdir()) == ["k"]


def test_reader_releases_its_file(backend: LocalFileStore) -> None:
    put(backend, "k", os.urandom(1_000_000))
    descriptors = len(os.listdir("/proc/self/fd"))
    with backend.open_reader("k") as reader:
        next(reader)
    unstarted = backend.open_reader("k")
    unstarted.close()
    assert b"".join(backend.open_reader("k", 0, 10))
    assert len(os.listdir("/proc/self/fd")) == descriptors


def test_root_defaults_under_the_data_folder(tmp_path: Path) -> None:
    assert LocalFileStore.in_data_dir(tmp_path).root == tmp_path / "files"
