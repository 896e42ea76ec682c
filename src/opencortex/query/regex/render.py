"""Write a checked pattern tree for RE2 and for PostgreSQL's ARE engine.

Both renderings mean the same thing: PostgreSQL's newline rules, ASCII classes and ASCII case
folding. RE2 needs help for two of them. Its ``\\s`` leaves out ``\\v``, so ``\\s`` is written as
``[[:space:]]``; its ``(?i)`` folds Unicode (``k`` would match the Kelvin sign), so ``i`` is
written out instead, each ASCII letter as ``[aA]`` and each set with the other case of its
letters and ranges. The tests run both renderings side by side.
"""

from __future__ import annotations

from opencortex.query.regex.syntax import Anchor, AnyChar, Char, CharClass, CharSet, Flags, Group, RegexNode


def render_re2(root: Group, flags: Flags) -> str:
    """For RE2 (the evaluator, and SQLite's REGEXP), with the flags inline; ``i`` is written out."""
    return _re2_flags(flags) + _render_top(root, _Re2Style(flags))


def render_postgres(root: Group, flags: Flags) -> str:
    """For PostgreSQL's ``~`` operator, with the embedded options inline."""
    return _postgres_options(flags) + _render_top(root, _PostgresStyle(flags))


class _Re2Style:
    """RE2 spelling, with PostgreSQL's newline rules, ASCII classes and ASCII case folding."""

    def __init__(self, flags: Flags) -> None:
        self.flags = flags

    def char(self, char: str) -> str:
        if self.flags.ignore_case and _is_ascii_letter(char):
            return "[" + char.lower() + char.upper() + "]"
        return _re2_literal(char)

    def char_class(self, letter: str) -> str:
        # RE2's \s is [\t\n\f\r ]; PostgreSQL's and JavaScript's ASCII \s also hold \v.
        return {"s": "[[:space:]]", "S": "[^[:space:]]"}.get(letter, "\\" + letter)

    def char_set(self, node: CharSet) -> str:
        parts: list[str] = []
        for item in node.items:
            if isinstance(item, CharClass):
                parts.append("[:space:]" if item.letter == "s" else "\\" + item.letter)
            elif isinstance(item, str):
                parts.append(_re2_literal(item))
                if self.flags.ignore_case and _is_ascii_letter(item):
                    parts.append(item.swapcase())
            else:
                parts.append(_re2_literal(item[0]) + "-" + _re2_literal(item[1]))
                if self.flags.ignore_case:
                    parts.extend(_other_case_ranges(item[0], item[1]))
        if node.negated and not self.flags.dotall:
            parts.append("\\n")  # PostgreSQL: [^...] skips newlines unless s; RE2's does not
        return "[" + ("^" if node.negated else "") + "".join(parts) + "]"

    def anchor(self, kind: str) -> str:
        if kind == "$" and not self.flags.multiline:
            return "\\z"  # the end of the text only
        return kind if kind in "^$" else "\\" + kind


class _PostgresStyle:
    """PostgreSQL ARE spelling."""

    def __init__(self, flags: Flags) -> None:
        self.flags = flags

    def char(self, char: str) -> str:
        # In an ARE, a backslash before a non-alphanumeric character makes it literal.
        return "\\" + char if char.isascii() and char.isprintable() and not char.isalnum() else char

    def char_class(self, letter: str) -> str:
        return "\\" + letter

    def char_set(self, node: CharSet) -> str:
        # The embedded option (p or n) already keeps newlines out of [^...].
        items = "".join(
            "\\" + item.letter
            if isinstance(item, CharClass)
            else self.char(item)
            if isinstance(item, str)
            else self.char(item[0]) + "-" + self.char(item[1])
            for item in node.items
        )
        return "[" + ("^" if node.negated else "") + items + "]"

    def anchor(self, kind: str) -> str:
        return {"^": "^", "$": "$", "b": "\\y", "B": "\\Y"}[kind]


def _render_top(root: Group, style: _Re2Style | _PostgresStyle) -> str:
    return "|".join("".join(_render(item, style) for item in branch) for branch in root.branches)


def _render(node: RegexNode, style: _Re2Style | _PostgresStyle) -> str:
    if isinstance(node, Char):
        return style.char(node.char)
    if isinstance(node, AnyChar):
        return "."
    if isinstance(node, CharClass):
        return style.char_class(node.letter)
    if isinstance(node, Anchor):
        return style.anchor(node.kind)
    if isinstance(node, CharSet):
        return style.char_set(node)
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


def _is_ascii_letter(char: str) -> bool:
    return char.isascii() and char.isalpha()


def _re2_literal(char: str) -> str:
    """``char`` as a literal, inside or outside a set: ASCII punctuation escaped, the rest by code."""
    if char.isascii() and char.isalnum():
        return char
    if char.isascii() and char.isprintable() and char != " ":
        return "\\" + char
    return f"\\x{{{ord(char):X}}}"


def _other_case_ranges(low: str, high: str) -> list[str]:
    """The other case of the ASCII letters in ``low-high``, as RE2 set ranges."""
    ranges = []
    for first, last, shift in (("A", "Z", 32), ("a", "z", -32)):
        start, end = max(ord(low), ord(first)), min(ord(high), ord(last))
        if start <= end:
            ranges.append(f"{chr(start + shift)}-{chr(end + shift)}")
    return ranges


def _re2_flags(flags: Flags) -> str:
    letters = "m" * flags.multiline + "s" * flags.dotall
    return f"(?{letters})" if letters else ""


def _postgres_options(flags: Flags) -> str:
    # p: . and [^...] skip newlines, ^ $ only at the ends; n: ... and ^ $ at lines;
    # s (the default): . matches newlines; w: . matches newlines and ^ $ at lines.
    mode = {(False, False): "p", (True, False): "n", (False, True): "s", (True, True): "w"}
    return "(?" + mode[(flags.multiline, flags.dotall)] + "i" * flags.ignore_case + ")"
