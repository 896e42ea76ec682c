"""The S3 backend against a real S3-protocol server (moto's): the ``FileStore`` contract the local
backend keeps (``test_local.py``, ``test_partials.py``), in terms of objects and multipart uploads."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError, ResponseStreamingError

from opencortex.faults import Fault
from opencortex.files import PartialWrite, s3, s3_writer
from opencortex.files.s3 import S3FileStore
from opencortex.settings import Settings
from tests.support.s3 import BUCKET, S3Server

MIB = 1024 * 1024
PART = 5 * MIB  # the smallest part S3 (and moto) accepts
HOUR = 3600


@pytest.fixture
def backend(s3_settings: Settings) -> S3FileStore:
    return s3.open_s3_store(s3_settings.with_changes(s3_part_size=PART))


def put(backend: S3FileStore, key: str, data: bytes) -> None:
    with backend.open_writer(key) as writer:
        writer.write(data)
        writer.commit()


def read(backend: S3FileStore, key: str, start: int = 0, end: int | None = None) -> bytes:
    with backend.open_reader(key, start, end) as reader:
        return b"".join(reader)


def killed_write(settings: Settings, key: str, size: int) -> None:
    """A writer in another process that dies mid-write: no commit, no abort, no clean-up."""
    child = textwrap.dedent(f"""
        import os
        from opencortex.files.s3 import open_s3_store
        from opencortex.settings import Settings
        writer = open_s3_store(Settings(**{settings_fields(settings)!r})).open_writer({key!r})
        for offset in range(0, {size}, 1024 * 1024):  # a part goes up each time 5 MiB are pending
            writer.write(b"x" * min(1024 * 1024, {size} - offset))
        os._exit(9)
    """)
    subprocess.run([sys.executable, "-c", child], check=False, timeout=60)


def settings_fields(settings: Settings) -> dict[str, Any]:
    return {
        "storage_url": settings.storage_url, "s3_endpoint_url": settings.s3_endpoint_url,
        "s3_region": settings.s3_region, "s3_access_key_id": settings.s3_access_key_id,
        "s3_secret_access_key": settings.s3_secret_access_key, "s3_part_size": PART,
    }


def test_round_trip_small_and_in_several_parts(backend: S3FileStore, s3_server: S3Server, s3_location: str) -> None:
    put(backend, "orgs/1/small", b"hello")
    large = bytes(range(256)) * (12 * MIB // 256) + b"tail"  # three parts: 5 MiB, 5 MiB, the rest
    with backend.open_writer("orgs/1/large") as writer:
        for offset in range(0, len(large), MIB - 3):
            writer.write(large[offset : offset + MIB - 3])
        assert not backend.exists("orgs/1/large")  # parts are up, nothing is published
        writer.commit()
    assert read(backend, "orgs/1/small") == b"hello"
    assert read(backend, "orgs/1/large") == large
    assert backend.size("orgs/1/large") == len(large) and backend.exists("orgs/1/large")
    assert sorted(s3_server.object_names(s3_location)) == ["orgs/1/large", "orgs/1/small"]
    assert s3_server.uploads(s3_location) == []


def test_an_empty_object(backend: S3FileStore) -> None:
    put(backend, "empty", b"")
    assert backend.size("empty") == 0
    assert read(backend, "empty") == b"" and read(backend, "empty", 0, 0) == b""


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0, None, slice(0, None)),
        (0, 0, slice(0, 1)),
        (3, 5, slice(3, 6)),
        (7, None, slice(7, None)),
        (8, 100, slice(8, 10)),  # clamped at the end
        (10, None, slice(10, 10)),  # starts at the end: nothing
        (50, 60, slice(10, 10)),  # starts past the end: nothing
    ],
)
def test_range_reads(backend: S3FileStore, start: int, end: int | None, expected: slice) -> None:
    put(backend, "k", b"0123456789")
    assert read(backend, "k", start, end) == b"0123456789"[expected]


@pytest.mark.parametrize(("start", "end"), [(-1, None), (5, 4)])
def test_malformed_ranges_are_faults(backend: S3FileStore, start: int, end: int | None) -> None:
    put(backend, "k", b"abc")
    with pytest.raises(Fault) as raised:
        backend.open_reader("k", start, end)
    assert raised.value.err_code == "cortex.invalidArgument.range"


def test_missing_keys(backend: S3FileStore) -> None:
    with pytest.raises(Fault) as raised:
        backend.open_reader("no/such/key")
    assert raised.value.err_code == "cortex.notFound.file"
    with pytest.raises(Fault):
        backend.size("no/such/key")
    assert not backend.exists("no/such/key")
    backend.delete("no/such/key")  # idempotent, as in S3


def test_list_keys_in_lexicographic_order_with_string_prefixes(
    backend: S3FileStore, s3_server: S3Server, s3_location: str
) -> None:
    for key in ["b", "a/z", "a/b/c", "a-b", "a0", "orgs/1/x", "orgs/10/y"]:
        put(backend, key, key.encode())
    # An object named as no key can be (a dot-name: the keyset's kind) is never listed.
    s3_server.client.put_object(Bucket=BUCKET, Key=s3_location.removeprefix(f"s3://{BUCKET}/") + "/.hidden/x",
                                Body=b"")
    assert list(backend.list_keys()) == ["a-b", "a/b/c", "a/z", "a0", "b", "orgs/1/x", "orgs/10/y"]
    assert list(backend.list_keys("orgs/1")) == ["orgs/1/x", "orgs/10/y"]  # a plain string prefix
    assert list(backend.list_keys("orgs/1/")) == ["orgs/1/x"]
    assert list(backend.list_keys("nothing/")) == []
    with pytest.raises(Fault):
        backend.list_keys("../")


def test_another_prefix_of_the_bucket_is_another_store(backend: S3FileStore, s3_server: S3Server,
                                                       s3_settings: Settings) -> None:
    other = s3.open_s3_store(s3_settings.with_changes(storage_url=s3_server.new_location()))
    put(backend, "k", b"mine")
    assert not other.exists("k") and list(other.list_keys()) == []


def test_commit_replaces_an_existing_object(backend: S3FileStore) -> None:
    put(backend, "k", b"first")
    with backend.open_writer("k") as writer:
        writer.write(b"second")
        assert read(backend, "k") == b"first"
        writer.commit()
    assert read(backend, "k") == b"second"


def test_abort_and_exceptions_publish_nothing_and_leave_no_upload(
    backend: S3FileStore, s3_server: S3Server, s3_location: str
) -> None:
    writer = backend.open_writer("a")
    writer.write(b"x" * (PART + 1))  # one part is up
    writer.abort()
    writer.abort()  # twice is fine
    with pytest.raises(ValueError):
        writer.commit()
    with pytest.raises(RuntimeError), backend.open_writer("b") as failing:
        failing.write(b"y" * 100)
        raise RuntimeError("the export query failed")
    with backend.open_writer("c") as forgotten:
        forgotten.write(b"never committed")
    assert list(backend.list_keys()) == [] and list(backend.list_partials()) == []
    assert s3_server.object_names(s3_location) == [] and s3_server.uploads(s3_location) == []


def test_a_writer_killed_before_commit_leaves_a_partial_and_no_object(backend: S3FileStore, s3_settings: Settings
                                                                      ) -> None:
    put(backend, "exports/e1/1/manifest.json", b"{}")
    killed_write(s3_settings, "exports/e1/1/archive.zip", PART + 1000)  # one part up, 1000 bytes pending
    assert list(backend.list_keys("exports/")) == ["exports/e1/1/manifest.json"]
    partials = list(backend.list_partials("exports/e1/"))
    assert [(partial.key, partial.size) for partial in partials] == [("exports/e1/1/archive.zip", PART)]
    assert isinstance(partials[0], PartialWrite) and abs(time.time() - partials[0].modified) < 60
    assert list(backend.list_partials("exports/e2/")) == []
    assert list(backend.list_partials("exports/e1/1/arch")) == partials  # a plain string prefix
    with pytest.raises(Fault):
        backend.open_reader("exports/e1/1/archive.zip")


def test_delete_prefix_removes_objects_and_uploads_of_one_folder(backend: S3FileStore, s3_settings: Settings
                                                                 ) -> None:
    put(backend, "exports/e1/1/archive.zip", b"first attempt")
    killed_write(s3_settings, "exports/e1/2/archive.zip", 1000)
    put(backend, "exports/e1/2/files/0000000001/photo", b"copied file")
    put(backend, "exports/e10/1/archive.zip", b"another export")  # shares the string prefix "exports/e1"
    assert backend.delete_prefix("exports/e1/") == 3
    assert list(backend.list_keys()) == ["exports/e10/1/archive.zip"]
    assert list(backend.list_partials()) == []
    assert backend.delete_prefix("exports/e10/") == 1
    assert backend.delete_prefix("exports/nothing/") == 0


def test_delete_prefix_deletes_in_batches(backend: S3FileStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3, "PAGE_SIZE", 3)
    requests: list[int] = []
    delete_objects = backend.client.delete_objects

    def counted(**arguments: Any) -> Any:
        requests.append(len(arguments["Delete"]["Objects"]))
        return delete_objects(**arguments)

    monkeypatch.setattr(backend.client, "delete_objects", counted)
    for index in range(8):
        put(backend, f"orgs/o1/files/{index}", b"x")
    put(backend, "orgs/o2/files/kept", b"y")
    assert backend.delete_prefix("orgs/o1/") == 8
    assert requests == [3, 3, 2]
    assert list(backend.list_keys()) == ["orgs/o2/files/kept"]


@pytest.mark.parametrize("prefix", ["", "exports/e1", "exports//", "/exports/", "../x/"])
def test_delete_prefix_takes_only_a_whole_folder(backend: S3FileStore, prefix: str) -> None:
    put(backend, "exports/e1/1/archive.zip", b"kept")
    with pytest.raises(Fault) as raised:
        backend.delete_prefix(prefix)
    assert raised.value.err_code == "cortex.invalidArgument.fileKey"
    assert list(backend.list_keys()) == ["exports/e1/1/archive.zip"]


def test_a_writer_whose_folder_is_deleted_can_never_publish(backend: S3FileStore) -> None:
    writer = backend.open_writer("exports/e1/3/archive.zip")
    writer.write(b"a lost attempt")
    assert backend.delete_prefix("exports/e1/") == 1
    with pytest.raises(FileNotFoundError):
        writer.commit()
    assert list(backend.list_keys()) == [] and list(backend.list_partials()) == []


def test_a_writer_whose_folder_is_deleted_fails_at_its_next_part_too(backend: S3FileStore) -> None:
    writer = backend.open_writer("exports/e1/3/archive.zip")
    writer.write(b"a" * 100)
    backend.delete_prefix("exports/e1/")
    with pytest.raises(FileNotFoundError):
        writer.write(b"b" * PART)  # fills a part, whose upload finds no upload any more
    with pytest.raises(ValueError):
        writer.commit()
    assert list(backend.list_keys()) == [] and list(backend.list_partials()) == []


def later(backend: S3FileStore, seconds: float) -> None:
    """Move the store's clock ``seconds`` ahead: every upload looks that much older to its sweeps."""
    backend.clock = lambda: time.time() + seconds


def test_the_sweep_aborts_uploads_idle_for_longer_than_its_age(backend: S3FileStore, s3_settings: Settings) -> None:
    put(backend, "orgs/o1/files/kept", b"committed objects are never swept")
    killed_write(s3_settings, "exports/e1/1/archive.zip", PART + 10)
    killed_write(s3_settings, "orgs/o1/files/upload", PART + 20)
    # Young: a writer that paused may still be running (S3 has no locks: the age is all there is).
    assert backend.sweep_stale_partials(HOUR) == 0
    assert len(list(backend.list_partials())) == 2
    later(backend, 2 * HOUR)
    assert backend.sweep_stale_partials(HOUR) == 2
    assert list(backend.list_partials()) == []
    assert list(backend.list_keys()) == ["orgs/o1/files/kept"]


def test_the_sweep_never_takes_a_write_of_this_process_whatever_its_age(backend: S3FileStore) -> None:
    writer = backend.open_writer("exports/e1/1/archive.zip")
    writer.write(b"first half, " + b"." * PART)
    later(backend, 10 * HOUR)  # a long pause (a slow query between two writes)
    assert backend.sweep_stale_partials(0) == 0
    writer.write(b"second half")
    writer.commit()
    assert read(backend, "exports/e1/1/archive.zip") == b"first half, " + b"." * PART + b"second half"
    assert backend.sweep_stale_partials(0) == 0


def test_a_live_writer_keeps_its_upload_young_for_other_processes(backend: S3FileStore, s3_settings: Settings
                                                                  ) -> None:
    backend.keepalive_seconds = 0.0  # every write re-sends the unfinished part
    quiet = s3.open_s3_store(s3_settings.with_changes(s3_part_size=PART))  # the default: every ten minutes
    alive, paused = backend.open_writer("exports/e1/1/archive.zip"), quiet.open_writer("exports/e2/1/archive.zip")
    time.sleep(1.5)
    written = time.time()
    alive.write(b"a" * 1000)  # far from a full part, but sent now: the upload's age starts again
    paused.write(b"b" * 1000)  # held in memory: the upload looks as old as its start
    assert [(partial.key, partial.size) for partial in backend.list_partials()] == [
        ("exports/e1/1/archive.zip", 1000), ("exports/e2/1/archive.zip", 0)]
    other_process = s3.open_s3_store(s3_settings)  # knows neither writer: only the ages tell
    # An hour after the alive writer's write, less a second (S3 keeps times in whole seconds):
    # the paused upload began 1.5 s before it, however long this test takes from here.
    other_process.clock = lambda: written - 1 + HOUR
    assert other_process.sweep_stale_partials(HOUR) == 1
    alive.write(b"c" * PART)  # the full part replaces the one sent early, under the same number
    alive.write(b"d")
    alive.commit()
    assert read(backend, "exports/e1/1/archive.zip") == b"a" * 1000 + b"c" * PART + b"d"
    with pytest.raises(FileNotFoundError):
        paused.commit()
    assert list(backend.list_partials()) == []


def test_parts_grow_so_that_huge_objects_fit_in_10000_parts(
    backend: S3FileStore, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3_writer, "PARTS_PER_SIZE", 2)  # sizes double every 2 parts, not every 1,000
    data = bytes(range(256)) * (33 * MIB // 256)
    writer = backend.open_writer("big")
    for offset in range(0, len(data), MIB):
        writer.write(data[offset : offset + MIB])
    parts = s3_server.client.list_parts(Bucket=BUCKET, Key=backend.object_key("big"),
                                        UploadId=writer.upload_id)["Parts"]
    assert [part["Size"] // MIB for part in parts] == [5, 5, 10, 10]
    writer.commit()
    assert read(backend, "big") == data


def test_a_full_object_store_is_a_storage_full_fault_without_names(
    backend: S3FileStore, s3_server: S3Server, s3_location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(**_arguments: Any) -> Any:
        raise ClientError({"Error": {"Code": "XMinioStorageFull", "Message": "Storage backend has reached its "
                                     "minimum free drive threshold."}}, "UploadPart")

    monkeypatch.setattr(backend.client, "upload_part", full)
    with pytest.raises(Fault) as raised, backend.open_writer("exports/e1/1/archive.zip") as writer:
        writer.write(b"z" * PART)
    fault = raised.value.to_json()
    assert (fault["errCode"], fault["status"]) == ("cortex.error.storageFull", 507)
    assert "exports" not in str(fault) and BUCKET not in str(fault)
    assert s3_server.uploads(s3_location) == []  # aborted
    with pytest.raises(ValueError):
        writer.write(b"more")


def test_other_errors_of_the_object_store_are_not_called_full(
    backend: S3FileStore, s3_server: S3Server, s3_location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(**_arguments: Any) -> Any:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "UploadPart")

    monkeypatch.setattr(backend.client, "upload_part", denied)
    with pytest.raises(ClientError) as raised, backend.open_writer("k") as writer:
        writer.write(b"z" * PART)
    assert raised.value.response["Error"]["Code"] == "AccessDenied" and not isinstance(raised.value, Fault)
    assert s3_server.uploads(s3_location) == []


class _BreakingBody:
    """A GET's body that delivers ``good`` bytes, then fails as a dropped connection does."""

    def __init__(self, body: Any, good: int) -> None:
        self.body = body
        self.good = good

    def iter_chunks(self, size: int) -> Iterator[bytes]:
        yield self.body.read(self.good)
        raise ResponseStreamingError(error="Connection broken: IncompleteRead")

    def close(self) -> None:
        self.body.close()


def test_a_read_that_breaks_resumes_where_it_stopped(backend: S3FileStore, monkeypatch: pytest.MonkeyPatch) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    put(backend, "k", data)
    get_object, requests = backend.client.get_object, []

    def breaking(**arguments: Any) -> Any:
        requests.append({name: arguments.get(name) for name in ("Range", "IfMatch")})
        response = get_object(**arguments)
        if len(requests) <= 2:  # the first GET and the first resume break; the second resume runs
            response["Body"] = _BreakingBody(response["Body"], 100_000)
        return response

    monkeypatch.setattr(backend.client, "get_object", breaking)
    assert read(backend, "k", 10, None) == data[10:]
    etag = requests[1]["IfMatch"]
    assert etag and requests == [{"Range": "bytes=10-", "IfMatch": None},
                                 {"Range": "bytes=100010-", "IfMatch": etag},
                                 {"Range": "bytes=200010-", "IfMatch": etag}]


def test_a_read_that_keeps_breaking_fails(backend: S3FileStore, monkeypatch: pytest.MonkeyPatch) -> None:
    put(backend, "k", b"q" * 500_000)
    get_object = backend.client.get_object

    def breaking(**arguments: Any) -> Any:
        response = get_object(**arguments)
        response["Body"] = _BreakingBody(response["Body"], 0)  # no progress at all
        return response

    monkeypatch.setattr(backend.client, "get_object", breaking)
    with pytest.raises(ResponseStreamingError), backend.open_reader("k") as reader:
        list(reader)


def test_a_resumed_read_never_mixes_in_a_replaced_object(backend: S3FileStore, monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    put(backend, "k", b"old " * 100_000)
    get_object = backend.client.get_object
    broken: list[bool] = []

    def breaking_then_replaced(**arguments: Any) -> Any:
        response = get_object(**arguments)
        if not broken:
            broken.append(True)
            response["Body"] = _BreakingBody(response["Body"], 1000)
            monkeypatch.setattr(backend.client, "get_object", get_object)
            put(backend, "k", b"new " * 100_000)
        return response

    monkeypatch.setattr(backend.client, "get_object", breaking_then_replaced)
    received = bytearray()
    with pytest.raises(ClientError) as raised, backend.open_reader("k") as reader:
        for chunk in reader:
            received += chunk
    assert raised.value.response["Error"]["Code"] in ("PreconditionFailed", "412")
    assert bytes(received) == (b"old " * 100_000)[:1000]


def test_remove_empty_folders_is_a_no_op(backend: S3FileStore) -> None:
    put(backend, "exports/e1/1/archive.zip", b"kept")
    backend.remove_empty_folders("exports/")
    assert list(backend.list_keys()) == ["exports/e1/1/archive.zip"]
    with pytest.raises(Fault):
        backend.remove_empty_folders("../")


def test_the_repr_names_the_bucket_and_never_a_credential(backend: S3FileStore, s3_settings: Settings) -> None:
    assert repr(backend) == f"S3FileStore({s3_settings.storage_url + '/'!r})"
    assert s3_settings.s3_secret_access_key not in repr(backend)
