"""``compose.yaml``, the ``Dockerfile`` and ``docs/production.md``, run without containers.

This machine has no container runtime, so the test runs what the files say each container runs,
as processes: the environment of every OpenCortex service (``${VAR:-default}`` resolved as
Compose does, with the ``.env`` the production page asks for) over the Dockerfile's, each
service's command, as many workers as ``deploy.replicas`` says, the server's health check, and
the production page's commands to create an org, its administrator and an app. Only where the
containers would be is replaced: the host names ``postgres`` and ``minio`` by this run's
PostgreSQL and S3 server (whose credentials stand in for MinIO's), the data folder of each
container by a folder of its own, and the port by a free one. Then an export is queued and
followed through the CLI, run by the workers on PostgreSQL and S3, downloaded and verified.

A setting spelled wrong, a command or option that does not exist, a missing setting that S3 or
the server needs, or a worker that cannot run an export with only what the file gives it fails
the test.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shlex
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from opencortex.settings import Settings
from tests.e2e.conftest import OPENCORTEX, free_port
from tests.support.s3 import S3Server

ROOT = Path(__file__).resolve().parents[2]
OPENCORTEX_SERVICES = ("init", "server", "worker")
_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:-|:\?)(?P<arg>[^}]*))?\}")


def resolve(value: str, dotenv: dict[str, str]) -> str:
    """Compose's interpolation: ``${NAME}``, ``${NAME:-default}``, ``${NAME:?error}``, ``$$``."""

    def substitute(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        name, op, arg = match["name"], match["op"], match["arg"]
        if dotenv.get(name):
            return dotenv[name]
        if op == ":?":
            raise AssertionError(f"compose.yaml requires {name}: {arg}")
        return arg if op == ":-" else ""

    return _VARIABLE.sub(substitute, value)


def dockerfile_environment() -> dict[str, str]:
    """The ``ENV`` of the Dockerfile (its ``KEY=value`` form, continued lines joined)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    environment: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            for pair in shlex.split(line[4:]):
                key, _, value = pair.partition("=")
                environment[key] = value
    return environment


def documented_commands() -> list[str]:
    """The production page's Compose block: its ``docker compose run`` commands, as the
    OpenCortex command lines they run (with what they read on standard input)."""
    page = (ROOT / "docs" / "production.md").read_text()
    block = page.split("## With Docker Compose", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.replace("\\\n", " ").splitlines() if "compose run" in line]


@pytest.fixture
def compose_bucket(s3_server: S3Server) -> Iterator[str]:
    """What the ``buckets`` service makes: the bucket of ``OPENCORTEX_STORAGE_URL``, emptied after."""
    client = s3_server.client
    existing = {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}
    if "opencortex" not in existing:
        client.create_bucket(Bucket="opencortex")
    yield "opencortex"
    for page in client.get_paginator("list_objects_v2").paginate(Bucket="opencortex"):
        objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if objects:
            client.delete_objects(Bucket="opencortex", Delete={"Objects": objects, "Quiet": True})


def test_compose_yaml_runs_as_written(postgres_url: str, s3_server: S3Server, compose_bucket: str,
                                      tmp_path: Path) -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "minio", "buckets", "init", "server", "worker"}

    # The .env of the production page: the master key it says to make, MinIO's credentials.
    dotenv = {"OPENCORTEX_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
              "MINIO_ROOT_USER": s3_server.access_key_id, "MINIO_ROOT_PASSWORD": s3_server.secret_access_key}
    image = dockerfile_environment()
    assert {"OPENCORTEX_DATA_DIR", "OPENCORTEX_HOST", "OPENCORTEX_PORT"} <= set(image)
    port = free_port()
    known = set(Settings.from_env({}).__dataclass_fields__)

    def environment_of(service: str, folder: Path) -> dict[str, str]:
        declared = {name: resolve(str(value), dotenv) for name, value in services[service]["environment"].items()}
        for name in [*declared, *image]:
            if name.startswith("OPENCORTEX_"):
                assert name.removeprefix("OPENCORTEX_").lower() in known, f"{name} is no setting"
        database_url = declared["OPENCORTEX_DATABASE_URL"]
        assert re.fullmatch(r"postgresql://opencortex:[^@]+@postgres:5432/opencortex", database_url), database_url
        assert declared["OPENCORTEX_S3_ENDPOINT_URL"] == "http://minio:9000"
        assert declared["OPENCORTEX_STORAGE_URL"].startswith(f"s3://{compose_bucket}/")
        folder.mkdir(parents=True, exist_ok=True)
        return {
            "PATH": os.environ["PATH"], **image, **declared,
            # Where the containers would be: this run's PostgreSQL and S3, a folder and port of its own.
            "OPENCORTEX_DATABASE_URL": postgres_url,
            "OPENCORTEX_S3_ENDPOINT_URL": s3_server.endpoint_url,
            "OPENCORTEX_DATA_DIR": str(folder / "var"),
            "OPENCORTEX_HOST": "127.0.0.1",
            "OPENCORTEX_PORT": str(port),
        }

    def command_of(service: str) -> list[str]:
        command = services[service]["command"]
        assert command[0] == "opencortex", command
        return [OPENCORTEX, *command[1:]]

    def run(argv: list[str], env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        completed = subprocess.run(argv, env=env, input=stdin, capture_output=True, text=True, timeout=120,
                                   cwd=tmp_path, check=False)
        assert completed.returncode == 0, f"{argv[1:]}:\n{completed.stdout}\n{completed.stderr}"
        return completed

    # init, then the production page's commands, each in a container of `init`'s image and settings.
    init_env = environment_of("init", tmp_path / "init")
    run(command_of("init"), init_env)
    admin_email, password = "", ""
    for line in documented_commands():
        stdin = None
        if line.startswith("printf"):
            password = shlex.split(line)[2]  # printf '%s\n' 'a long passphrase' | ...
            stdin = password + "\n"
        words = shlex.split(line.split("compose run", 1)[1])
        argv = words[words.index("opencortex") + 1:]
        if argv[:2] == ["account", "create"]:
            admin_email = argv[argv.index("--email") + 1]
        run([OPENCORTEX, *argv], environment_of("init", tmp_path / "init"), stdin)
    assert admin_email and password

    processes: list[tuple[str, subprocess.Popen[bytes]]] = []
    try:
        replicas = services["worker"]["deploy"]["replicas"]
        assert replicas >= 2
        for name, count in (("server", 1), ("worker", replicas)):
            for index in range(count):
                folder = tmp_path / f"{name}-{index}"
                log = (tmp_path / f"{name}-{index}.log").open("wb")
                processes.append((name, subprocess.Popen(command_of(name), env=environment_of(name, folder),
                                                         stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)))
                log.close()
        # The server's own health check, on this test's port.
        check = services["server"]["healthcheck"]["test"]
        assert check[0] == "CMD" and ":8080/" in check[-1]
        assert check[1] == "python"  # the image's interpreter; here, this one
        probe = [sys.executable, *check[2:-1], check[-1].replace(":8080/", f":{port}/")]
        deadline = time.monotonic() + 60
        while subprocess.run(probe, capture_output=True, timeout=30, check=False).returncode != 0:
            for name, process in processes:
                assert process.poll() is None, f"{name} exited:\n" + logs(tmp_path)
            assert time.monotonic() < deadline, "the server's health check never passed:\n" + logs(tmp_path)
            time.sleep(0.2)

        # An export of the demo study (made in the same way, a command in `init`'s container),
        # queued and followed through the CLI, run by the workers on PostgreSQL and S3.
        env = environment_of("init", tmp_path / "init")
        demo = json.loads(run([OPENCORTEX, "demo", "--json"], env).stdout)
        body = tmp_path / "export.json"
        body.write_text(json.dumps({"label": "compose", "objects": "c_patients", "format": "application/x-ndjson"}))
        created = json.loads(run([OPENCORTEX, "export", "create", "--org", demo["org"], "--as", demo["email"],
                                  "--wait", "--timeout", "60", "--json", str(body)], env).stdout)
        assert created["state"] == "ready", created
        archive = tmp_path / "export.zip"
        run([OPENCORTEX, "export", "download", "--org", demo["org"], "-o", str(archive), created["_id"]], env)
        with zipfile.ZipFile(archive) as opened:
            manifest = json.loads(opened.read("manifest.json"))
            lines = opened.read(manifest["entries"][0]["name"]).splitlines()
        assert len(lines) == manifest["entries"][0]["records"] == created["stats"]["docs"]["count"] > 0
        run([OPENCORTEX, "export", "verify", str(archive)], env)
        for name, process in processes:
            assert process.poll() is None, f"{name} exited:\n" + logs(tmp_path)
    finally:
        for _, process in processes:
            process.terminate()
        for _, process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def logs(folder: Path) -> str:
    return "\n".join(f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
                     for path in sorted(folder.glob("*.log")))


def test_resolve_follows_compose() -> None:
    assert resolve("a${X:-b}c", {}) == "abc" and resolve("${X:-b}", {"X": "y"}) == "y"
    assert resolve("$${HOME}", {}) == "${HOME}" and resolve("${X}", {}) == ""
    with pytest.raises(AssertionError, match="requires X: set it"):
        resolve("${X:?set it}", {})
    compose: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    # The anchor's environment reaches every OpenCortex service.
    for service in OPENCORTEX_SERVICES:
        assert "OPENCORTEX_MASTER_KEY" in compose["services"][service]["environment"]
