"""``$regex`` values: parse ``/pattern/flags``, refuse costly patterns, render for each engine.

Cortex takes JavaScript regular expressions. We accept a subset whose meaning we can give
identically to PostgreSQL (``~``, Spencer's ARE engine) and to RE2 (the evaluator, and the
``REGEXP`` function registered on SQLite), by parsing the pattern and writing it out again for
each engine:

- literals, ``\\`` escapes of punctuation, ``\\n \\t \\r \\f \\v \\xHH \\uHHHH``; ``.``;
  ``\\d \\D \\w \\W \\s \\S`` (ASCII, as PostgreSQL's "C" collation has them); ``[...]`` and
  ``[^...]`` with ranges and ``\\d \\w \\s``; ``^ $ \\b \\B``; groups ``(...)``, ``(?:...)``;
  ``|``; ``* + ? {n} {n,} {n,m}`` (bounds up to 255, as PostgreSQL), greedy or lazy.
- Refused: backreferences, lookaround, named groups, ``\\p{...}``, other escapes. RE2 cannot
  run backreferences or lookaround in linear time, and neither can we.
- Flags: ``i`` (ASCII case folding), ``m`` (``^``/``$`` at line breaks), ``s`` (``.`` matches
  a newline), ``x`` (whitespace and ``#`` comments in the pattern are ignored).
- One difference from JavaScript, which PostgreSQL imposes: without ``s``, a negated set
  ``[^...]`` does not match a newline either (as ``.`` does not).

Cost. Neither engine backtracks: both simulate an automaton over the value, so matching takes
time linear in the value's length whatever the pattern, and RE2 releases the GIL while it
works (a 300,000-character value against ``/a.*b/`` takes a few milliseconds). What a
pattern decides is the work per character, which grows with the number of places in the
pattern that can be active at once. So:

- the width of a pattern, with every counted repetition written out (``a{n,m}`` counts ``m``
  times its item, ``a{n,}`` ``n`` times, ``*`` ``+`` ``?`` once, alternatives added up), is at
  most 256. At that width the worst values we found cost 2 to 3 us a character on RE2 and 1.5
  to 2 us on PostgreSQL (``a.{254}-`` or ``[ab]*a[ab]{253}-`` on random text of a and b);
  simple patterns cost 0.003 to 0.015 us, and forty ``.{255}`` in a row cost 40 us. The
  patterns of one query are limited together as well (``QueryLimits``);
- a repeated group (``(...)*``, ``(...){2,5}``...) may not contain a quantifier, may not match
  the empty string, and its alternatives must start with distinct literal characters (so
  ``(a+)+``, ``(a*)*``, ``(a|a)*``, ``(a|ab)*`` are refused and ``(ab|cd)+`` is fine). These
  patterns are harmless to our engines but say nothing a simpler pattern does not (``(a+)+``
  is ``a+``), and they are what a backtracking engine, JavaScript's included, hangs on.

Any number of open-ended repetitions and optional parts is fine: ``a.*b.*c``, ``\\s*a\\s*b``
and ``xa?b?c?d?e?f?g?y`` are accepted (the cost rules of the backtracking days refused them).
"""

from __future__ import annotations

import re2

from opencortex import faults
from opencortex.query.ast import Pattern
from opencortex.query.regex.budget import Budget, width
from opencortex.query.regex.matching import compiled
from opencortex.query.regex.render import render_postgres, render_re2
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
    budget.check_repeats(root)
    budget.check_width(root)
    rendering = render_re2(root, flags)
    try:
        compiled(rendering)
    except re2.error as error:  # the rules above should have refused it already: a fault, not a 500
        raise faults.query_invalid(f"Unsupported regular expression: {error}.", path=path) from error
    return Pattern(source=text, re2=rendering, postgres=render_postgres(root, flags), width=width(root))


def _parse_flags(letters: str, path: str) -> Flags:
    if any(letter not in FLAGS for letter in letters) or len(set(letters)) != len(letters):
        raise faults.query_invalid(
            f"Invalid regular expression flags {letters!r}: use each of i, m, s, x at most once.", path=path
        )
    return Flags("i" in letters, "m" in letters, "s" in letters, "x" in letters)
