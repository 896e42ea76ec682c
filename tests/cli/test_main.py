"""The root group: commands load lazily (the worker never imports the web stack), every command
is listed in ``--help``, and every command takes ``--json``."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from opencortex.cli.main import COMMANDS, cli

WEB_STACK = ("fastapi", "starlette", "uvicorn")


def _fresh_interpreter(code: str) -> dict:
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_the_worker_never_imports_the_web_stack():
    found = _fresh_interpreter(f"""
import json, pkgutil, sys, importlib
from opencortex.cli.main import cli
try:
    cli(["worker", "--help"])
except SystemExit as exit:
    code = exit.code
import opencortex.exports
for module in pkgutil.walk_packages(opencortex.exports.__path__, "opencortex.exports."):
    importlib.import_module(module.name)  # everything a worker can reach
print(json.dumps({{"code": code, "worker": "opencortex.cli.workers" in sys.modules,
                  "web": sorted(m for m in sys.modules if m.split(".")[0] in {WEB_STACK!r})}}))
""")
    assert found == {"code": 0, "worker": True, "web": []}


def test_help_lists_every_command_without_importing_any():
    found = _fresh_interpreter(f"""
import contextlib, io, json, sys
from opencortex.cli.main import cli
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        cli(["--help"])
    except SystemExit:
        pass
print(json.dumps({{"help": out.getvalue(),
                  "loaded": sorted(m for m in sys.modules if m.startswith("opencortex.cli.") and m not in
                                   ("opencortex.cli.main", "opencortex.cli.group", "opencortex.cli.context"))
                                   + sorted(m for m in sys.modules if m.split(".")[0] in {WEB_STACK!r})}}))
""")
    assert found["loaded"] == []
    commands = found["help"].split("Commands:")[1].splitlines()
    listed = {line.split()[0] for line in commands if line.startswith("  ") and not line.startswith("   ")}
    assert listed == set(COMMANDS) == {"init", "org", "account", "app", "token", "serve", "worker", "export",
                                       "import", "demo", "deidentify", "schedule"}
    assert "Run export workers until interrupted." in found["help"]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_table_help_is_the_commands_own(name):
    command = COMMANDS[name].load()
    assert command.name == name
    assert command.get_short_help_str(limit=200) == COMMANDS[name].short_help


def _leaves(command: click.Command, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], click.Command]]:
    if isinstance(command, click.Group):
        return [leaf for name, sub in command.commands.items() for leaf in _leaves(sub, (*path, name))]
    return [(path, command)]


def test_every_command_takes_json():
    leaves = [leaf for name, lazy in COMMANDS.items() for leaf in _leaves(lazy.load(), (name,))]
    assert len(leaves) > 20
    missing = [" ".join(path) for path, command in leaves
               if not any("--json" in option.opts for option in command.params if isinstance(option, click.Option))]
    assert missing == []


def test_an_unknown_command_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "nonsense"])
    assert result.exit_code == 2 and "No such command 'nonsense'" in result.stderr


def test_a_bad_environment_value_is_a_message(tmp_path):
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "init"], env={"OPENCORTEX_PORT": "eighty"})
    assert result.exit_code == 1
    assert result.stderr == "Error: OPENCORTEX_PORT must be an integer, got 'eighty'\n"
