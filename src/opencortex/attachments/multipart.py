"""Streaming ``multipart/form-data``: the one file part goes straight to a sink, never into memory.

``MultipartFileReader`` is fed the request body in chunks (``feed``), and hands the bytes of the
file part to the sink that ``open_sink(filename, content_type)`` returns when that part's headers
are complete. The file part is the one named ``file``, or else the first part with a filename.
Other parts are small form fields (the ``fields[]`` of an upload target); they are kept, up to
``MAX_FIELD_BYTES`` in all, and otherwise ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from opencortex import faults

FILE_FIELD = "file"
MAX_FIELD_BYTES = 64 * 1024
MAX_BOUNDARY_LENGTH = 200


class FileSink(Protocol):
    def write(self, chunk: bytes) -> None: ...


OpenSink = Callable[[str | None, str | None], FileSink]


def multipart_boundary(content_type: str) -> bytes | None:
    """The boundary of a ``multipart/form-data`` content type; None for any other type."""
    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data":
        return None
    boundary = options.get(b"boundary", b"")
    if not boundary or len(boundary) > MAX_BOUNDARY_LENGTH:
        raise faults.upload_invalid("A multipart/form-data body needs a boundary of 1 to 200 characters.")
    return boundary


class MultipartFileReader:
    def __init__(self, boundary: bytes, open_sink: OpenSink) -> None:
        self._open_sink = open_sink
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
                "on_end": self._end,
            },
            max_header_count=16,
        )
        self.sink: FileSink | None = None
        self.fields: dict[str, str] = {}
        self._field_bytes = 0
        self._ended = False
        self._reset_part()

    def feed(self, chunk: bytes) -> None:
        try:
            self._parser.write(chunk)
        except MultipartParseError as error:
            raise faults.upload_invalid(f"The multipart body is malformed: {error}") from None

    def finish(self) -> None:
        """The body has ended: it must have been a complete multipart body with a file part."""
        if not self._ended:
            raise faults.upload_invalid("The multipart body ended early (no closing boundary).")
        if self.sink is None:
            raise faults.upload_invalid(f"The multipart body has no file part (name it {FILE_FIELD!r}).")

    # Parser callbacks

    def _reset_part(self) -> None:
        self._headers: dict[str, str] = {}
        self._name_buffer = bytearray()
        self._value_buffer = bytearray()
        self._part_name: str | None = None
        self._is_file = False
        self._field_value = bytearray()

    def _part_begin(self) -> None:
        self._reset_part()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._name_buffer += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value_buffer += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._name_buffer.decode("latin-1").lower()] = self._value_buffer.decode("latin-1")
        self._name_buffer.clear()
        self._value_buffer.clear()

    def _headers_finished(self) -> None:
        _disposition, options = parse_options_header(self._headers.get("content-disposition", ""))
        name = _text(options.get(b"name"))
        filename = _text(options.get(b"filename"))
        self._part_name = name
        wants_file = name == FILE_FIELD or (filename is not None and self.sink is None)
        if not wants_file:
            return
        if self.sink is not None:
            raise faults.upload_invalid("A multipart upload carries one file part.")
        self._is_file = True
        content_type = self._headers.get("content-type")
        self.sink = self._open_sink(filename, content_type.strip() if content_type else None)

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._is_file:
            assert self.sink is not None
            self.sink.write(data[start:end])
            return
        self._field_bytes += end - start
        if self._field_bytes > MAX_FIELD_BYTES:
            raise faults.upload_invalid(f"The form fields besides the file exceed {MAX_FIELD_BYTES} bytes.")
        self._field_value += data[start:end]

    def _part_end(self) -> None:
        if not self._is_file and self._part_name is not None:
            self.fields[self._part_name] = self._field_value.decode("utf-8", "replace")

    def _end(self) -> None:
        self._ended = True


def _text(raw: bytes | None) -> str | None:
    """Header parameters arrive as latin-1; browsers send UTF-8 filenames in them."""
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")
