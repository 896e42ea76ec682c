"""Write a checked pattern tree for Python's ``re`` and for PostgreSQL's ARE engine.

Both renderings mean the same thing (PostgreSQL's newline rules, ASCII classes and case
folding); the tests run them side by side on both.
"""

from __future__ import annotations

import re

from opencortex.query.regex.syntax import Anchor, AnyChar, Char, CharClass, CharSet, Flags, Group, RegexNode


def render_python(root: Group, flags: Flags) -> str:
    """For Python's ``re`` (the evaluator, and SQLite's REGEXP), with the flags inline."""
    return _python_flags(flags) + _render_top(root, _PythonStyle(flags))


def render_postgres(root: Group, flags: Flags) -> str:
    """For PostgreSQL's ``~`` operator, with the embedded options inline."""
    return _postgres_options(flags) + _render_top(root, _PostgresStyle(flags))


class _PythonStyle:
    """Python ``re`` spelling, with ``re.ASCII`` and PostgreSQL's newline rules."""

    def __init__(self, flags: Flags) -> None:
        self.flags = flags

    def char(self, char: str) -> str:
        return re.escape(char)

    def set_char(self, char: str) -> str:
        return "\\" + char if char in "\\]^-[" else char

    def negated_set_extra(self) -> str:
        return "" if self.flags.dotall else "\\n"  # PostgreSQL: [^...] skips newlines unless s

    def anchor(self, kind: str) -> str:
        if kind == "$":
            return "$" if self.flags.multiline else "\\Z"  # Python's bare $ also matches before a final \n
        return "^" if kind == "^" else "\\" + kind


class _PostgresStyle:
    """PostgreSQL ARE spelling."""

    def __init__(self, flags: Flags) -> None:
        self.flags = flags

    def char(self, char: str) -> str:
        # In an ARE, a backslash before a non-alphanumeric character makes it literal.
        return "\\" + char if char.isascii() and char.isprintable() and not char.isalnum() else char

    def set_char(self, char: str) -> str:
        return self.char(char)

    def negated_set_extra(self) -> str:
        return ""  # the embedded option (p or n) already keeps newlines out

    def anchor(self, kind: str) -> str:
        return {"^": "^", "$": "$", "b": "\\y", "B": "\\Y"}[kind]


def _render_top(root: Group, style: _PythonStyle | _PostgresStyle) -> str:
    # Not wrapped in a group: Python's re only skips start positions for a bare leading ^.
    return "|".join("".join(_render(item, style) for item in branch) for branch in root.branches)


def _render(node: RegexNode, style: _PythonStyle | _PostgresStyle) -> str:
    if isinstance(node, Char):
        return style.char(node.char)
    if isinstance(node, AnyChar):
        return "."
    if isinstance(node, CharClass):
        return "\\" + node.letter
    if isinstance(node, Anchor):
        return style.anchor(node.kind)
    if isinstance(node, CharSet):
        items = "".join(
            "\\" + item.letter
            if isinstance(item, CharClass)
            else style.set_char(item)
            if isinstance(item, str)
            else style.set_char(item[0]) + "-" + style.set_char(item[1])
            for item in node.items
        )
        extra = style.negated_set_extra() if node.negated else ""
        return "[" + ("^" if node.negated else "") + items + extra + "]"
    if isinstance(node, Group):
        return "(?:" + "|".join("".join(_render(i, style) for i in b) for b in node.branches) + ")"
    bounds = {(0, None): "*", (1, None): "+", (0, 1): "?"}.get((node.min, node.max))
    if bounds is None:
        bounds = (
            f"{{{node.min}}}"
            if node.min == node.max
            else f"{{{node.min},{'' if node.max is None else node.max}}}"
        )
    return _render(node.item, style) + bounds + ("?" if node.lazy else "")


def _python_flags(flags: Flags) -> str:
    return "(?a" + "i" * flags.ignore_case + "m" * flags.multiline + "s" * flags.dotall + ")"


def _postgres_options(flags: Flags) -> str:
    # p: . and [^...] skip newlines, ^ $ only at the ends; n: ... and ^ $ at lines;
    # s (the default): . matches newlines; w: . matches newlines and ^ $ at lines.
    mode = {(False, False): "p", (True, False): "n", (False, True): "s", (True, True): "w"}
    return "(?" + mode[(flags.multiline, flags.dotall)] + "i" * flags.ignore_case + ")"
