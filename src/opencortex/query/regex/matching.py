"""Running RE2 renderings in this process: the evaluator and SQLite's ``REGEXP`` both call ``search``.

RE2 matches in time linear in the value's length, whatever the pattern, and releases the GIL
while it matches (measured: during a 4 s match, a thread that lets the GIL go and takes it back
every millisecond never waited more than 5 ms; with Python's ``re`` it waits for the whole
match), so a long value holds neither the interpreter nor other requests. Values are matched
as UTF-8 bytes; a lone surrogate (which no stored value can hold: both databases store UTF-8)
is passed through as Python's ``surrogatepass`` writes it rather than refused.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

# Compiled patterns are reused across rows and requests. RE2 lets each one grow its DFA
# cache up to ``max_mem``; past that it falls back to its NFA, which is slower but still
# linear. 2 MiB bounds the memory of this cache at 128 x 2 MiB whatever the queries.
MAX_MEMORY = 2 << 20
CACHE_SIZE = 128


def search(rendering: str, value: str) -> bool:
    """True when the RE2 ``rendering`` of a checked pattern matches somewhere in ``value``."""
    return compiled(rendering).search(value.encode("utf-8", "surrogatepass")) is not None


@lru_cache(maxsize=CACHE_SIZE)
def compiled(rendering: str) -> Any:
    """The compiled pattern; raises ``re2.error`` when RE2 cannot compile it."""
    return re2.compile(rendering, _options())


def _options() -> re2.Options:
    options = re2.Options()
    options.max_mem = MAX_MEMORY
    options.log_errors = False  # "DFA out of memory" and the like are not errors here
    options.never_capture = True  # only "does it match" is asked
    return options
