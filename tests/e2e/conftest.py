"""A real server process (``opencortex serve``) on a free port, set up through the real CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from opencortex.runtime import Runtime
from opencortex.settings import Settings

OPENCORTEX = str(Path(sys.executable).with_name("opencortex"))


@dataclass
class LiveServer:
    url: str
    env: dict[str, str]
    demo: dict[str, Any]
    process: subprocess.Popen[bytes]

    def cli(self, *args: str, stdin: str | None = None) -> Any:
        """Run ``opencortex ARGS --json`` against this server's data; return the parsed output."""
        completed = subprocess.run(
            [OPENCORTEX, *args, "--json"], env=self.env, input=stdin, capture_output=True, text=True, timeout=60
        )
        assert completed.returncode == 0, completed.stderr
        return json.loads(completed.stdout)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def live_server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    port = free_port()
    env = dict(os.environ)
    env.update({
        "OPENCORTEX_DATA_DIR": str(tmp_path / "var"),
        "OPENCORTEX_DATABASE_URL": database_url,
        "OPENCORTEX_PORT": str(port),
    })
    demo = json.loads(subprocess.run([OPENCORTEX, "demo", "--json"], env=env, capture_output=True, text=True,
                                     check=True, timeout=60).stdout)
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - closed in teardown
    process = subprocess.Popen([OPENCORTEX, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/demo/v2", headers={"Medable-Client-Key": demo["apiKey"]}).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            log.close()
            pytest.fail("the server did not start:\n" + (tmp_path / "server.log").read_text())
        time.sleep(0.1)
    yield LiveServer(url=url, env=env, demo=demo, process=process)
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()


def start_worker(server: LiveServer, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:  # the child keeps its own copy
        return subprocess.Popen([OPENCORTEX, "worker", *extra], env=server.env, stdout=handle,
                                stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def cluster(database_url: str, tmp_path: Path):
    """A server with no worker in it; tests start `opencortex worker` processes themselves."""
    port = free_port()
    env = dict(os.environ, OPENCORTEX_DATA_DIR=str(tmp_path / "var"), OPENCORTEX_DATABASE_URL=database_url,
               OPENCORTEX_PORT=str(port))
    runtime = Runtime.open(Settings.from_env(env))
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen([OPENCORTEX, "serve", "--no-worker"], env=env, stdout=log, stderr=subprocess.STDOUT)
    server = LiveServer(url=f"http://127.0.0.1:{port}", env=env, demo={}, process=process)
    try:
        wait_for(lambda: _up(server.url), 30, "the server")
        yield server, runtime, tmp_path
    finally:
        stop(process)
        log.close()
        runtime.close()


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/x/v2").status_code == 404
    except httpx.TransportError:
        return False


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The test run's PostgreSQL database, emptied after the test (for processes that share only
    the database: there is no SQLite file to hand them)."""
    run = request.getfixturevalue("postgres_run")
    if run is None:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432 (under CI=true the run fails instead)")
    yield run.url
    run.empty()
