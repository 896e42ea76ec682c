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
from dataclasses import dataclass

from opencortex import faults
from opencortex.query.ast import Pattern

MAX_BOUND = 255  # PostgreSQL's RE_DUP_MAX
WIDE_RANGE = 16  # a {n,m} with more choices than this counts as open-ended
MAX_DEGREE = 2
MAX_WAYS = 64
FLAGS = frozenset("imsx")

_CLASS_LETTERS = frozenset("dDwWsS")
_CONTROL_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v"}
_SPECIAL = frozenset("\\^$.|?*+()[]{}")


@dataclass
class _Char:
    char: str


@dataclass
class _Any:
    pass


@dataclass
class _Class:
    letter: str  # d D w W s S


@dataclass
class _Set:
    negated: bool
    items: list[str | tuple[str, str] | _Class]


@dataclass
class _Anchor:
    kind: str  # ^ $ b B


@dataclass
class _Group:
    branches: list[list[_Node]]


@dataclass
class _Repeat:
    item: _Node
    min: int
    max: int | None  # None: unbounded
    lazy: bool = False


_Node = _Char | _Any | _Class | _Set | _Anchor | _Group | _Repeat


@dataclass
class _Flags:
    ignore_case: bool = False
    multiline: bool = False
    dotall: bool = False
    extended: bool = False


def parse_regex(text: str, *, max_length: int, path: str) -> Pattern:
    """A ``Pattern`` from ``"/pattern/flags"``, or a ``query_invalid`` fault saying what is wrong."""
    if not 2 <= len(text) <= max_length or not text.startswith("/") or text.rfind("/") == 0:
        raise faults.query_invalid(
            f"$regex expects a string /pattern/flags of at most {max_length} characters.", path=path
        )
    end = text.rfind("/")
    flags = _parse_flags(text[end + 1 :], path)
    parser = _Parser(text[1:end], flags, path)
    root = parser.parse()
    budget = _Budget(flags, path)
    budget.check_repeats(root)  # before dropping anything: (a*)* is refused wherever it stands
    _drop_neutral_ends(root)
    budget.check_cost(root)
    python = _python_flags(flags) + _render_top(root, _PythonStyle(flags))
    try:
        re.compile(python)
    except re.error as error:  # the parser should have refused this already; stay a fault, not a 500
        raise faults.query_invalid(f"Invalid regular expression: {error}.", path=path) from error
    postgres = _postgres_options(flags) + _render_top(root, _PostgresStyle(flags))
    return Pattern(source=text, python=python, postgres=postgres)


def _parse_flags(letters: str, path: str) -> _Flags:
    if any(letter not in FLAGS for letter in letters) or len(set(letters)) != len(letters):
        raise faults.query_invalid(
            f"Invalid regular expression flags {letters!r}: use each of i, m, s, x at most once.", path=path
        )
    return _Flags("i" in letters, "m" in letters, "s" in letters, "x" in letters)


class _Parser:
    """Recursive descent over the pattern; positions are indexes into ``self.text``."""

    def __init__(self, text: str, flags: _Flags, path: str) -> None:
        self.text, self.flags, self.path, self.at = text, flags, path, 0

    def fail(self, reason: str) -> faults.Fault:
        return faults.query_invalid(f"Unsupported regular expression: {reason}.", path=self.path)

    def parse(self) -> _Group:
        group = self.alternation()
        if self.at < len(self.text):  # only an unmatched ")" stops the top level early
            raise self.fail("unmatched )")
        return group

    def alternation(self) -> _Group:
        branches = [self.sequence()]
        while self.peek() == "|":
            self.at += 1
            branches.append(self.sequence())
        return _Group(branches)

    def sequence(self) -> list[_Node]:
        items: list[_Node] = []
        while True:
            self.skip_extended()
            if self.peek() in ("", "|", ")"):
                return items
            atom = self.atom()
            self.skip_extended()
            bounds = self.quantifier()
            if bounds is not None:
                if isinstance(atom, _Anchor):
                    raise self.fail("nothing to repeat before a quantifier")
                lazy = self.peek() == "?"
                if lazy:
                    self.at += 1
                atom = _Repeat(atom, bounds[0], bounds[1], lazy)
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
        return True

    def peek(self) -> str:
        return self.text[self.at] if self.at < len(self.text) else ""

    def atom(self) -> _Node:
        char = self.text[self.at]
        self.at += 1
        if char == ".":
            return _Any()
        if char in "^$":
            return _Anchor(char)
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
        return _Char(self.checked(char))

    def group(self) -> _Group:
        if self.text.startswith("?:", self.at):
            self.at += 2
        elif self.peek() == "?":
            raise self.fail("lookaround and named groups are not supported")
        group = self.alternation()
        if self.peek() != ")":
            raise self.fail("missing )")
        self.at += 1
        return group

    def char_set(self) -> _Set:
        negated = self.peek() == "^"
        if negated:
            self.at += 1
        items: list[str | tuple[str, str] | _Class] = []
        while self.peek() != "]":
            if self.at >= len(self.text):
                raise self.fail("missing ]")
            item = self.set_item()
            if self.peek() == "-" and self.text[self.at + 1 : self.at + 2] not in ("]", ""):
                self.at += 1
                upper = self.set_item()
                if isinstance(item, _Class) or isinstance(upper, _Class) or item > upper:
                    raise self.fail("invalid range in [...]")
                items.append((item, upper))
            else:
                items.append(item)
        self.at += 1
        if not items:
            raise self.fail("empty [] or [^]")
        return _Set(negated, items)

    def set_item(self) -> str | _Class:
        char = self.text[self.at]
        self.at += 1
        if char != "\\":
            return self.checked(char)
        node = self.escape(in_set=True)
        if isinstance(node, _Class):
            return node
        assert isinstance(node, _Char)
        return node.char

    def escape(self, *, in_set: bool) -> _Node:
        if self.at >= len(self.text):
            raise self.fail("trailing backslash")
        char = self.text[self.at]
        self.at += 1
        if char in _CLASS_LETTERS:
            if in_set and char.isupper():
                raise self.fail(f"\\{char} inside [...]")
            return _Class(char)
        if char in "bB" and not in_set:
            return _Anchor(char)
        if char in _CONTROL_ESCAPES:
            return _Char(_CONTROL_ESCAPES[char])
        if char in "xu":
            width = 2 if char == "x" else 4
            digits = self.text[self.at : self.at + width]
            if len(digits) != width or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise self.fail(f"\\{char} needs {width} hex digits")
            self.at += width
            return _Char(self.checked(chr(int(digits, 16))))
        if char.isdigit():
            raise self.fail("backreferences are not supported")
        if char.isascii() and char.isalnum():
            raise self.fail(f"the escape \\{char}")
        return _Char(self.checked(char))

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
        """A ``{n}``, ``{n,}`` or ``{n,m}`` at ``start``: its bounds and length. Else None (a literal ``{``)."""
        found = re.match(r"\{(\d+)(,(\d*))?\}", self.text[start:])
        if found is None:
            return None
        low = int(found.group(1))
        high = low if found.group(2) is None else (int(found.group(3)) if found.group(3) else None)
        if low > MAX_BOUND or (high is not None and (high > MAX_BOUND or high < low)):
            raise self.fail(f"repetition bounds must be in order and at most {MAX_BOUND}")
        return (low, high), found.end()


def _drop_neutral_ends(root: _Group) -> None:
    """Remove leading/trailing optional repeats of a single-branch pattern (see the module doc)."""
    if len(root.branches) != 1:
        return
    items = root.branches[0]
    while items and isinstance(items[0], _Repeat) and items[0].min == 0:
        items.pop(0)
    while items and isinstance(items[-1], _Repeat) and items[-1].min == 0:
        items.pop()


class _Budget:
    """The cost rules of the module docstring."""

    def __init__(self, flags: _Flags, path: str) -> None:
        self.flags, self.path = flags, path

    def fail(self, reason: str) -> faults.Fault:
        return faults.query_invalid(f"Regular expression too costly to run: {reason}.", path=self.path)

    def check_repeats(self, node: _Node) -> None:
        """Every repeated part follows the rules for repeated groups."""
        if isinstance(node, _Repeat):
            if node.max is None or node.max > 1:
                if self.can_be_empty(node.item):
                    raise self.fail("a repeated part must not be able to match nothing")
                self.check_inside_repeat(node.item)
            self.check_repeats(node.item)
        elif isinstance(node, _Group):
            for branch in node.branches:
                for item in branch:
                    self.check_repeats(item)

    def check_cost(self, root: _Group) -> None:
        degree, ways = self.cost(root)
        anchored = (
            len(root.branches) == 1
            and bool(root.branches[0])
            and isinstance(root.branches[0][0], _Anchor)
            and root.branches[0][0].kind == "^"
            and not self.flags.multiline
        )
        if degree + (0 if anchored else 1) > MAX_DEGREE:
            raise self.fail(
                "use at most one open-ended repetition (*, +, {n,}) or two after a leading ^"
            )
        if ways > MAX_WAYS:
            raise self.fail(f"optional parts and alternatives allow more than {MAX_WAYS} combinations")

    def cost(self, node: _Node) -> tuple[int, int]:
        """(degree, ways) of ``node``: sequences add degrees and multiply ways, alternatives add ways."""
        if isinstance(node, _Group):
            costs = [self.sequence_cost(branch) for branch in node.branches]
            ways = max(w for _, w in costs) if self.deterministic(node) else sum(w for _, w in costs)
            return max(d for d, _ in costs), ways
        if isinstance(node, _Repeat):
            degree, ways = self.cost(node.item)
            if node.max is None or node.max - node.min > WIDE_RANGE:
                return degree + 1, ways
            return degree, ways * (node.max - node.min + 1)
        return 0, 1

    def sequence_cost(self, items: list[_Node]) -> tuple[int, int]:
        degree, ways = 0, 1
        for item in items:
            item_degree, item_ways = self.cost(item)
            degree, ways = degree + item_degree, min(ways * item_ways, MAX_WAYS + 1)
        return degree, ways

    def check_inside_repeat(self, node: _Node) -> None:
        if isinstance(node, _Repeat):
            raise self.fail("a repeated group may not contain another quantifier, as in (a+)+")
        if isinstance(node, _Group):
            if not self.deterministic(node):
                raise self.fail("the alternatives of a repeated group must start with different characters")
            for branch in node.branches:
                for item in branch:
                    self.check_inside_repeat(item)

    def deterministic(self, group: _Group) -> bool:
        """True when at most one alternative can start matching at any position."""
        if len(group.branches) == 1:
            return True
        firsts = []
        for branch in group.branches:
            if not branch or not isinstance(branch[0], _Char):
                return False
            char = branch[0].char
            firsts.append(char.lower() if self.flags.ignore_case and char.isascii() else char)
        return len(set(firsts)) == len(firsts)

    def can_be_empty(self, node: _Node) -> bool:
        if isinstance(node, _Anchor):
            return True
        if isinstance(node, _Repeat):
            return node.min == 0 or self.can_be_empty(node.item)
        if isinstance(node, _Group):
            return any(all(self.can_be_empty(item) for item in branch) for branch in node.branches)
        return False


class _PythonStyle:
    """Python ``re`` spelling, with ``re.ASCII`` and PostgreSQL's newline rules."""

    def __init__(self, flags: _Flags) -> None:
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

    def __init__(self, flags: _Flags) -> None:
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


def _render_top(root: _Group, style: _PythonStyle | _PostgresStyle) -> str:
    # Not wrapped in a group: Python's re only skips start positions for a bare leading ^.
    return "|".join("".join(_render(item, style) for item in branch) for branch in root.branches)


def _render(node: _Node, style: _PythonStyle | _PostgresStyle) -> str:
    if isinstance(node, _Char):
        return style.char(node.char)
    if isinstance(node, _Any):
        return "."
    if isinstance(node, _Class):
        return "\\" + node.letter
    if isinstance(node, _Anchor):
        return style.anchor(node.kind)
    if isinstance(node, _Set):
        items = "".join(
            "\\" + item.letter
            if isinstance(item, _Class)
            else style.set_char(item)
            if isinstance(item, str)
            else style.set_char(item[0]) + "-" + style.set_char(item[1])
            for item in node.items
        )
        extra = style.negated_set_extra() if node.negated else ""
        return "[" + ("^" if node.negated else "") + items + extra + "]"
    if isinstance(node, _Group):
        return "(?:" + "|".join("".join(_render(i, style) for i in b) for b in node.branches) + ")"
    bounds = {(0, None): "*", (1, None): "+", (0, 1): "?"}.get((node.min, node.max))
    if bounds is None:
        bounds = f"{{{node.min}}}" if node.min == node.max else f"{{{node.min},{'' if node.max is None else node.max}}}"
    return _render(node.item, style) + bounds + ("?" if node.lazy else "")


def _python_flags(flags: _Flags) -> str:
    return "(?a" + "i" * flags.ignore_case + "m" * flags.multiline + "s" * flags.dotall + ")"


def _postgres_options(flags: _Flags) -> str:
    # p: . and [^...] skip newlines, ^ $ only at the ends; n: ... and ^ $ at lines;
    # s (the default): . matches newlines; w: . matches newlines and ^ $ at lines.
    mode = {(False, False): "p", (True, False): "n", (False, True): "s", (True, True): "w"}
    return "(?" + mode[(flags.multiline, flags.dotall)] + "i" * flags.ignore_case + ")"
