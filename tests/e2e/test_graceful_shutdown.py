"""SIGTERM while a slow client downloads: `opencortex serve` lets the download run for the grace
period (OPENCORTEX_SHUTDOWN_GRACE_SECONDS), then closes it and exits; the client resumes it from
the byte it had, with Range, on the restarted server."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.conftest import OPENCORTEX, LiveServer, stop, wait_for

GRACE_SECONDS = 3
FILE_BYTES = 24 * 1024 * 1024  # minutes of reading at the client's pace: it cannot finish in time
CLIENT_BYTES_PER_SECOND = 64 * 1024
CLIENT_READ = 8 * 1024


@pytest.fixture
def graceful_server(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
                    database_url: str) -> Iterator[LiveServer]:
    """``live_server`` (demo data, its own data folder, an in-process export worker) with a short grace."""
    monkeypatch.setenv("OPENCORTEX_SHUTDOWN_GRACE_SECONDS", str(GRACE_SECONDS))
    yield request.getfixturevalue("live_server")


@contextlib.contextmanager
def logged_in(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{server.url}/demo/v2", headers={"Medable-Client-Key": server.demo["apiKey"]},
                      timeout=60) as client:
        login = client.post("/accounts/login",
                            json={"email": server.demo["email"], "password": server.demo["password"]})
        assert login.status_code == 200, login.text
        client.headers["medable-csrf-token"] = login.headers["medable-csrf-token"]
        yield client


def slow_download_until_closed(url: str, sigterm: Callable[[], None],
                               server_gone: Callable[[], bool]) -> tuple[int, int, bytes]:
    """GET ``url`` at about 64 KB/s over a socket with a small receive buffer; after a few
    seconds, call ``sigterm``. Returns the status, Content-Length and the body bytes received
    before the connection closed. Once the server process is gone, what the kernel still holds
    for the socket is read at full speed (a real client would get it at its own pace)."""
    parts = urlsplit(url)
    connection = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)  # before connect: a small window
    try:
        connection.connect((parts.hostname, parts.port))
        connection.sendall(f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = connection.recv(1)
            assert chunk, "the server closed the connection before the response headers"
            head += chunk
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        fields = (line.split(": ", 1) for line in header_lines if ": " in line)
        headers = {name.lower(): value for name, value in fields}
        body = bytearray()
        started = time.monotonic()
        signalled = False
        while True:
            try:
                chunk = connection.recv(CLIENT_READ)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return int(status_line.split()[1]), int(headers["content-length"]), bytes(body)
            body += chunk
            if not signalled and time.monotonic() - started > 2:
                sigterm()
                signalled = True
            if not server_gone():  # keep to the pace: sleep until this many bytes are due
                time.sleep(max(0.0, started + len(body) / CLIENT_BYTES_PER_SECOND - time.monotonic()))
    finally:
        connection.close()


def start_server(server: LiveServer, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:
        process = subprocess.Popen([OPENCORTEX, "serve"], env=server.env, stdout=handle, stderr=subprocess.STDOUT)
    wait_for(lambda: _answers(server.url), 30, "the restarted server")
    return process


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/demo/v2").status_code in (200, 403, 404)
    except httpx.TransportError:
        return False


@pytest.mark.e2e
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sigterm_ends_a_slow_download_after_the_grace_period_and_range_resumes_it(
    graceful_server: LiveServer, tmp_path: Path
) -> None:
    server = graceful_server
    data = os.urandom(FILE_BYTES)
    with logged_in(server) as client:
        patient = client.get("/c_patients?limit=1").json()["data"][0]["_id"]
        upload = client.put(f"/c_patients/{patient}/c_photo?filename=scan.png", content=data,
                            headers={"Content-Type": "image/png"})
        assert upload.status_code == 200, upload.text
        facet = client.get(f"/c_patients/{patient}/c_photo/content", headers={"Accept": "application/json"}).json()
    signed_url = facet["url"]  # needs no other credentials, and still works after a restart

    terminated_at: list[float] = []
    exited_at: list[float] = []

    def sigterm() -> None:
        terminated_at.append(time.monotonic())
        server.process.send_signal(signal.SIGTERM)

    def watch_the_server_exit() -> None:
        while server.process.poll() is None:
            time.sleep(0.05)
        exited_at.append(time.monotonic())

    watcher = threading.Thread(target=watch_the_server_exit)
    watcher.start()
    try:
        status, length, received = slow_download_until_closed(signed_url, sigterm, lambda: bool(exited_at))
    finally:
        if not terminated_at:
            server.process.send_signal(signal.SIGTERM)
        watcher.join(timeout=GRACE_SECONDS + 30)

    assert status == 200 and length == FILE_BYTES
    assert terminated_at and exited_at
    # The download was not cut at the signal: the server gave it the grace period...
    assert exited_at[0] - terminated_at[0] >= GRACE_SECONDS - 0.5
    # ...and no more: it closed the connection and exited a few seconds after it.
    assert exited_at[0] - terminated_at[0] < GRACE_SECONDS + 5
    assert server.process.returncode == 0  # a clean shutdown, not death by the signal
    assert 0 < len(received) < FILE_BYTES  # the connection ended early, not with the whole file
    assert received == data[: len(received)]  # every byte it got is right, up to where it stopped

    # The client resumes where it stopped, from the restarted server.
    restarted = start_server(server, tmp_path / "restarted.log")
    try:
        resumed = httpx.get(signed_url, headers={"Range": f"bytes={len(received)}-"}, timeout=120)
    finally:
        stop(restarted)
    assert resumed.status_code == 206
    assert resumed.headers["Content-Range"] == f"bytes {len(received)}-{FILE_BYTES - 1}/{FILE_BYTES}"
    assert received + resumed.content == data
    # The access log shows the downloads, never the link's signature (which works for anyone).
    signature = signed_url.split("signature=")[1]
    log = (tmp_path / "server.log").read_text() + (tmp_path / "restarted.log").read_text()
    assert "c_photo/content?expires=" in log and "signature=…" in log and signature not in log
