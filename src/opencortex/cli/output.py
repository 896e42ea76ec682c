"""Printing command results: human lines by default, one JSON document with ``--json``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
import orjson

F = TypeVar("F", bound=Callable[..., Any])


def json_option(help: str = "Print JSON.") -> Callable[[F], F]:  # noqa: A002 - click's own name
    return click.option("--json", "as_json", is_flag=True, help=help)


def emit(as_json: bool, data: Any, lines: list[str]) -> None:
    if as_json:
        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
    else:
        for line in lines:
            click.echo(line)


def banner(as_json: bool, data: dict[str, Any], line: str) -> None:
    """What a long-running command says once it is up: one JSON line on standard output (so a
    supervisor can read it), or one human line on standard error."""
    if as_json:
        sys.stdout.write(orjson.dumps(data).decode() + "\n")
        sys.stdout.flush()
    else:
        click.echo(line, err=True)


def table(rows: list[list[str]], headers: list[str]) -> list[str]:
    """Left-aligned columns, as wide as their widest cell."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    return ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in [headers, *rows]]
