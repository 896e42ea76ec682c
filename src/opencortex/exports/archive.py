"""A streaming zip writer: entries go straight to any ``write(bytes)`` sink, never seeking back.

Every entry's local header says "sizes follow in a data descriptor" (flag bit 3), so nothing has to
be known before its bytes are written: CRC-32, SHA-256 and both sizes are computed on the fly and
written after the data, then again in the central directory at the end. At most one output
buffer (``buffer_size``) and the compressor's window are held, whatever the entry sizes.

ZIP64 is used where the classic fields overflow (an entry or offset at 4 GiB, 65535 entries):
- an entry whose size is *known* to come near 4 GiB (``size_hint``) gets a ZIP64 local header and
  an 8-byte data descriptor, as the specification asks;
- an entry of unknown size that turns out that large gets an 8-byte descriptor and ZIP64 fields
  in the central directory (what Java's and Go's writers do); readers that use the central
  directory, which is every common unzip tool, read it;
- the ZIP64 end records are written when the entry count, the directory size or its offset
  overflow. ``force_zip64`` applies all of this to every entry, which is how it is tested.

Stored entries (``compress=False``, for images and zips) also use a data descriptor. Readers that
go by the central directory (Python's zipfile, Info-ZIP, 7-Zip, Windows, macOS) read them; a
reader that only walks local headers, like Java's ``ZipInputStream``, cannot find their end.

Deflate comes from ``deflate.py``: ISA-L level 1 by default (see there and ``docs/exports.md``).

A deflated entry can also take pieces deflated elsewhere (``ZipEntryWriter.append_deflated``: the
shards of a sharded export, each deflated in its own process): they are copied as they are, their
CRC-32s combined into the entry's (``crc_combine``), and inflated only to hash them, since the
manifest lists the SHA-256 of the uncompressed entry.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from opencortex.clock import utcnow
from opencortex.exports.crc_combine import crc32_combine
from opencortex.exports.deflate import DEFAULT_LEVEL, Compressor, compressor_factory, crc32, end_segment, inflate

_ZIP64_LIMIT = 0xFFFFFFFF  # a size or offset at or above this needs ZIP64 fields
_COUNT_LIMIT = 0xFFFF
_SENTINEL = 0xFFFFFFFF  # "look in the ZIP64 field": kept apart from the limit, which tests lower
_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")
_END64 = struct.Struct("<IQHHIIQQQQ")
_LOCATOR = struct.Struct("<IIQI")
_FLAG_DESCRIPTOR = 0x0008
_FLAG_UTF8 = 0x0800
_STORED, _DEFLATED = 0, 8
_UNIX = 3 << 8  # "version made by" high byte: external attributes are Unix modes
_FILE_MODE = 0o100644 << 16  # a regular file, rw-r--r--
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Sink(Protocol):
    def write(self, data: bytes, /) -> object: ...


@dataclass(frozen=True)
class EntryInfo:
    name: str
    size: int
    """Uncompressed bytes."""
    compressed_size: int
    crc32: int
    sha256: str
    """Hex SHA-256 of the uncompressed content (what the manifest lists)."""


@dataclass
class _Record:
    name: bytes
    flags: int
    method: int
    offset: int
    zip64_local: bool
    crc32: int = 0
    size: int = 0
    compressed_size: int = 0


def validate_entry_name(name: str) -> str:
    """A relative, '/'-separated name: no absolute path or drive, no '..' or '.', no backslash,
    no control character (NUL included), no empty segment. Returns ``name``."""
    problem = None
    if not isinstance(name, str) or not name:
        problem = "is empty"
    elif "\\" in name:
        problem = "contains a backslash"
    elif _CONTROL.search(name):
        problem = "contains a control character"
    elif name.startswith("/") or _DRIVE.match(name):
        problem = "is absolute"
    elif any(part in ("", ".", "..") for part in name.split("/")):
        problem = "has an empty, '.' or '..' segment"
    elif len(name.encode("utf-8")) > 0xFFFF:
        problem = "is longer than 65535 bytes"
    if problem:
        raise ValueError(f"zip entry name {name!r} {problem}")
    return name


def _dos_stamp(moment: datetime) -> tuple[int, int]:
    if moment.year < 1980:  # the earliest DOS date
        return 0, (1 << 5) | 1
    year = min(moment.year, 2107)
    time = (moment.hour << 11) | (moment.minute << 5) | (moment.second // 2)
    return time, ((year - 1980) << 9) | (moment.month << 5) | moment.day


class ZipEntryWriter:
    """One entry being written; obtained from ``ZipStreamWriter.open_entry``."""

    def __init__(self, archive: ZipStreamWriter, record: _Record, compressor: Compressor | None) -> None:
        self.name = record.name.decode("utf-8")
        self._archive = archive
        self._record = record
        self._compressor = compressor
        self._sha256 = hashlib.sha256()
        self._crc = 0
        self._size = 0
        self._compressed = 0
        self._closed = False

    def write(self, data: bytes) -> None:
        if self._closed:
            raise ValueError(f"zip entry {self.name!r} is closed")
        if not data:
            return
        self._size += len(data)
        self._crc = crc32(data, self._crc)
        self._sha256.update(data)
        if self._compressor is not None:
            data = self._compressor.compress(data)
            if not data:
                return
        self._compressed += len(data)
        self._archive._emit(data)

    def append_deflated(self, chunks: Iterable[bytes], *, size: int, crc: int) -> None:
        """Append a raw deflate piece made elsewhere, whose content is ``size`` bytes with CRC-32
        ``crc``: deflated by a fresh compressor and ended with ``deflate.end_segment`` (on a byte
        boundary, no final block). Its bytes go into the entry as they are; they are inflated on
        the way to hash them (SHA-256) and to check ``size`` and ``crc``, so a piece that is not
        what it claims raises ``ValueError`` instead of making an entry that fails to unzip."""
        if self._closed:
            raise ValueError(f"zip entry {self.name!r} is closed")
        compressor = self._compressor
        if compressor is None:
            raise ValueError(f"zip entry {self.name!r} is stored: it cannot take deflated pieces")
        # What this entry compressed itself ends on a byte boundary; after the piece a fresh
        # compressor starts, whose window cannot refer back into bytes it did not write.
        self._emit_compressed(end_segment(compressor))
        self._compressor = self._archive._new_compressor()
        piece_size = 0
        piece_crc = 0
        sha256 = self._sha256

        def copied() -> Iterator[bytes]:
            for chunk in chunks:
                self._emit_compressed(chunk)
                yield chunk

        for plain in inflate(copied()):
            piece_size += len(plain)
            piece_crc = crc32(plain, piece_crc)
            sha256.update(plain)
        if piece_size != size or piece_crc != crc & 0xFFFFFFFF:
            raise ValueError(f"a deflated piece of zip entry {self.name!r} holds {piece_size} bytes with "
                             f"CRC-32 {piece_crc:08x}, not the {size} bytes with CRC-32 {crc:08x} it claims")
        self._crc = crc32_combine(self._crc, crc, size)
        self._size += size

    def _emit_compressed(self, data: bytes) -> None:
        if data:
            self._compressed += len(data)
            self._archive._emit(data)

    def close(self) -> EntryInfo:
        if self._closed:
            raise ValueError(f"zip entry {self.name!r} is already closed")
        if self._compressor is not None:
            tail = self._compressor.flush()
            self._compressed += len(tail)
            self._archive._emit(tail)
        self._closed = True
        record = self._record
        record.crc32, record.size, record.compressed_size = self._crc, self._size, self._compressed
        wide = record.zip64_local or self._size >= _ZIP64_LIMIT or self._compressed >= _ZIP64_LIMIT
        # A data descriptor's signature is optional in the specification but expected by readers.
        layout = "<IIQQ" if wide else "<IIII"
        self._archive._emit(struct.pack(layout, 0x08074B50, self._crc, self._compressed, self._size))
        info = EntryInfo(self.name, self._size, self._compressed, self._crc, self._sha256.hexdigest())
        self._archive._entry_closed(record, info)
        return info

    def __enter__(self) -> ZipEntryWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        # After an exception the archive is abandoned anyway; closing would only hide the error.
        if kind is None and not self._closed:
            self.close()


class ZipStreamWriter:
    """Writes a zip archive to ``sink`` as a stream; ``close()`` writes the central directory.

    ``level`` is the deflate level; ``backend`` is ``"auto"`` (ISA-L when importable and the level
    is 0-3, else zlib), ``"isal"`` or ``"zlib"``. ``modified`` is the time stamped on every entry
    (default: now, UTC). ``progress`` is called with ``bytes_written`` after each write to the sink.
    """

    def __init__(
        self,
        sink: Sink,
        *,
        level: int = DEFAULT_LEVEL,
        backend: str = "auto",
        force_zip64: bool = False,
        modified: datetime | None = None,
        progress: Callable[[int], None] | None = None,
        buffer_size: int = 256 * 1024,
    ) -> None:
        self.backend, self._new_compressor = compressor_factory(level, backend)
        self.level = level
        self.entries: list[EntryInfo] = []
        self.bytes_written = 0
        self._sink = sink
        self._force_zip64 = force_zip64
        self._stamp = _dos_stamp(modified or utcnow())
        self._progress = progress
        self._buffer = bytearray()
        self._buffer_size = buffer_size
        self._offset = 0
        self._records: list[_Record] = []
        self._names: set[str] = set()
        self._current: ZipEntryWriter | None = None
        self._closed = False

    def open_entry(self, name: str, *, compress: bool = True, size_hint: int | None = None) -> ZipEntryWriter:
        """Start the next entry. ``compress=False`` stores it (for images, zips...); ``size_hint``,
        when the size is known, lets an entry near 4 GiB get a ZIP64 local header."""
        if self._closed:
            raise ValueError("the zip archive is closed")
        if self._current is not None:
            raise ValueError(f"zip entry {self._current.name!r} is still open")
        if validate_entry_name(name) in self._names:
            raise ValueError(f"zip entry name {name!r} is already in the archive")
        encoded = name.encode("utf-8")
        flags = _FLAG_DESCRIPTOR | (0 if encoded.isascii() else _FLAG_UTF8)
        zip64 = self._force_zip64 or (size_hint is not None and _may_reach_limit(size_hint))
        record = _Record(encoded, flags, _DEFLATED if compress else _STORED, self._offset, zip64)
        extra = struct.pack("<HHQQ", 1, 16, 0, 0) if zip64 else b""
        unknown = _SENTINEL if zip64 else 0
        header = _LOCAL.pack(
            0x04034B50, 45 if zip64 else 20, flags, record.method, *self._stamp,
            0, unknown, unknown, len(encoded), len(extra),
        )  # fmt: skip
        self._emit(header + encoded + extra)
        self._names.add(name)
        self._current = ZipEntryWriter(self, record, self._new_compressor() if compress else None)
        return self._current

    def write_entry(self, name: str, chunks: Iterable[bytes], *, compress: bool = True) -> EntryInfo:
        entry = self.open_entry(name, compress=compress)
        for chunk in chunks:
            entry.write(chunk)
        return entry.close()

    def close(self) -> int:
        """Write the central directory and end records; returns the archive's size in bytes.
        The sink itself is left open (the caller commits or aborts it)."""
        if self._current is not None:
            raise ValueError(f"zip entry {self._current.name!r} is still open")
        if self._closed:
            return self.bytes_written
        directory_offset = self._offset
        for record in self._records:
            self._emit(self._central_header(record))
        directory_size = self._offset - directory_offset
        count = len(self._records)
        force = self._force_zip64
        if force or count >= _COUNT_LIMIT or max(directory_offset, directory_size) >= _ZIP64_LIMIT:
            end64_offset = self._offset
            self._emit(
                _END64.pack(
                    0x06064B50, 44, _UNIX | 45, 45, 0, 0, count, count, directory_size, directory_offset
                )
            )
            self._emit(_LOCATOR.pack(0x07064B50, 0, end64_offset, 1))
        short_count = _COUNT_LIMIT if force or count >= _COUNT_LIMIT else count
        self._emit(
            _END.pack(
                0x06054B50, 0, 0, short_count, short_count,
                _clip(directory_size, force), _clip(directory_offset, force), 0,
            )
        )  # fmt: skip
        self._flush()
        self._closed = True
        return self.bytes_written

    def _central_header(self, record: _Record) -> bytes:
        values: list[int] = []
        fields = []
        for value in (record.size, record.compressed_size, record.offset):
            if self._force_zip64 or value >= _ZIP64_LIMIT:
                values.append(value)  # the order (size, compressed, offset) is fixed by the spec
                fields.append(_SENTINEL)
            else:
                fields.append(value)
        extra = struct.pack(f"<HH{len(values)}Q", 1, 8 * len(values), *values) if values else b""
        version = 45 if values or record.zip64_local else 20
        size, compressed, offset = fields
        header = _CENTRAL.pack(
            0x02014B50, _UNIX | version, version, record.flags, record.method, *self._stamp,
            record.crc32, compressed, size, len(record.name), len(extra), 0, 0, 0, _FILE_MODE, offset,
        )  # fmt: skip
        return header + record.name + extra

    def _entry_closed(self, record: _Record, info: EntryInfo) -> None:
        self._records.append(record)
        self.entries.append(info)
        self._current = None

    def _emit(self, data: bytes) -> None:
        self._offset += len(data)
        if len(data) >= self._buffer_size:
            self._flush()
            self._write(data if isinstance(data, bytes) else bytes(data))
        else:
            self._buffer += data
            if len(self._buffer) >= self._buffer_size:
                self._flush()

    def _flush(self) -> None:
        if self._buffer:
            chunk = bytes(self._buffer)
            self._buffer.clear()
            self._write(chunk)

    def _write(self, chunk: bytes) -> None:
        self._sink.write(chunk)
        self.bytes_written += len(chunk)
        if self._progress is not None:
            self._progress(self.bytes_written)


def _clip(value: int, force: bool) -> int:
    return _SENTINEL if force or value >= _ZIP64_LIMIT else value


def _may_reach_limit(size: int) -> bool:
    # Deflate can expand incompressible data slightly; leave generous room for that.
    return size + size // 64 + 65536 >= _ZIP64_LIMIT
