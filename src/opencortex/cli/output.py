"""Printing command results: human lines by default, one JSON document with ``--json``."""

from __future__ import annotations

from typing import Any

import click
import orjson


def emit(as_json: bool, data: Any, lines: list[str]) -> None:
    if as_json:
        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
    else:
        for line in lines:
            click.echo(line)
