"""The regular-expression subset as a tree, and the parser that builds it (see ``regex/__init__``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from opencortex import faults

MAX_BOUND = 255  # PostgreSQL's RE_DUP_MAX: the largest n or m in {n,m}

_CLASS_LETTERS = frozenset("dDwWsS")
_CONTROL_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v"}


@dataclass
class Char:
    char: str


@dataclass
class AnyChar:
    pass


@dataclass
class CharClass:
    letter: str  # d D w W s S


@dataclass
class CharSet:
    negated: bool
    items: list[str | tuple[str, str] | CharClass]


@dataclass
class Anchor:
    kind: str  # ^ $ b B


@dataclass
class Group:
    branches: list[list[RegexNode]]


@dataclass
class Repeat:
    item: RegexNode
    min: int
    max: int | None  # None: unbounded
    lazy: bool = False


RegexNode = Char | AnyChar | CharClass | CharSet | Anchor | Group | Repeat


@dataclass
class Flags:
    ignore_case: bool = False
    multiline: bool = False
    dotall: bool = False
    extended: bool = False


class PatternParser:
    """Recursive descent over the pattern; positions are indexes into ``self.text``."""

    def __init__(self, text: str, flags: Flags, path: str) -> None:
        self.text, self.flags, self.path, self.at = text, flags, path, 0

    def fail(self, reason: str) -> faults.Fault:
        return faults.query_invalid(f"Unsupported regular expression: {reason}.", path=self.path)

    def parse(self) -> Group:
        group = self.alternation()
        if self.at < len(self.text):  # only an unmatched ")" stops the top level early
            raise self.fail("unmatched )")
        return group

    def alternation(self) -> Group:
        branches = [self.sequence()]
        while self.peek() == "|":
            self.at += 1
            branches.append(self.sequence())
        return Group(branches)

    def sequence(self) -> list[RegexNode]:
        items: list[RegexNode] = []
        while True:
            self.skip_extended()
            if self.peek() in ("", "|", ")"):
                return items
            atom = self.atom()
            self.skip_extended()
            bounds = self.quantifier()
            if bounds is not None:
                if isinstance(atom, Anchor):
                    raise self.fail("nothing to repeat before a quantifier")
                lazy = self.peek() == "?"
                if lazy:
                    self.at += 1
                atom = Repeat(atom, bounds[0], bounds[1], lazy)
                self.skip_extended()
                if self.quantifier(probe=True) is not None:
                    raise self.fail("a quantifier cannot follow another quantifier")
            items.append(atom)

    def skip_extended(self) -> None:
        """Under the x flag, skip whitespace and # comments."""
        while self.flags.extended and self.at < len(self.text):
            char = self.text[self.at]
            if char.isspace():
                self.at += 1
            elif char == "#":
                newline = self.text.find("\n", self.at)
                self.at = len(self.text) if newline < 0 else newline + 1
            else:
                break

    def peek(self) -> str:
        return self.text[self.at] if self.at < len(self.text) else ""

    def atom(self) -> RegexNode:
        char = self.text[self.at]
        self.at += 1
        if char == ".":
            return AnyChar()
        if char in "^$":
            return Anchor(char)
        if char in "*+?":
            raise self.fail("nothing to repeat before a quantifier")
        if char == "(":
            return self.group()
        if char == "[":
            return self.char_set()
        if char == "{" and self.quantifier_at(self.at - 1) is not None:
            raise self.fail("nothing to repeat before a quantifier")
        if char == "\\":
            return self.escape(in_set=False)
        return Char(self.checked(char))

    def group(self) -> Group:
        if self.text.startswith("?:", self.at):
            self.at += 2
        elif self.peek() == "?":
            raise self.fail("lookaround and named groups are not supported")
        group = self.alternation()
        if self.peek() != ")":
            raise self.fail("missing )")
        self.at += 1
        return group

    def char_set(self) -> CharSet:
        negated = self.peek() == "^"
        if negated:
            self.at += 1
        items: list[str | tuple[str, str] | CharClass] = []
        while self.peek() != "]":
            if self.at >= len(self.text):
                raise self.fail("missing ]")
            item = self.set_item()
            if self.peek() == "-" and self.text[self.at + 1 : self.at + 2] not in ("]", ""):
                self.at += 1
                upper = self.set_item()
                if isinstance(item, CharClass) or isinstance(upper, CharClass) or item > upper:
                    raise self.fail("invalid range in [...]")
                items.append((item, upper))
            else:
                items.append(item)
        self.at += 1
        if not items:
            raise self.fail("empty [] or [^]")
        return CharSet(negated, items)

    def set_item(self) -> str | CharClass:
        char = self.text[self.at]
        self.at += 1
        if char != "\\":
            return self.checked(char)
        node = self.escape(in_set=True)
        if isinstance(node, CharClass):
            return node
        assert isinstance(node, Char)
        return node.char

    def escape(self, *, in_set: bool) -> RegexNode:
        if self.at >= len(self.text):
            raise self.fail("trailing backslash")
        char = self.text[self.at]
        self.at += 1
        if char in _CLASS_LETTERS:
            if in_set and char.isupper():
                raise self.fail(f"\\{char} inside [...]")
            return CharClass(char)
        if char in "bB" and not in_set:
            return Anchor(char)
        if char in _CONTROL_ESCAPES:
            return Char(_CONTROL_ESCAPES[char])
        if char in "xu":
            width = 2 if char == "x" else 4
            digits = self.text[self.at : self.at + width]
            if len(digits) != width or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise self.fail(f"\\{char} needs {width} hex digits")
            self.at += width
            return Char(self.checked(chr(int(digits, 16))))
        if char.isdigit():
            raise self.fail("backreferences are not supported")
        if char.isascii() and char.isalnum():
            raise self.fail(f"the escape \\{char}")
        return Char(self.checked(char))

    def checked(self, char: str) -> str:
        if char == "\x00" or "\ud800" <= char <= "\udfff":
            raise self.fail("NUL and surrogate characters")
        return char

    def quantifier(self, probe: bool = False) -> tuple[int, int | None] | None:
        """The bounds of a quantifier at the cursor (consumed unless ``probe``), or None."""
        char = self.peek()
        bounds: tuple[int, int | None] | None
        if char and char in "*+?":
            bounds, length = {"*": (0, None), "+": (1, None), "?": (0, 1)}[char], 1
        else:
            found = self.quantifier_at(self.at)
            if found is None:
                return None
            bounds, length = found
        if not probe:
            self.at += length
        return bounds

    def quantifier_at(self, start: int) -> tuple[tuple[int, int | None], int] | None:
        """A ``{n}``, ``{n,}`` or ``{n,m}`` at ``start``: its bounds and length; None for a literal ``{``."""
        found = re.match(r"\{(\d+)(,(\d*))?\}", self.text[start:])
        if found is None:
            return None
        low = int(found.group(1))
        high = low if found.group(2) is None else (int(found.group(3)) if found.group(3) else None)
        if low > MAX_BOUND or (high is not None and (high > MAX_BOUND or high < low)):
            raise self.fail(f"repetition bounds must be in order and at most {MAX_BOUND}")
        return (low, high), found.end()
