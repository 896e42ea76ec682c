"""The ``opencortex`` command, driven in-process through click's runner, on each database."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from opencortex.cli.main import cli
from opencortex.runtime import Runtime
from opencortex.settings import Settings


@pytest.fixture
def run(database_url: str, tmp_path: Path) -> Callable[..., Result]:
    """``run(*args, input=None, ok=True, env=None)``: one command against this test's database."""
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None, ok: bool = True, env: dict[str, str] | None = None) -> Result:
        result = runner.invoke(cli, ["--data-dir", str(tmp_path / "var"), "--database-url", database_url, *args],
                               input=input, env=env, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return invoke


@pytest.fixture
def run_json(run: Callable[..., Result]) -> Callable[..., Any]:
    """``run_json(*args)``: the command with ``--json``, its standard output parsed."""

    def invoke(*args: str, input: str | None = None) -> Any:
        return json.loads(run(*args, "--json", input=input).stdout)

    return invoke


@pytest.fixture
def runtime(database_url: str, tmp_path: Path) -> Iterator[Runtime]:
    """The same data the commands use, opened directly (to check what they wrote)."""
    opened = Runtime.open(Settings(data_dir=tmp_path / "var", database_url=database_url))
    yield opened
    opened.close()
