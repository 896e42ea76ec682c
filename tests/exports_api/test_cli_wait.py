"""``opencortex export create --wait`` and what ``export cancel`` says, through click's runner."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from dataclasses import replace

from click.testing import CliRunner, Result

from opencortex.cli.export_wait import ProgressLine, describe_progress
from opencortex.cli.main import cli
from opencortex.exports import operations
from opencortex.exports.jobs import ExportState
from tests.exports_api.conftest import run_all
from tests.instances.conftest import load_study

BODY = json.dumps({"label": "Waited for", "objects": "c_patients", "format": "application/x-ndjson"})


def export_command(platform) -> Callable[..., Result]:
    runtime = platform.runtime

    def invoke(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, ["--data-dir", str(runtime.settings.data_dir), "--database-url",
                                        runtime.database.url, "export", *args], input=input)

    return invoke


def create(platform, *options: str) -> Result:
    return export_command(platform)("create", "--org", "acme", "--as", platform.admin["email"], *options, "-",
                                    input=BODY)


def test_wait_follows_the_export_until_ready(platform, worker):
    load_study(platform, 12)
    stop = threading.Event()

    def work() -> None:  # a worker elsewhere, as `opencortex worker` would be
        while not stop.is_set():
            run_all(worker)
            stop.wait(0.05)

    thread = threading.Thread(target=work)
    thread.start()
    try:
        result = create(platform, "--wait", "--json")
    finally:
        stop.set()
        thread.join()
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["state"] == "ready" and shown["dataFile"]["size"] > 0
    assert f"Queued export {shown['_id']}" in result.stderr
    assert f"Export {shown['_id']}: ready" in result.stderr  # one line per state when not on a terminal


def test_wait_ends_with_status_1_when_the_export_is_cancelled_meanwhile(platform):
    load_study(platform, 3)
    org_id = platform.org["id"]

    def cancel_once_queued() -> None:  # someone cancels it from another terminal
        for _ in range(200):
            jobs, _ = operations.list_exports(platform.runtime, org_id, limit=1)
            if jobs:
                operations.cancel(platform.runtime, org_id, jobs[0].id, principal=None)
                return
            threading.Event().wait(0.05)

    thread = threading.Thread(target=cancel_once_queued)
    thread.start()
    result = create(platform, "--wait")
    thread.join()
    assert result.exit_code == 1
    assert "ended in error: cortex.error.aborted" in result.stdout


def test_wait_gives_up_after_its_timeout_and_leaves_the_export_queued(platform):
    load_study(platform, 1)
    result = create(platform, "--wait", "--timeout", "0.3")
    assert result.exit_code == 1
    assert "is still pending after 0.3 s; it goes on in the background" in result.output
    [job] = operations.list_exports(platform.runtime, platform.org["id"], limit=5)[0]
    assert job.state is ExportState.PENDING


def test_timeout_without_wait_is_refused(platform):
    result = create(platform, "--timeout", "5")
    assert result.exit_code == 2 and "--timeout goes with --wait" in result.output


def test_cancel_says_plainly_what_it_did(platform, worker):
    load_study(platform, 3)
    invoke = export_command(platform)
    finished = json.loads(create(platform, "--json").stdout)
    assert run_all(worker) == 1
    result = invoke("cancel", "--org", "acme", finished["_id"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"Export {finished['_id']} had already finished (ready); nothing was cancelled."
    assert json.loads(invoke("show", "--org", "acme", finished["_id"], "--json").stdout)["state"] == "ready"

    queued = json.loads(create(platform, "--json").stdout)
    result = invoke("cancel", "--org", "acme", queued["_id"])
    assert result.stdout.strip() == f"Export {queued['_id']} was cancelled before it started."
    again = invoke("cancel", "--org", "acme", queued["_id"])
    assert again.stdout.strip() == f"Export {queued['_id']} had already finished (error); nothing was cancelled."


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_bar_rewritten_in_place_on_a_terminal(platform):
    load_study(platform, 1)
    job = operations.create(platform.runtime, platform.org, platform.admin["id"], json.loads(BODY))
    running = replace(job, state=ExportState.RUNNING, progress={"phase": "reading", "docs": 50, "total": 200})
    assert describe_progress(job) == f"Export {job.id}: pending (waiting for a worker)"
    assert describe_progress(running) == (
        f"Export {job.id}: reading, 50 of 200 docs [{'#' * 8}{' ' * 22}] 25%")
    screen = Terminal()
    line = ProgressLine(screen)
    line.show(describe_progress(job), job.state)
    line.show(describe_progress(running), running.state)
    line.show(describe_progress(running), running.state)  # unchanged: not written again
    line.close()
    written = screen.getvalue()
    assert written.count("\r") == 2 and written.endswith("25%\n")
