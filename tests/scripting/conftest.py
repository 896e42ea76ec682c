"""Every scripting test checks that it left no child process and no open file behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.scripting.helpers import open_fds, script_processes


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    assert script_processes() == []
    fds = open_fds()
    yield
    assert script_processes() == [], "a script child process was left behind"
    assert open_fds() == fds, "a pipe or file was left open"
