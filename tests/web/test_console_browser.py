"""The console in a real browser (Debian's Chromium, driven by Playwright) against a real server
process: log in, create exports, watch them run, download and verify, cancel (and filter the list
by "cancelled"), export the Logs, delete, a bad ``where``, a non-administrator, a label made of
markup, logging out; and one smoke test on PostgreSQL. See ``tests/web/live.py`` for how the
browser and the server are started."""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from opencortex.runtime import Runtime
from opencortex.settings import Settings
from tests.conftest import PG_ADMIN_URL
from tests.e2e.conftest import OPENCORTEX, LiveServer
from tests.e2e.test_exports_e2e import PASSWORD as BULK_PASSWORD
from tests.e2e.test_exports_e2e import seed_org
from tests.web.live import IN_CI, Tab, chromium, console_server, require_browser

pytestmark = pytest.mark.e2e

# Enough patients for a CSV export to run for seconds on a 2-core machine (~20-60k documents/s in
# one process), so that its progress can be watched and it can be cancelled while it runs. The
# server exports in one process: sharded on two cores (~110k documents/s) the export can end
# between two of the console's polls, a second apart.
BULK_PATIENTS = 120_000
XSS = "<script>alert(1)</script>"
WAIT_MS = 120_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    require_browser()
    folder = tmp_path_factory.mktemp("console")
    with console_server(folder, f"sqlite:///{folder}/opencortex.db", OPENCORTEX_EXPORT_PROCESSES="1") as live:
        runtime = Runtime.open(Settings.from_env(live.env), migrate=False)
        try:
            seed_org(runtime, "bulk", BULK_PATIENTS)
        finally:
            runtime.close()
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_browser()
    with chromium() as launched:
        yield launched


@pytest.fixture
def tab(browser: Any, server: LiveServer) -> Iterator[Tab]:
    opened = Tab(browser, server)
    yield opened
    violations = opened.csp_violations()
    opened.close()
    assert not violations, violations


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def demo_admin(server: LiveServer) -> tuple[str, str]:
    return server.demo["email"], server.demo["password"]


def verify(server: LiveServer, archive: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OPENCORTEX, "export", "verify", str(archive)], env=server.env, capture_output=True,
                          text=True, timeout=120)


def test_log_in_create_ndjson_and_csv_exports_watch_them_and_download(tab: Tab, tmp_path: Path) -> None:
    # `make run` (opencortex demo) prints where the console is.
    assert tab.server.demo["consoleUrl"] == tab.url("demo")
    tab.log_in("demo", *demo_admin(tab.server))
    page = tab.page
    ndjson = tab.create_export("demo", label="High scores", objects="c_patients", media_type="application/x-ndjson",
                               paths=["c_number", "c_name.c_first", "c_score"], where='{"c_score": {"$gte": 50}}')
    expect(tab.state()).to_have_text("ready", timeout=WAIT_MS)  # the page follows the export by itself
    expect(page.locator(".manifest .verified")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator(".manifest-entries")).to_contain_text(".ndjson")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download archive").click()
    archive = tmp_path / "high-scores.zip"
    download.value.save_as(archive)
    checked = verify(tab.server, archive)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    csv = tab.create_export("demo", label="Enrolled, as CSV", objects="c_patients", media_type="text/csv",
                            paths=["c_number", "c_enrolled", "c_site"],
                            where='{"c_enrolled": {"$gte": "2024-06-01T00:00:00.000Z"}}', csv_options=("bom",))
    expect(tab.state()).to_have_text("ready", timeout=WAIT_MS)
    expect(page.locator("dd").filter(has_text="bom on")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download archive").click()
    archive = tmp_path / "enrolled.zip"
    download.value.save_as(archive)
    checked = verify(tab.server, archive)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    page.goto(tab.url("demo", "/exports"))
    rows = page.locator("tr[data-export-id]")
    expect(rows.first).to_have_attribute("data-export-id", csv)
    expect(page.locator(f'tr[data-export-id="{ndjson}"]')).to_contain_text("NDJSON")
    expect(page.locator(f'tr[data-export-id="{csv}"]')).to_contain_text(tab.server.demo["email"])


def test_progress_is_live_while_an_export_runs(tab: Tab) -> None:
    tab.log_in("bulk", "admin@bulk.test", BULK_PASSWORD)
    export_id = tab.create_export("bulk", label="Everyone", objects="c_patients", media_type="text/csv",
                                  paths=["c_number", "c_score"])
    page = tab.page
    page.goto(tab.url("bulk", "/exports"))
    page.evaluate("window.stillTheSamePage = true")
    row = page.locator(f'tr[data-export-id="{export_id}"]')
    expect(row.locator(".progress-text")).to_have_text(re.compile(r"[\d,]+ of 120,000 documents"), timeout=WAIT_MS)
    expect(row.locator("progress")).to_have_attribute("value", re.compile(r"\d+"))
    expect(row.locator('[data-field="shownState"]')).to_have_text("ready", timeout=WAIT_MS)
    expect(row.locator('[data-field="recordsText"]')).to_have_text("120,000")
    assert page.evaluate("window.stillTheSamePage") is True  # updated in place, never reloaded


def test_cancel_a_running_export(tab: Tab) -> None:
    tab.log_in("bulk", "admin@bulk.test", BULK_PASSWORD)
    export_id = tab.create_export("bulk", label="Too big after all", objects="c_patients", media_type="text/csv",
                                  paths=["c_number", "c_name", "c_visits"])
    page = tab.page
    expect(tab.state()).to_have_text("running", timeout=WAIT_MS)
    expect(page.locator(".progress-text").first).to_have_text(re.compile(r"documents"))
    page.get_by_role("button", name="Cancel export").click()
    expect(tab.state()).to_have_text("cancelled", timeout=WAIT_MS)
    expect(page.locator(".fault")).to_contain_text("cancelled")
    expect(page.get_by_role("link", name="Download archive")).to_have_count(0)

    # The list's state filter has "cancelled" apart from "error".
    page.goto(tab.url("bulk", "/exports"))
    for state, listed in (("cancelled", 1), ("error", 0)):
        page.get_by_label("State", exact=True).select_option(state)
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url(re.compile(rf".*/console/exports\?state={state}&object=$"))
        expect(page.locator(f'tr[data-export-id="{export_id}"]')).to_have_count(listed)
        badges = page.locator('tr[data-export-id] [data-field="shownState"]')
        assert set(badges.all_text_contents()) <= {state}, badges.all_text_contents()
    expect(page.get_by_label("State", exact=True)).to_have_value("error")


def test_an_export_of_the_logs_is_picked_like_an_object(tab: Tab) -> None:
    tab.log_in("demo", *demo_admin(tab.server))
    # The picker lists the Logs beside the object definitions; the script offers their fields.
    tab.create_export("demo", label="The org's Logs", objects="logs", media_type="text/csv",
                      paths=["lvl", "src", "created"], where='{"lvl": {"$lte": 2}}')
    page = tab.page
    expect(tab.state()).to_have_text("ready", timeout=WAIT_MS)
    expect(page.locator(".manifest .verified")).to_be_visible(timeout=WAIT_MS)
    page.goto(tab.url("demo", "/exports/new"))
    page.get_by_label("Object", exact=True).select_option("logs")
    expect(page.locator('input[name="paths"][value="lvl"]')).to_be_visible()
    expect(page.locator('input[name="include"]')).to_have_count(0)
    page.get_by_label("Object", exact=True).select_option("c_patients")
    expect(page.locator('input[name="paths"][value="lvl"]')).to_have_count(0)
    expect(page.locator('input[name="paths"][value="c_number"]')).to_be_visible()


def test_delete_asks_first(tab: Tab) -> None:
    tab.log_in("demo", *demo_admin(tab.server))
    export_id = tab.create_export("demo", label="Short-lived", objects="c_sites", media_type="application/json",
                                  paths=["c_name"])
    page = tab.page
    page.get_by_role("link", name="Delete").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Delete “Short-lived”?")
    page.get_by_role("button", name="Delete the export").click()
    page.wait_for_url(re.compile(r".*/console/exports\?notice=deleted$"))
    expect(page.get_by_role("status")).to_contain_text("deleted")
    expect(page.locator(f'tr[data-export-id="{export_id}"]')).to_have_count(0)


def test_a_bad_where_is_shown_next_to_its_field(tab: Tab) -> None:
    tab.log_in("demo", *demo_admin(tab.server))
    page = tab.page
    page.goto(tab.url("demo", "/exports/new"))
    page.get_by_label("Label", exact=True).fill("Filtered")
    page.get_by_label("Object", exact=True).select_option("c_patients")
    where = page.locator("#where")
    where.fill('{"c_notes": "x"}')  # c_notes is not indexed
    error = page.locator('[data-error-for="where"]')
    expect(error).to_be_visible(timeout=WAIT_MS)  # checked by the server before anything is submitted
    expect(error).to_contain_text("c_notes")
    expect(where).to_have_attribute("aria-invalid", "true")
    where.fill('{"c_score": {"$gt": 90}}')
    expect(page.locator('[data-ok-for="where"]')).to_be_visible(timeout=WAIT_MS)
    expect(error).to_be_hidden()
    where.fill("{not json")
    page.get_by_role("button", name="Queue the export").click()  # submitted anyway: the server says no
    expect(page.locator('[data-error-for="where"]')).to_contain_text("Invalid where JSON")
    expect(page.get_by_label("Label", exact=True)).to_have_value("Filtered")
    expect(page.locator("#where")).to_have_value("{not json")


def test_a_non_administrator_is_refused(tab: Tab) -> None:
    tab.server.cli("account", "create", "--org", "demo", "--email", "provider@demo.test", "--password-stdin",
                   "--role", "provider", stdin="a provider's password")
    tab.log_in("demo", "provider@demo.test", "a provider's password")
    page = tab.page
    expect(page.get_by_role("heading", level=1)).to_have_text("Administrators only")
    expect(page.locator("table")).to_have_count(0)
    page.goto(tab.url("demo", "/objects/c_patient"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Administrators only")


def test_a_label_made_of_markup_is_shown_as_text(tab: Tab) -> None:
    tab.log_in("demo", *demo_admin(tab.server))
    export_id = tab.create_export("demo", label=XSS, objects="c_sites", media_type="application/x-ndjson",
                                  paths=["c_name"])
    page = tab.page
    expect(page.get_by_role("heading", level=1)).to_have_text(XSS)
    page.goto(tab.url("demo", "/exports"))
    expect(page.locator(f'tr[data-export-id="{export_id}"] .label-cell a')).to_have_text(XSS)
    assert tab.dialogs == []


def test_log_out(tab: Tab) -> None:
    tab.log_in("demo", *demo_admin(tab.server))
    page = tab.page
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r".*/console/login\?reason=logout$"))
    expect(page.get_by_role("alert")).to_have_text("You are logged out.")
    page.goto(tab.url("demo", "/exports"))
    page.wait_for_url(re.compile(r".*/console/login\?next=.*"))


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A database of its own on the test PostgreSQL, dropped afterwards."""
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"oc_console_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as error:
        admin.dispose()
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true and is unreachable: {error}", pytrace=False)
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432 (set CI=true to make this an error)")
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.mark.postgres
def test_smoke_on_postgresql(browser: Any, postgres_url: str, tmp_path: Path) -> None:
    with console_server(tmp_path, postgres_url) as live:
        tab = Tab(browser, live)
        try:
            tab.log_in("demo", *demo_admin(live))
            tab.create_export("demo", label="On PostgreSQL", objects="c_patients", media_type="text/csv",
                              paths=["c_number", "c_name.c_last"], where='{"c_active": true}')
            expect(tab.state()).to_have_text("ready", timeout=WAIT_MS)
            expect(tab.page.locator(".manifest .verified")).to_be_visible(timeout=WAIT_MS)
            with tab.page.expect_download() as download:
                tab.page.get_by_role("link", name="Download archive").click()
            archive = tmp_path / "postgres.zip"
            download.value.save_as(archive)
            checked = verify(live, archive)
            assert checked.returncode == 0, checked.stdout + checked.stderr
            assert not tab.csp_violations(), tab.messages
        finally:
            tab.close()
