"""Turn a Cortex-style script into the body of the function the sandbox runs.

Cortex scripts are written as ES modules (``import logger from 'logger'``) but also use a
top-level ``return``, so they are really function bodies. QuickJS can only evaluate such a body
as plain script code, where ``import`` declarations are a syntax error. This module rewrites the
static import forms we support into ``const`` declarations, in place and without changing line
numbers, and rejects everything else that imports: unknown modules, dynamic ``import()``, and
imports below the top level.

The scanner is a lexer, not a parser: it skips comments, strings, template literals and regular
expression literals so that ``import`` inside them is left alone, and it guesses the
regex-versus-division question from the previous token, as JavaScript minifiers do. It is not the
security boundary. The engine has no module loader at all, so anything this scanner misreads
still cannot load a module; the worst a misreading can do is reject a valid script or let QuickJS
report a syntax error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BUILTIN_MODULES = ("console", "logger")

# The global that the rewritten imports call; defined (read-only) by the prelude.
IMPORT_FUNCTION = "__oc_import"


@dataclass(frozen=True)
class SourceRejected(Exception):
    """The script cannot run; ``name`` is the error name the caller reports (compile or import)."""

    name: str
    reason: str
    line: int

    def __str__(self) -> str:
        return f"{self.reason} (line {self.line})"


_IDENTIFIER = re.compile(r"(?:[^\W\d]|\$)(?:\w|\$|\u200c|\u200d)*")
_NUMBER = re.compile(r"[0-9][\w.]*|\.[0-9][\w]*")
_DIGITS = frozenset("0123456789")  # (a slice past the end, "", is not in it)
_SPACE = re.compile(r"[ \t\f\v\u00a0\ufeff\r\n\u2028\u2029]+")
_LINE_BREAKS = "\n\r\u2028\u2029"

# Keywords after which a slash starts a regular expression rather than a division.
_REGEX_AFTER_KEYWORDS = frozenset(
    {
        "return",
        "typeof",
        "instanceof",
        "in",
        "of",
        "new",
        "delete",
        "void",
        "throw",
        "case",
        "do",
        "else",
        "yield",
        "await",
    }
)

# One static import declaration, from just after the ``import`` keyword. Whitespace may include
# newlines; comments inside a declaration are not supported (the declaration is then rejected).
_WS = r"[\s]*"
_NAME = r"(?:[^\W\d]|\$)(?:\w|\$)*(?![\w$])"
_SPECIFIER = r"""(?:'(?P<sq>[^'\\\n\r]*)'|"(?P<dq>[^"\\\n\r]*)")"""
_NAMED = rf"\{{{_WS}(?:{_NAME}(?:\s+as\s+{_NAME})?{_WS},{_WS})*(?:{_NAME}(?:\s+as\s+{_NAME})?{_WS})?\}}"
_CLAUSE = (
    rf"(?:(?P<default>{_NAME})(?:{_WS},{_WS}(?:\*{_WS}as\s+(?P<ns2>{_NAME})|(?P<named2>{_NAMED})))?"
    rf"|\*{_WS}as\s+(?P<ns>{_NAME})"
    rf"|(?P<named>{_NAMED}))"
)
_IMPORT_DECLARATION = re.compile(
    rf"(?:{_WS}(?P<clause>{_CLAUSE}){_WS}from{_WS}|{_WS}){_SPECIFIER}[ \t]*(?:;|(?=//|[\n\r\u2028\u2029]|$))"
)
_NAMED_ITEM = re.compile(rf"({_NAME})(?:\s+as\s+({_NAME}))?")


def prepare_source(source: str) -> str:
    """Return ``source`` with its import declarations rewritten; raise ``SourceRejected``."""
    return _Scanner(source).run()


class _Scanner:
    def __init__(self, source: str) -> None:
        self.src = source
        self.pos = 0
        # Open ``{`` and template ``${`` in order, to find the end of template substitutions,
        # the top level, and a ``}`` that would close the function the body is wrapped in.
        self.braces: list[str] = []
        self.parens = 0
        # Kind of the previous significant token: "value" (a slash after it divides),
        # "keyword" (its text is in last_word), "dot", or "punct".
        self.last = "punct"
        self.last_word = ""
        self.out: list[str] = []
        self.copied = 0

    def run(self) -> str:
        src = self.src
        n = len(src)
        while self.pos < n:
            ch = src[self.pos]
            if ch in " \t\f\v\u00a0\ufeff" or ch in _LINE_BREAKS:
                self.pos = _SPACE.match(src, self.pos).end()  # type: ignore[union-attr]
            elif src.startswith("//", self.pos):
                self._skip_line_comment()
            elif src.startswith("/*", self.pos):
                self._skip_block_comment()
            elif ch in "'\"":
                self._skip_string(ch)
                self.last = "value"
            elif ch == "`":
                self.pos += 1
                self._skip_template()
            elif ch == "/":
                if self._slash_starts_regex() and self._skip_regex():
                    self.last = "value"
                else:
                    self.pos += 1
                    self.last = "punct"
            # ASCII digits only: str.isdigit() is also true of "¹" or "٣", which start no number
            # (and which _NUMBER, like JavaScript, does not match).
            elif ch in _DIGITS or (ch == "." and src[self.pos + 1 : self.pos + 2] in _DIGITS):
                self.pos = _NUMBER.match(src, self.pos).end()  # type: ignore[union-attr]
                self.last = "value"
            elif ch == "{":
                self.braces.append("{")
                self.pos += 1
                self.last = "punct"
            elif ch == "}":
                self._close_brace()
            elif ch in "([":
                self.parens += 1
                self.pos += 1
                self.last = "punct"
            elif ch in ")]":
                self.parens -= 1
                self.pos += 1
                self.last = "value"
            elif ch == "." and not src.startswith("...", self.pos):
                self.pos += 1
                self.last = "dot"
            else:
                match = _IDENTIFIER.match(src, self.pos)
                if match is None:
                    self.pos += 1
                    self.last = "punct"
                    continue
                word = match.group()
                if word == "import" and self.last != "dot":
                    self._import(match.end())
                    continue
                self.pos = match.end()
                if self.last != "dot" and word in _REGEX_AFTER_KEYWORDS:
                    self.last, self.last_word = "keyword", word
                else:
                    self.last = "value"
        self.out.append(src[self.copied :])
        return "".join(self.out)

    # -- errors ---------------------------------------------------------------------------------

    def _line(self, pos: int | None = None) -> int:
        end = self.pos if pos is None else pos
        text = self.src[:end]
        return text.count("\n") + text.count("\r") - text.count("\r\n") + text.count("\u2028") + 1

    def _reject(self, name: str, reason: str, pos: int | None = None) -> SourceRejected:
        return SourceRejected(name=name, reason=reason, line=self._line(pos))

    # -- skipping -------------------------------------------------------------------------------

    def _skip_line_comment(self) -> None:
        src = self.src
        end = self.pos
        while end < len(src) and src[end] not in _LINE_BREAKS:
            end += 1
        self.pos = end

    def _skip_block_comment(self) -> None:
        end = self.src.find("*/", self.pos + 2)
        if end < 0:
            raise self._reject("compile", "unterminated comment")
        self.pos = end + 2

    def _skip_string(self, quote: str) -> None:
        src = self.src
        i = self.pos + 1
        while i < len(src):
            ch = src[i]
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                self.pos = i + 1
                return
            if ch in "\n\r":
                break
            i += 1
        raise self._reject("compile", "unterminated string literal")

    def _skip_template(self) -> None:
        """Skip template text up to its closing backtick or the start of a ``${`` substitution."""
        src = self.src
        i = self.pos
        while i < len(src):
            ch = src[i]
            if ch == "\\":
                i += 2
                continue
            if ch == "`":
                self.pos = i + 1
                self.last = "value"
                return
            if ch == "$" and src.startswith("${", i):
                self.braces.append("${")
                self.pos = i + 2
                self.last = "punct"
                return
            i += 1
        raise self._reject("compile", "unterminated template literal")

    def _close_brace(self) -> None:
        if not self.braces:
            # The body is wrapped in a function; an extra brace would close it early.
            raise self._reject("compile", "unexpected '}'")
        self.pos += 1
        if self.braces.pop() == "${":
            self._skip_template()
        else:
            # Usually the end of a block, after which a slash starts a regular expression.
            self.last = "punct"

    def _slash_starts_regex(self) -> bool:
        if self.last == "value" or self.last == "dot":
            return False
        return self.last != "keyword" or self.last_word in _REGEX_AFTER_KEYWORDS

    def _skip_regex(self) -> bool:
        """Skip a regular expression literal; False when the slash cannot start one after all."""
        src = self.src
        i = self.pos + 1
        in_class = False
        while i < len(src):
            ch = src[i]
            if ch in _LINE_BREAKS:
                return False
            if ch == "\\":
                i += 2
                continue
            if ch == "[":
                in_class = True
            elif ch == "]":
                in_class = False
            elif ch == "/" and not in_class:
                flags = _IDENTIFIER.match(src, i + 1)
                self.pos = flags.end() if flags else i + 1
                return True
            i += 1
        return False

    # -- imports --------------------------------------------------------------------------------

    def _next_significant(self, pos: int) -> int:
        """Index of the next character that is not whitespace or a comment."""
        src = self.src
        while pos < len(src):
            space = _SPACE.match(src, pos)
            if space:
                pos = space.end()
            elif src.startswith("//", pos):
                while pos < len(src) and src[pos] not in _LINE_BREAKS:
                    pos += 1
            elif src.startswith("/*", pos):
                end = src.find("*/", pos + 2)
                pos = len(src) if end < 0 else end + 2
            else:
                break
        return pos

    def _import(self, after_keyword: int) -> None:
        start = self.pos
        next_pos = self._next_significant(after_keyword)
        following = self.src[next_pos : next_pos + 1]
        if following == ":":
            # An object key named ``import``; nothing to do with modules.
            self.pos = after_keyword
            self.last = "value"
            return
        if following == "(":
            raise self._reject(
                "import",
                "dynamic import() is not supported; use import x from 'logger' or require('logger')",
                start,
            )
        if following == ".":
            raise self._reject("compile", "import.meta is not available in scripts", start)
        if self.braces or self.parens:
            raise self._reject("compile", "import declarations may only appear at the top level", start)
        match = _IMPORT_DECLARATION.match(self.src, after_keyword)
        if match is None:
            raise self._reject(
                "compile",
                "unsupported import declaration; use import x from 'module' or import {a, b} from 'module'",
                start,
            )
        module = match.group("sq") if match.group("sq") is not None else match.group("dq")
        if module not in BUILTIN_MODULES:
            raise self._reject(
                "import",
                f"module {module!r} is not available; the built-in modules are " + ", ".join(BUILTIN_MODULES),
                start,
            )
        statement = self.src[start : match.end()]
        self.out.append(self.src[self.copied : start])
        self.out.append(_rewrite(match, module))
        # Keep every line of the script on the line it was written on.
        self.out.append("".join(ch for ch in statement if ch in "\n\u2028\u2029" or ch == "\r"))
        self.copied = self.pos = match.end()
        self.last = "punct"


def _rewrite(match: re.Match[str], module: str) -> str:
    load = f'{IMPORT_FUNCTION}("{module}")'
    if match.group("clause") is None:
        return f"{load};"
    bindings: list[str] = []
    if match.group("default"):
        bindings.append(match.group("default"))
    namespace = match.group("ns") or match.group("ns2")
    if namespace:
        bindings.append(namespace)
    named = match.group("named") or match.group("named2")
    if named:
        items = [
            f"{item.group(1)}: {item.group(2)}" if item.group(2) else item.group(1)
            for item in _NAMED_ITEM.finditer(named[1:-1])
        ]
        bindings.append("{" + ", ".join(items) + "}")
    return "const " + ", ".join(f"{binding} = {load}" for binding in bindings) + ";"
