"""Writes the console's screenshots in ``docs/console/`` from the demo's data, in Debian's Chromium:

    .venv/bin/python -m tests.web.screenshots

``list.png`` (the export jobs list), ``create.png`` (the form, filled in and checked by the server)
and ``export.png`` (a ready export's page with its verified manifest). The server runs on a fresh
SQLite database in a temporary folder, so the screenshots never show this machine's data.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from tests.web.live import CHROMIUM, Tab, chromium, console_server

DOCS = Path(__file__).resolve().parents[2] / "docs" / "console"
WAIT_MS = 120_000


def main() -> int:
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)", file=sys.stderr)
        return 1
    from playwright.sync_api import expect

    DOCS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder, \
            console_server(Path(folder), f"sqlite:///{folder}/demo.db") as server, chromium() as browser:
        tab = Tab(browser, server)
        page = tab.page
        tab.log_in("demo", server.demo["email"], server.demo["password"])
        exports = [
            dict(label="Site roster", objects="c_sites", media_type="application/json", paths=["c_name", "c_country"]),
            dict(label="High scores", objects="c_patients", media_type="application/x-ndjson",
                 paths=["c_number", "c_name", "c_score"], where='{"c_score": {"$gte": 80}}',
                 description="Patients scoring 80 and more, for the safety review"),
            dict(label="Enrolled in 2024", objects="c_patients", media_type="text/csv",
                 paths=["c_number", "c_name.c_first", "c_name.c_last", "c_enrolled", "c_site", "c_visits"],
                 where='{"c_enrolled": {"$lt": "2025-01-01T00:00:00.000Z"}}', csv_options=("bom", "dictionary"),
                 description="Baseline cohort for the interim analysis",
                 after_script="import logger from 'logger';\n"
                              "logger.info('Rows: ' + script.arguments.export.stats.docs.count);"),
        ]
        for export in exports:
            tab.create_export("demo", **export)  # type: ignore[arg-type]
            expect(tab.state()).to_have_text("ready", timeout=WAIT_MS)
        expect(page.locator(".manifest .verified")).to_be_visible(timeout=WAIT_MS)
        page.locator("details.raw").evaluate("element => element.open = false")
        page.screenshot(path=str(DOCS / "export.png"), full_page=True)

        page.goto(tab.url("demo", "/exports"))
        page.screenshot(path=str(DOCS / "list.png"), full_page=True)

        page.goto(tab.url("demo", "/exports/new"))
        page.get_by_label("Label", exact=True).fill("Active patients by site")
        page.get_by_label("Description", exact=False).first.fill("Weekly data review, sites expanded")
        page.get_by_label("Object", exact=True).select_option("c_patients")
        for path in ("c_number", "c_name.c_first", "c_name.c_last", "c_site", "c_score"):
            page.locator(f'input[name="paths"][value="{path}"]').check()
        page.locator('input[name="expand"][value="c_site"]').check()
        page.locator('input[name="format"][value="text/csv"]').check()
        page.locator('input[name="csv.bom"]').check()
        page.locator("#where").fill('{"c_active": true, "c_score": {"$gte": 50}}')
        expect(page.locator('[data-ok-for="where"]')).to_be_visible(timeout=WAIT_MS)
        page.locator(".choices").evaluate_all("lists => lists.forEach(list => { list.scrollTop = 0; })")
        page.screenshot(path=str(DOCS / "create.png"), full_page=True)
        tab.close()
    for name in ("list.png", "create.png", "export.png"):
        print(DOCS / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
