"""``opencortex export``: the same operations as the API, driven through click's runner."""

from __future__ import annotations

import json

import sqlalchemy as sa
from click.testing import CliRunner, Result

from opencortex.cli.main import cli
from opencortex.store.tables import audit
from tests.exports_api.conftest import run_all
from tests.instances.conftest import load_study


def test_export_commands(platform, worker, tmp_path):
    load_study(platform, 12)
    runtime = platform.runtime
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(cli, ["--data-dir", str(runtime.settings.data_dir), "--database-url",
                                   runtime.database.url, "export", *args], input=input)

    def run(*args: str, input: str | None = None) -> str:
        result = invoke(*args, input=input)
        assert result.exit_code == 0, result.output
        return result.stdout

    body = json.dumps({"label": "From the CLI", "objects": "c_patients", "format": "text/csv"})
    created = json.loads(run("create", "--org", "acme", "--as", platform.admin["email"], "-", "--json", input=body))
    assert created["state"] == "pending" and created["format"] == "text/csv" and created["objects"] == "c_patients"
    cancelled = json.loads(run("create", "--org", "acme", "--as", platform.admin["email"], "-", "--json",
                               input=body))
    ended = json.loads(run("cancel", "--org", "acme", cancelled["_id"], "--json"))
    assert ended["state"] == "error" and ended["fault"]["errCode"] == "cortex.error.aborted"
    listed = run("list", "--org", "acme")
    assert f"{created['_id']}  pending  c_patients" in listed and f"{cancelled['_id']}  error" in listed
    as_json = json.loads(run("list", "--org", "acme", "--json"))
    assert as_json["object"] == "list" and as_json["hasMore"] is False
    assert [export["_id"] for export in as_json["data"]] == [cancelled["_id"], created["_id"]]  # newest first

    archive = tmp_path / "export.zip"
    refused = invoke("download", "--org", "acme", created["_id"], "-o", str(archive))
    assert refused.exit_code != 0 and "not ready" in refused.output
    assert run_all(worker) == 1
    assert json.loads(run("show", "--org", "acme", created["_id"], "--json"))["state"] == "ready"
    downloaded = json.loads(run("download", "--org", "acme", created["_id"], "-o", str(archive), "--json"))
    assert downloaded == {"exportId": created["_id"], "path": str(archive.resolve()), "size": archive.stat().st_size}
    assert "OK" in run("verify", str(archive))
    with runtime.database.connect() as connection:
        actions = connection.execute(sa.select(audit.c.action).where(audit.c.action.like("export.%"))
                                     .order_by(audit.c.time, audit.c.id)).scalars().all()
    assert actions == ["export.create", "export.create", "export.cancel", "export.download"]

    bad = invoke("create", "--org", "acme", "--as", platform.admin["email"], "-", input="{")
    assert bad.exit_code == 1 and "not JSON" in bad.output
