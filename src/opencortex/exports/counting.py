"""Count the records of a data entry as its bytes stream past, without holding the entry.

Each counter is fed chunks in order (``feed``) and then asked for the ``result()``, which raises
``RecordCountError`` when the bytes are not the format they claim to be. Each format's entry
names its counter (``formats.registry.counter_for``).
"""

from __future__ import annotations

import codecs
import re
from xml.parsers import expat

_NON_BLANK = re.compile(rb"\S")
# JSON structure for the record counter. The scanner: inside a string only a quote or a backslash
# matters; outside, a structural character or a run of literal characters is one token.
_IN_STRING = re.compile(rb'["\\]')
_ANY_TOKEN = re.compile(rb'["\[\]{},]|[^"\[\]{},\s]+')
# The line reducer: an array or document holding no other one, and the byte map to "v".
_FLAT_GROUP = re.compile(rb"\[[v,]*\]|\{[v,]*\}")
_STRUCTURE = b'[]{},"'
_SHAPE = bytes.maketrans(bytes(range(256)), bytes(b if b in _STRUCTURE else ord("v") for b in range(256)))
_OPEN_ARRAY, _CLOSE_ARRAY, _QUOTE, _COMMA = b'[]",'
_OPENERS, _CLOSERS = frozenset(b"[{"), frozenset(b"]}")


class RecordCountError(ValueError):
    pass


class NdjsonCounter:
    """Lines that hold anything but whitespace (Cortex writes no trailing newline, but a file
    with one, or with blank lines, still has as many records as documents)."""

    def __init__(self) -> None:
        self.records = 0
        self._line_has_content = False

    def feed(self, chunk: bytes) -> None:
        lines = chunk.split(b"\n")
        for line in lines[:-1]:
            if self._line_has_content or _NON_BLANK.search(line):
                self.records += 1
            self._line_has_content = False
        if _NON_BLANK.search(lines[-1]):
            self._line_has_content = True

    def result(self) -> int:
        return self.records + (1 if self._line_has_content else 0)


class JsonArrayCounter:
    """Elements of a top-level JSON array, with a small state machine over its structure.

    The fast path works line by line: JSON forbids raw line breaks inside strings, so every
    complete line can be reduced in C (regular expressions and ``bytes.translate``) to its bare
    structure: strings and literals become ``v``, whitespace goes, and nested arrays and
    documents collapse to ``v`` until only the top level's ``[``, commas and ``]`` are left for
    the state machine. A line longer than ``max_line`` (JSON without line breaks) switches to a
    byte scanner that tracks strings itself, so memory stays bounded either way.
    """

    def __init__(self, max_line: int = 8 * 1024 * 1024) -> None:
        self.records = 0
        self._depth = 0
        self._state = "start"  # start -> first (just after "[") -> inside -> done
        self._in_string = False
        self._escaped = False  # the scanner stopped right after a backslash inside a string
        self._carry = b""
        self._max_line = max_line
        self._scanning = False  # the fast path gave way to the scanner for the rest of the entry

    def feed(self, chunk: bytes) -> None:
        if self._scanning:
            self._scan(chunk)
            return
        data = self._carry + chunk
        cut = data.rfind(b"\n") + 1
        if cut:
            self._carry = data[cut:]
            self._reduce(data[:cut])
        elif len(data) > self._max_line:
            self._carry, self._scanning = b"", True
            self._scan(data)
        else:
            self._carry = data

    def result(self) -> int:
        if self._carry:
            self._reduce(self._carry)
            self._carry = b""
        if self._state != "done" or self._in_string:
            raise RecordCountError("the JSON array is truncated")
        return self.records

    def _reduce(self, lines: bytes) -> None:
        # Pair off backslashes left to right as JSON escapes do, so every quote left is a real
        # one; then each string is the text between two quotes (split and join run in C).
        plain = lines.replace(b"\\\\", b"vv").replace(b'\\"', b"vv")
        parts = plain.split(b'"')
        if len(parts) % 2 == 0:  # an odd number of quotes: a string that never closes
            self._in_string = True
        shape = b"v".join(parts[0::2]).translate(_SHAPE, b" \t\r\n:")
        if self._state == "start" and shape:
            self._token(shape[0])  # the top-level "[" must never collapse with its contents
            shape = shape[1:]
        while True:
            smaller = _FLAT_GROUP.sub(b"v", shape)
            if len(smaller) == len(shape):
                break
            shape = smaller
        for token in shape:
            self._token(token)

    def _scan(self, chunk: bytes) -> None:
        position, end = 0, len(chunk)
        if self._escaped and end:
            self._escaped, position = False, 1
        while position < end:
            if self._in_string:
                match = _IN_STRING.search(chunk, position)
                if match is None:
                    return
                if match.group() == b"\\":
                    if match.end() == end:
                        self._escaped = True
                        return
                    position = match.end() + 1  # skip the escaped character
                    continue
                self._in_string = False
                position = match.end()
                continue
            match = _ANY_TOKEN.search(chunk, position)
            if match is None:
                return
            position = match.end()
            self._token(chunk[match.start()])

    def _token(self, token: int) -> None:
        if self._state == "done":
            raise RecordCountError("data after the end of the JSON array")
        if self._state == "start":
            if token != _OPEN_ARRAY:
                raise RecordCountError("the JSON data entry is not an array")
            self._state, self._depth = "first", 1
            return
        if self._state == "first":
            self._state = "inside"
            if token == _CLOSE_ARRAY:
                self._state, self._depth = "done", 0
                return
            self.records = 1
        if token == _QUOTE:
            self._in_string = True  # only the scanner sees quotes; an unclosed one means truncation
        elif token in _OPENERS:
            self._depth += 1
        elif token in _CLOSERS:
            self._depth -= 1
            if self._depth == 0:
                self._state = "done"
        elif token == _COMMA and self._depth == 1:
            self.records += 1


class CsvCounter:
    """Rows after the header. A record ends at a line break outside quotes: RFC 4180 quoting
    doubles every quote inside a cell, so a line break is inside a cell exactly when an odd
    number of quotes precede it in the record. Only the current line is held between chunks."""

    def __init__(self) -> None:
        self.rows = 0
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self._open_quote = False  # the record so far has an odd number of quotes
        self._tail = ""

    def feed(self, chunk: bytes) -> None:
        try:
            text = self._tail + self._decoder.decode(chunk)
        except UnicodeDecodeError as error:
            raise RecordCountError(f"the CSV data entry is not UTF-8: {error}") from error
        lines = text.split("\n")
        self._tail = lines.pop()
        for line in lines:
            self._line(line)

    def _line(self, line: str) -> None:
        if line.count('"') % 2:
            self._open_quote = not self._open_quote
        if not self._open_quote:
            self.rows += 1

    def result(self) -> int:
        try:
            text = self._tail + self._decoder.decode(b"", final=True)
        except UnicodeDecodeError as error:
            raise RecordCountError(f"the CSV data entry is not UTF-8: {error}") from error
        if text:  # a last row without a line break
            self._line(text)
        if self._open_quote:
            raise RecordCountError("the CSV data entry ends inside a quoted cell")
        return max(self.rows - 1, 0)  # the first row is the header



class OdmCounter:
    """``SubjectData`` elements of a CDISC ODM document (one per exported instance), counted by a
    streaming XML parser (expat: no tree is built), which also proves the entry well-formed."""

    SUBJECT = "http://www.cdisc.org/ns/odm/v1.3 SubjectData"
    ROOT = "http://www.cdisc.org/ns/odm/v1.3 ODM"

    def __init__(self) -> None:
        self.records = 0
        self._root: str | None = None
        self._parser = expat.ParserCreate(namespace_separator=" ")
        self._parser.StartElementHandler = self._start

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        if self._root is None:
            self._root = name
        if name == self.SUBJECT:
            self.records += 1

    def feed(self, chunk: bytes) -> None:
        try:
            self._parser.Parse(chunk, False)
        except expat.ExpatError as error:
            raise RecordCountError(f"the ODM data entry is not well-formed XML: {error}") from error

    def result(self) -> int:
        try:
            self._parser.Parse(b"", True)
        except expat.ExpatError as error:
            raise RecordCountError(f"the ODM data entry is not well-formed XML: {error}") from error
        if self._root != self.ROOT:
            raise RecordCountError("the ODM data entry is not an ODM 1.3 document")
        return self.records
