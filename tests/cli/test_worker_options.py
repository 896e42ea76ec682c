"""``serve`` and ``worker`` share ``--concurrency`` and ``--lease-seconds`` (and their variables),
and say once they are up, as one JSON line with ``--json``."""

from __future__ import annotations

import json
import os
import selectors
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

OPENCORTEX = str(Path(sys.executable).with_name("opencortex"))


@pytest.mark.parametrize("command", ["serve", "worker"])
@pytest.mark.parametrize(("args", "message"), [
    (("--concurrency", "0"), "Invalid value for '--concurrency': 0 is not in the range 1<=x<=64."),
    (("--concurrency", "-3"), "Invalid value for '--concurrency': -3 is not in the range 1<=x<=64."),
    (("--lease-seconds", "0"), "Invalid value for '--lease-seconds': 0 is not in the range 5<=x<=3600."),
])
def test_zero_or_negative_flags_are_refused(run, command, args, message):
    result = run(command, *args, ok=False)
    assert result.exit_code == 2 and message in result.stderr


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_values_from_the_environment_are_checked_too(run, command):
    result = run(command, ok=False, env={"OPENCORTEX_EXPORT_CONCURRENCY": "0"})
    assert result.exit_code == 2
    assert "Invalid value for OPENCORTEX_EXPORT_CONCURRENCY: 0 is not in the range 1-64." in result.stderr
    result = run(command, ok=False, env={"OPENCORTEX_EXPORT_LEASE_SECONDS": "-5"})
    assert "Invalid value for OPENCORTEX_EXPORT_LEASE_SECONDS: -5 is not in the range 5-3600." in result.stderr


def test_serve_workers_is_gone(run):
    result = run("serve", "--workers", "2", ok=False)
    assert result.exit_code == 2
    assert "serve --workers is gone: use --concurrency N (export jobs run at once)." in result.stderr
    assert run("worker", "--workers", "2", ok=False).exit_code == 2


def test_worker_flags_with_no_worker_are_refused(run):
    result = run("serve", "--no-worker", "--concurrency", "3", ok=False)
    assert result.exit_code == 2 and "drop them or drop --no-worker" in result.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _first_line(process: subprocess.Popen[bytes], timeout: float = 60) -> dict:
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if selector.select(timeout=0.2):
            line = process.stdout.readline()
            assert line, f"exited with {process.wait()} before saying it was up"
            return json.loads(line)
    pytest.fail("no banner line in time")


def _start(database_url: str, tmp_path: Path, *args: str, **env: str) -> subprocess.Popen[bytes]:
    environ = dict(os.environ, OPENCORTEX_DATA_DIR=str(tmp_path / "var"), OPENCORTEX_DATABASE_URL=database_url,
                   **env)
    with (tmp_path / "stderr.log").open("ab") as log:  # the child keeps its own copy
        return subprocess.Popen([OPENCORTEX, *args, "--json"], env=environ, stdout=subprocess.PIPE, stderr=log)


def _stop(process: subprocess.Popen[bytes]) -> int:
    process.terminate()
    try:
        return process.wait(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


def test_worker_banner_carries_settings_from_flags_and_environment(database_url, tmp_path):
    process = _start(database_url, tmp_path, "worker", "--lease-seconds", "7", OPENCORTEX_EXPORT_CONCURRENCY="3",
                     OPENCORTEX_EXPORT_LEASE_SECONDS="99")
    try:
        banner = _first_line(process)
    finally:
        assert _stop(process) == 0  # SIGTERM is a clean stop
    assert banner == {"object": "worker", "workerId": banner["workerId"], "pid": process.pid, "concurrency": 3,
                      "leaseSeconds": 7}


@pytest.mark.parametrize("no_worker", [False, True])
def test_serve_banner_is_printed_once_listening(database_url, tmp_path, no_worker):
    port = _free_port()
    args = ["--no-worker"] if no_worker else ["--concurrency", "4"]
    process = _start(database_url, tmp_path, "serve", "--port", str(port), *args,
                     OPENCORTEX_EXPORT_LEASE_SECONDS="45")
    try:
        banner = _first_line(process)
        # Listening already: the banner is only printed after the socket is bound.
        assert httpx.get(f"http://127.0.0.1:{port}/x/v2").status_code == 404
    finally:
        _stop(process)
    assert banner == {"object": "server", "url": f"http://127.0.0.1:{port}", "pid": process.pid,
                      "worker": None if no_worker else {"concurrency": 4, "leaseSeconds": 45}}
