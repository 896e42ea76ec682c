"""A real console for browser tests and screenshots: ``opencortex demo`` + ``opencortex serve`` on a
database of their own, and Debian's Chromium driven by Playwright.

Playwright's own browser download is not reachable here, so the system's Chromium
(``/usr/bin/chromium``, Debian package ``chromium``) is launched instead, with the flags that
keep it from trying to reach the network. Without it (or without Playwright), browser tests skip
with the reason, except under ``CI=true``, where that is a failure.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import OPENCORTEX, LiveServer, free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
IN_CI = os.environ.get("CI", "").lower() == "true"
EXPORT_URL = re.compile(r".*/console/exports/[0-9a-f]{24}$")


def require_browser() -> None:
    """Skip (fail under CI) when the browser tests cannot run, saying what to install."""
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "Playwright for Python is not installed (pip install -e '.[test]')"
    if problem is None and not CHROMIUM.exists():
        problem = f"{CHROMIUM} is missing: install Debian's chromium: apt-get install chromium"
    if problem is not None:
        if IN_CI:
            pytest.fail(f"browser tests cannot run under CI=true: {problem}", pytrace=False)
        pytest.skip(problem)


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def console_server(folder: Path, database_url: str, **settings: str) -> Iterator[LiveServer]:
    """The demo org on a fresh database, served by ``opencortex serve`` (with its export worker);
    ``settings``: more ``OPENCORTEX_*`` variables."""
    port = free_port()
    env = dict(os.environ, OPENCORTEX_DATA_DIR=str(folder / "var"), OPENCORTEX_DATABASE_URL=database_url,
               OPENCORTEX_PORT=str(port), **settings)
    demo = json.loads(subprocess.run([OPENCORTEX, "demo", "--json"], env=env, capture_output=True, text=True,
                                     check=True, timeout=300).stdout)
    with (folder / "server.log").open("wb") as log:
        process = subprocess.Popen([OPENCORTEX, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    server = LiveServer(url=f"http://127.0.0.1:{port}", env=env, demo=demo, process=process)
    try:
        _wait_until_up(server, folder)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(server: LiveServer, folder: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{server.url}/demo/console/login").status_code == 200:
                return
        except httpx.TransportError:
            pass
        if server.process.poll() is not None:
            break
        time.sleep(0.2)
    pytest.fail("the server did not start:\n" + (folder / "server.log").read_text())


class Tab:
    """One browser context and page; it records what the page's console and dialogs say."""

    def __init__(self, browser: Any, server: LiveServer) -> None:
        self.context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.server = server
        self.messages: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda message: self.messages.append(f"{message.type}: {message.text}"))
        self.page.on("pageerror", lambda error: self.messages.append(f"pageerror: {error}"))
        self.page.on("dialog", self._dialog)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def url(self, org: str, path: str = "") -> str:
        return f"{self.server.url}/{org}/console{path}"

    def log_in(self, org: str, email: str, password: str) -> None:
        """By keyboard: type the email, Tab to the password, Enter."""
        page = self.page
        page.goto(self.url(org, "/exports"))
        page.wait_for_url(re.compile(r".*/console/login\?next=.*"))
        page.get_by_label("Email", exact=True).focus()
        page.keyboard.type(email)
        page.keyboard.press("Tab")
        page.keyboard.type(password)
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r".*/console/exports$"))

    def create_export(self, org: str, *, label: str, objects: str, media_type: str, paths: list[str],
                      where: str = "", csv_options: tuple[str, ...] = (), description: str = "",
                      after_script: str = "") -> str:
        page = self.page
        page.goto(self.url(org, "/exports/new"))
        page.get_by_label("Label", exact=True).fill(label)
        if description:
            page.locator("#description").fill(description)
        if after_script:
            page.locator("#afterScript").fill(after_script)
        page.get_by_label("Object", exact=True).select_option(objects)
        for path in paths:  # the pickers are filled by the script once the object is chosen
            page.locator(f'input[name="paths"][value="{path}"]').check()
        page.locator(f'input[name="format"][value="{media_type}"]').check()
        for option in csv_options:
            page.locator(f'input[name="csv.{option}"]').check()
        if where:
            page.locator("#where").fill(where)
        page.get_by_role("button", name="Queue the export").click()
        page.wait_for_url(EXPORT_URL)
        return page.url.rsplit("/", 1)[1]

    def state(self) -> Any:
        return self.page.locator('[data-field="shownState"]').first

    def csp_violations(self) -> list[str]:
        return [message for message in self.messages if "Content Security Policy" in message]

    def close(self) -> None:
        self.context.close()
