"""``opencortex schedule``: the schedules' operations through click's runner."""

from __future__ import annotations

import json

import sqlalchemy as sa
from click.testing import CliRunner, Result

from opencortex.cli.main import cli
from opencortex.store.tables import audit
from tests.exports_api.incremental_support import define


def test_schedule_commands(platform):
    define(platform, "c_item")
    runtime = platform.runtime
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(cli, ["--data-dir", str(runtime.settings.data_dir), "--database-url",
                                   runtime.database.url, "schedule", *args], input=input)

    def run(*args: str, input: str | None = None) -> str:
        result = invoke(*args, input=input)
        assert result.exit_code == 0, result.output
        return result.stdout

    body = json.dumps({"name": "Daily delta", "cron": "30 1 * * *", "timezone": "America/New_York",
                       "template": {"label": "Items", "objects": "c_items", "since": "previous"}, "retention": 7})
    created = json.loads(run("create", "--org", "acme", "--as", platform.admin["email"], "-", "--json", input=body))
    assert created["name"] == "Daily delta" and created["template"]["since"] == "previous" and created["nextRun"]
    listed = run("list", "--org", "acme")
    assert created["_id"] in listed and "Daily delta" in listed and "30 1 * * *" in listed and "c_items" in listed
    assert json.loads(run("show", "--org", "acme", created["_id"], "--json")) == created
    paused = json.loads(run("update", "--org", "acme", "--as", platform.admin["email"], created["_id"], "-", "--json",
                            input='{"enabled": false}'))
    assert paused["enabled"] is False and "nextRun" not in paused
    refused = invoke("create", "--org", "acme", "--as", platform.admin["email"], "-",
                     input=json.dumps({"name": "Bad", "cron": "every day", "template": {}}))
    assert refused.exit_code != 0 and "cron" in refused.output and "template.label" in refused.output
    not_admin = invoke("create", "--org", "acme", "--as", platform.provider["email"], "-", input=body)
    assert not_admin.exit_code != 0 and "not an administrator" in not_admin.output
    assert json.loads(run("delete", "--org", "acme", created["_id"], "--json")) == {"object": "result", "data": True}
    assert "No export schedules." in run("list", "--org", "acme")
    with runtime.database.connect() as connection:
        actions = connection.execute(sa.select(audit.c.action).where(audit.c.action.like("exportSchedule.%"))
                                     .order_by(audit.c.time, audit.c.id)).scalars().all()
    assert actions == ["exportSchedule.create", "exportSchedule.update", "exportSchedule.delete"]
