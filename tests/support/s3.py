"""A real S3-protocol server for the tests: moto's server, in a process of its own.

A separate process, so that the objects it holds never count in the test process's memory
measurements, and its Python never competes for the test's GIL. It picks a free port and prints
it; it exits when its standard input closes, so it never outlives the test run (not even one that
was killed). Each test gets its own prefix in one bucket (``S3Server.new_location``). Requests
must be signed with the access key the server made at its start, as on S3 itself, so a wrong
credential is refused as it would be in production.

Tests that need it take the ``s3_server`` fixture (``tests/conftest.py``): under ``CI=true`` a
server that cannot start fails the run; elsewhere its tests skip, saying why.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BUCKET = "opencortex-tests"
REGION = "us-east-1"

# The child: moto's WSGI app on werkzeug, threaded, on a port the OS picks; it prints the port,
# then serves until its standard input reaches EOF (the parent closed it, or died).
_CHILD = """
import sys, threading
from werkzeug.serving import make_server
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
app = DomainDispatcherApplication(create_backend_app)
server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
threading.Thread(target=server.serve_forever, daemon=True).start()
print(server.server_port, flush=True)
sys.stdin.read()
server.shutdown()
"""


@dataclass
class S3Server:
    process: subprocess.Popen[bytes]
    endpoint_url: str
    log_path: Path
    client: Any = field(repr=False)
    access_key_id: str
    secret_access_key: str = field(repr=False)

    @classmethod
    def start(cls, log_dir: Path, timeout: float = 60) -> S3Server:
        log_path = log_dir / "moto-server.log"
        with log_path.open("wb") as log_file:
            # moto keeps S3's rules, the 5 MiB smallest part included: what the store must live with.
            process = subprocess.Popen(
                [sys.executable, "-c", _CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log_file,
                env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"},
            )
        try:
            endpoint_url = f"http://127.0.0.1:{int(_read_line(process, timeout))}"
            access_key_id, secret_access_key = _require_credentials(endpoint_url)
            client = _client(endpoint_url, access_key_id, secret_access_key)
            client.create_bucket(Bucket=BUCKET)
        except BaseException as error:
            process.kill()
            process.wait()
            for pipe in (process.stdin, process.stdout):
                if pipe is not None:
                    pipe.close()
            raise RuntimeError(f"moto's S3 server did not start ({error}); see {log_path}") from error
        return cls(process, endpoint_url, log_path, client, access_key_id, secret_access_key)

    def settings(self, location: str) -> dict[str, Any]:
        """The ``Settings`` fields of a store at ``location`` (``s3://bucket/prefix``) on this server."""
        return {
            "storage_url": location,
            "s3_endpoint_url": self.endpoint_url,
            "s3_region": REGION,
            "s3_access_key_id": self.access_key_id,
            "s3_secret_access_key": self.secret_access_key,
        }

    def environment(self, location: str) -> dict[str, str]:
        """The same as ``OPENCORTEX_*`` variables, for commands run through the CLI."""
        return {f"OPENCORTEX_{name.upper()}": str(value) for name, value in self.settings(location).items()}

    def new_location(self) -> str:
        """A prefix no other test uses: ``s3://opencortex-tests/t-<random>``."""
        return f"s3://{BUCKET}/t-{uuid.uuid4().hex[:16]}"

    def object_names(self, location: str) -> list[str]:
        """Every object under ``location``, as the bucket lists them (the keyset included)."""
        prefix = location.removeprefix(f"s3://{BUCKET}/").rstrip("/") + "/"
        names: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
            names.extend(item["Key"][len(prefix):] for item in page.get("Contents", []))
        return names

    def uploads(self, location: str) -> list[str]:
        """The keys of the multipart uploads under ``location`` that are neither completed nor aborted."""
        prefix = location.removeprefix(f"s3://{BUCKET}/").rstrip("/") + "/"
        names: list[str] = []
        for page in self.client.get_paginator("list_multipart_uploads").paginate(Bucket=BUCKET, Prefix=prefix):
            names.extend(upload["Key"][len(prefix):] for upload in page.get("Uploads", []))
        return names

    def clear(self, location: str) -> None:
        """Remove everything under ``location``, so a long run does not pile objects up in moto."""
        prefix = location.removeprefix(f"s3://{BUCKET}/").rstrip("/") + "/"
        for page in self.client.get_paginator("list_multipart_uploads").paginate(Bucket=BUCKET, Prefix=prefix):
            for upload in page.get("Uploads", []):
                with contextlib.suppress(Exception):
                    self.client.abort_multipart_upload(Bucket=BUCKET, Key=upload["Key"], UploadId=upload["UploadId"])
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
            objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if objects:
                self.client.delete_objects(Bucket=BUCKET, Delete={"Objects": objects, "Quiet": True})

    def stop(self) -> None:
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def _client(endpoint_url: str, access_key_id: str, secret_access_key: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint_url, region_name=REGION, aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                      response_checksum_validation="when_required"),
    )


def _require_credentials(endpoint_url: str) -> tuple[str, str]:
    """Make moto check credentials as S3 does: an IAM user allowed everything on S3, its access
    key (returned), and from then on every request must be signed with a key moto knows."""
    import boto3

    iam = boto3.session.Session().client("iam", endpoint_url=endpoint_url, region_name=REGION,
                                         aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
    iam.create_user(UserName="opencortex")
    iam.put_user_policy(UserName="opencortex", PolicyName="s3", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }))
    key = iam.create_access_key(UserName="opencortex")["AccessKey"]
    request = urllib.request.Request(f"{endpoint_url}/moto-api/reset-auth", data=b"0",  # noqa: S310 -- ours
                                     method="POST", headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 -- our own server
        response.read()
    return key["AccessKeyId"], key["SecretAccessKey"]


def _read_line(process: subprocess.Popen[bytes], timeout: float) -> str:
    """The child's first line (its port), or an error once it exits or ``timeout`` passes."""
    import selectors

    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise TimeoutError(f"no port after {timeout} s")
    line = process.stdout.readline().decode().strip()
    if not line:
        raise RuntimeError(f"it exited with status {process.wait()}")
    return line


def storage_settings(request: Any) -> dict[str, Any]:
    """The body of a ``file_storage`` fixture parametrised over ``"local"`` and ``"s3"``: no
    settings, or a fresh prefix on the session's S3 server. For S3 the same settings are set as
    ``OPENCORTEX_*`` variables too (commands run through the CLI open the same store), and the
    prefix is emptied after the test."""
    if request.param == "local":
        return {}
    server: S3Server = request.getfixturevalue("s3_server")
    monkeypatch = request.getfixturevalue("monkeypatch")
    location = server.new_location()
    for name, value in server.environment(location).items():
        monkeypatch.setenv(name, value)
    request.addfinalizer(lambda: server.clear(location))
    return server.settings(location)


def deselect_s3_runs(config: Any, items: list[Any], directory: Path, runs_on_s3: Callable[[Any, str], bool]) -> None:
    """Leave out the S3 runs, among the tests under ``directory``, that ``runs_on_s3(item,
    database)`` does not want (``database``: ``"sqlite"`` or ``"postgresql"``).

    The files and exports suites run every test on S3 on SQLite (the store and the database are
    independent: running each on S3 twice, once per database, would add minutes for no new path
    through the store), but those that look into the local folder itself.
    (Hooks of a conftest see every collected item, hence ``directory``.)"""
    selected, deselected = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if (params.get("file_storage") == "s3" and directory in item.path.parents
                and not runs_on_s3(item, params.get("database_url", ""))):
            deselected.append(item)
        else:
            selected.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected
