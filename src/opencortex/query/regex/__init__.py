"""``$regex`` values: parse ``/pattern/flags``, refuse costly patterns, render for each engine.

Cortex takes JavaScript regular expressions. We accept a subset whose meaning we can give
identically to PostgreSQL (``~``, Spencer's ARE engine) and to Python's ``re`` (the evaluator,
and the ``REGEXP`` function registered on SQLite), by parsing the pattern and writing it out
again for each engine:

- literals, ``\\`` escapes of punctuation, ``\\n \\t \\r \\f \\v \\xHH \\uHHHH``; ``.``;
  ``\\d \\D \\w \\W \\s \\S`` (ASCII, as with Python's ``re.ASCII`` and PostgreSQL's "C"
  collation); ``[...]`` and ``[^...]`` with ranges and ``\\d \\w \\s``; ``^ $ \\b \\B``;
  groups ``(...)``, ``(?:...)``; ``|``; ``* + ? {n} {n,} {n,m}`` (bounds up to 255, as
  PostgreSQL), greedy or lazy.
- Refused: backreferences, lookaround, named groups, ``\\p{...}``, other escapes.
- Flags: ``i`` (ASCII case folding), ``m`` (``^``/``$`` at line breaks), ``s`` (``.`` matches
  a newline), ``x`` (whitespace and ``#`` comments in the pattern are ignored).
- One difference from JavaScript, which PostgreSQL imposes: without ``s``, a negated set
  ``[^...]`` does not match a newline either (as ``.`` does not).

Cost guard. PostgreSQL's engine does not backtrack, but Python's does, and a pattern such as
``(a+)+b`` or ``.*a.*b`` can take exponential or high-polynomial time on a long value. We
estimate the work of a backtracking search as ``ways x n ** degree`` and refuse patterns over
budget:

- a repeated group (``(...)*``, ``(...){2,5}``...) may not contain a quantifier, may not match
  the empty string, and its alternatives must start with distinct literal characters (so
  ``(a+)+``, ``(a*)*``, ``(a|a)*``, ``(a|ab)*`` are refused and ``(ab|cd)+`` is fine);
- each open-ended quantifier (``*``, ``+``, ``{n,}``, or a range wider than 16) adds one to the
  degree; trying every start position adds one more unless the pattern starts with ``^``
  (without ``m``). The degree may be at most 2: ``a.*b`` and ``^a.*b.*c`` pass, ``a.*b.*c``
  does not;
- bounded choices (``?``, ``{2,5}``) and ambiguous alternations multiply the ways, which may
  be at most 64.

Leading and trailing ``x*``, ``x?`` of an unanchored single-branch pattern are dropped first:
they can match the empty string, so they never change whether a search succeeds (``.*foo.*``
is ``foo``).
"""

from __future__ import annotations

import re

from opencortex import faults
from opencortex.query.ast import Pattern
from opencortex.query.regex.budget import Budget, drop_neutral_ends
from opencortex.query.regex.render import render_postgres, render_python
from opencortex.query.regex.syntax import Flags, PatternParser

FLAGS = frozenset("imsx")


def parse_regex(text: str, *, max_length: int, path: str) -> Pattern:
    """A ``Pattern`` from ``"/pattern/flags"``, or a ``query_invalid`` fault saying what is wrong."""
    if not 2 <= len(text) <= max_length or not text.startswith("/") or text.rfind("/") == 0:
        raise faults.query_invalid(
            f"$regex expects a string /pattern/flags of at most {max_length} characters.", path=path
        )
    end = text.rfind("/")
    flags = _parse_flags(text[end + 1 :], path)
    parser = PatternParser(text[1:end], flags, path)
    root = parser.parse()
    budget = Budget(flags, path)
    budget.check_repeats(root)  # before dropping anything: (a*)* is refused wherever it stands
    drop_neutral_ends(root)
    budget.check_cost(root)
    python = render_python(root, flags)
    try:
        re.compile(python)
    except re.error as error:  # the parser should have refused this already; stay a fault, not a 500
        raise faults.query_invalid(f"Invalid regular expression: {error}.", path=path) from error
    postgres = render_postgres(root, flags)
    return Pattern(source=text, python=python, postgres=postgres)


def _parse_flags(letters: str, path: str) -> Flags:
    if any(letter not in FLAGS for letter in letters) or len(set(letters)) != len(letters):
        raise faults.query_invalid(
            f"Invalid regular expression flags {letters!r}: use each of i, m, s, x at most once.", path=path
        )
    return Flags("i" in letters, "m" in letters, "s" in letters, "x" in letters)
