"""Opening S3 storage: one clear line when the bucket cannot be used, and one keyset in the bucket
that every process with the master key shares."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from opencortex.cli.main import cli
from opencortex.faults import Fault
from opencortex.files import open_file_store
from opencortex.files.s3 import KEYSET_NAME
from opencortex.keys import MasterKey
from opencortex.runtime import Runtime
from opencortex.settings import Settings
from tests.support.s3 import S3Server

KEY = bytes(range(32))


def open_runtime(tmp_path: Path, s3_settings: Settings, **changes: object) -> Runtime:
    return Runtime.open(s3_settings.with_changes(data_dir=tmp_path / "var", **changes))


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"s3_secret_access_key": "not-the-secret"}, "access is denied (check OPENCORTEX_S3_ACCESS_KEY_ID and "
                                                     "OPENCORTEX_S3_SECRET_ACCESS_KEY, and the bucket's policy)"),
        ({"s3_access_key_id": "AKIANOBODY", "s3_secret_access_key": "x"}, "access is denied"),
        ({"storage_url": "s3://no-such-bucket/files"}, "the bucket 'no-such-bucket' does not exist"),
        ({"s3_endpoint_url": "http://127.0.0.1:9"}, "Could not connect to the endpoint URL"),
    ],
    ids=["wrong-secret", "unknown-key", "no-bucket", "no-server"],
)
def test_a_bucket_that_cannot_be_used_stops_the_start_with_one_line(
    tmp_path: Path, s3_settings: Settings, changes: dict[str, str], reason: str
) -> None:
    with pytest.raises(Fault) as raised:
        open_runtime(tmp_path, s3_settings, **changes)
    fault = raised.value
    assert (fault.err_code, fault.status) == ("cortex.error.storageUnavailable", 503)
    assert fault.reason is not None and reason in fault.reason and "\n" not in fault.reason
    assert fault.reason.startswith("OPENCORTEX_STORAGE_URL s3://")
    assert s3_settings.s3_secret_access_key not in fault.reason and "not-the-secret" not in fault.reason


def test_the_cli_says_so_in_one_line_and_exits_1(tmp_path: Path, s3_server: S3Server, s3_location: str) -> None:
    environment = {**s3_server.environment(s3_location), "OPENCORTEX_DATA_DIR": str(tmp_path / "var"),
                   "OPENCORTEX_S3_SECRET_ACCESS_KEY": "not-the-secret"}
    result = CliRunner().invoke(cli, ["init"], env=environment)
    assert result.exit_code == 1
    assert result.output.startswith("Error: OPENCORTEX_STORAGE_URL s3://opencortex-tests/t-")
    assert "access is denied" in result.output and len(result.output.strip().splitlines()) == 1


def test_the_keyset_lives_in_the_bucket_not_the_data_folder(tmp_path: Path, s3_settings: Settings,
                                                             s3_server: S3Server, s3_location: str) -> None:
    runtime = open_runtime(tmp_path, s3_settings)
    try:
        runtime.file_store.write_chunks("orgs/o1/files/a", [b"secret"])
        assert KEYSET_NAME in s3_server.object_names(s3_location)
        assert not (tmp_path / "var" / "keyset.sealed").exists()
        assert list(runtime.file_store.list_keys()) == ["orgs/o1/files/a"]  # the keyset is no key
        assert runtime.file_store.delete_prefix("orgs/") == 1
        assert KEYSET_NAME in s3_server.object_names(s3_location)  # and no folder delete takes it
    finally:
        runtime.close()


def test_another_master_key_cannot_open_the_buckets_keyset(s3_settings: Settings) -> None:
    open_file_store(s3_settings, MasterKey(KEY)).write_chunks("k", [b"secret"])
    with pytest.raises(Fault) as raised:
        open_file_store(s3_settings, MasterKey(bytes(32)))
    assert raised.value.err_code == "cortex.error.filesKeyset"
    assert KEYSET_NAME in str(raised.value.reason)


# A process of its own: opens the runtime from OPENCORTEX_* variables alone, prints the SHA-256 of
# the key it is given, and stores a file of its own.
_OTHER_PROCESS = textwrap.dedent("""
    import hashlib, sys
    from opencortex.runtime import Runtime
    from opencortex.settings import Settings
    runtime = Runtime.open(Settings.from_env())
    with runtime.file_store.open_reader(sys.argv[1]) as reader:
        print(hashlib.sha256(b"".join(reader)).hexdigest())
    runtime.file_store.write_chunks("orgs/o1/files/from-the-other-process", [b"written elsewhere"])
    runtime.close()
""")


def test_two_processes_with_the_master_key_share_the_buckets_keyset(
    tmp_path: Path, s3_server: S3Server, s3_location: str
) -> None:
    """Another machine: its own data folder (no keyset, no master.key file), the same database,
    the same bucket and the master key from its environment."""
    database_url = f"sqlite:///{tmp_path / 'shared.db'}"
    runtime = Runtime.open(Settings(data_dir=tmp_path / "here", database_url=database_url,
                                    master_key=base64.b64encode(KEY).decode(), **s3_server.settings(s3_location)))
    try:
        data = os.urandom(3 * 1024 * 1024)
        runtime.file_store.write_chunks("orgs/o1/files/from-here", [data])
        environment = {**os.environ, **s3_server.environment(s3_location),
                       "OPENCORTEX_DATA_DIR": str(tmp_path / "elsewhere"), "OPENCORTEX_DATABASE_URL": database_url,
                       "OPENCORTEX_MASTER_KEY": base64.b64encode(KEY).decode()}
        done = subprocess.run([sys.executable, "-c", _OTHER_PROCESS, "orgs/o1/files/from-here"], env=environment,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == hashlib.sha256(data).hexdigest()
        with runtime.file_store.open_reader("orgs/o1/files/from-the-other-process") as reader:
            assert b"".join(reader) == b"written elsewhere"
        assert not (tmp_path / "elsewhere" / "keyset.sealed").exists()
    finally:
        runtime.close()


# A first start (no keyset yet) held at the moment it has found none, until a line on standard
# input lets it go on: to store its own keyset, then a file under whichever keyset it reads back.
_FIRST_START = textwrap.dedent("""
    import sys
    from opencortex.files import open_file_store, s3
    from opencortex.keys import MasterKey
    from opencortex.settings import Settings
    make_keyset = s3.new_sealed_keyset

    def held(master_key):
        print("found no keyset", flush=True)
        sys.stdin.readline()
        return make_keyset(master_key)

    s3.new_sealed_keyset = held
    store = open_file_store(Settings.from_env(), MasterKey(bytes(range(32))))
    store.write_chunks(f"files/{sys.argv[1]}", [sys.argv[1].encode()])
    print("stored", flush=True)
""")


def test_concurrent_first_starts_agree_on_one_keyset(tmp_path: Path, s3_server: S3Server, s3_location: str,
                                                     s3_settings: Settings) -> None:
    """Three processes all find no keyset, then each stores one: only the first is kept (a
    conditional write), and the others use it. Without it the last would win, and the files
    stored under the first would never open again."""
    environment = {**os.environ, **s3_server.environment(s3_location), "OPENCORTEX_DATA_DIR": str(tmp_path)}
    starts = [subprocess.Popen([sys.executable, "-c", _FIRST_START, f"start-{number}"], env=environment,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for number in range(3)]
    try:
        for start in starts:
            assert start.stdout is not None and start.stdout.readline().strip() == "found no keyset"
        for start in starts:  # one after the other: each store's keyset write comes after the last
            assert start.stdin is not None and start.stdout is not None
            start.stdin.write("go\n")
            start.stdin.flush()
            assert start.stdout.readline().strip() == "stored"
        assert [start.wait(timeout=120) for start in starts] == [0, 0, 0]
    finally:
        for start in starts:
            start.kill()
            start.wait()
            for pipe in (start.stdin, start.stdout):
                if pipe is not None:
                    pipe.close()
    store = open_file_store(s3_settings, MasterKey(KEY))
    for number in range(3):  # each was encrypted under the keyset that won
        with store.open_reader(f"files/start-{number}") as reader:
            assert b"".join(reader) == f"start-{number}".encode()
    assert s3_server.object_names(s3_location).count(KEYSET_NAME) == 1
