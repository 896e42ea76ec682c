"""The data entry of an archive, whole or (``maxEntryBytes``) cut into numbered parts.

``WholeEntry`` writes the format writer's output into one entry, as every export did before parts
existed: the fast path is untouched. ``PartedEntries`` asks the writer for its records one by
one and cuts them into parts (``export-<created>.part-0001.<ext>``, ...), each a valid file of
the format on its own (``FormatWriter.head``/``separator``/``tail``), and each at most
``max_bytes`` long unless a single record is longer than that (it then has a part of its own).
A part is only opened once a record for it is known (CSV's header only exists at the end), so no
part is ever empty, except the only part of an export without records.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Protocol

from opencortex.exports.archive import ZipEntryWriter, ZipStreamWriter
from opencortex.exports.formats import FormatWriter
from opencortex.exports.manifest import ManifestEntry
from opencortex.exports.naming import data_entry_name, data_part_name

MIN_ENTRY_BYTES = 1024 * 1024
MAX_ENTRY_BYTES = 4 * 1024**3
_FLUSH = 256 * 1024  # bytes of a part gathered before they are handed to the zip entry


class DataEntries(Protocol):
    @property
    def records(self) -> int:
        """Records written so far."""
        ...

    def begin(self) -> None: ...

    def write_documents(self, documents: Iterable[Mapping[str, Any]]) -> None: ...

    def write_encoded(self, documents: list[bytes]) -> None: ...

    def finish(self) -> Iterator[None]:
        """Writes what the format keeps for the end, yielding now and then (for heartbeats)."""
        ...

    def close(self) -> list[ManifestEntry]:
        """Closes the last entry; the manifest's entries for the data, in archive order."""
        ...


def open_data_entries(zip_writer: ZipStreamWriter, writer: FormatWriter, created: datetime, media_type: str,
                      max_bytes: int | None) -> DataEntries:
    if max_bytes is None:
        return WholeEntry(zip_writer, writer, data_entry_name(created, media_type), media_type)
    return PartedEntries(zip_writer, writer, created, media_type, max_bytes)


class WholeEntry:
    """The data in one entry (``export-<created>.<ext>``)."""

    def __init__(self, zip_writer: ZipStreamWriter, writer: FormatWriter, name: str, media_type: str) -> None:
        self.writer = writer
        self.media_type = media_type
        self.entry = zip_writer.open_entry(name)

    @property
    def records(self) -> int:
        return self.writer.records

    def begin(self) -> None:
        self.entry.write(self.writer.begin())

    def write_documents(self, documents: Iterable[Mapping[str, Any]]) -> None:
        self.entry.write(self.writer.write_documents(documents))

    def write_encoded(self, documents: list[bytes]) -> None:
        self.entry.write(self.writer.write_encoded(documents, single_line=True))

    def finish(self) -> Iterator[None]:
        for chunk in self.writer.finish():
            self.entry.write(chunk)
            yield

    def close(self) -> list[ManifestEntry]:
        info = self.entry.close()
        return [ManifestEntry.from_info(info, "data", records=self.writer.records, format=self.media_type)]


class PartedEntries:
    """The data in numbered parts of at most ``max_bytes`` each."""

    def __init__(self, zip_writer: ZipStreamWriter, writer: FormatWriter, created: datetime, media_type: str,
                 max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError("a part holds at least one byte")
        self.zip_writer = zip_writer
        self.writer = writer
        self.created = created
        self.media_type = media_type
        self.max_bytes = max_bytes
        self.entries: list[ManifestEntry] = []
        self._entry: ZipEntryWriter | None = None
        self._part = 0
        self._size = 0  # bytes of the open part so far, its tail not included
        self._records = 0  # records of the open part
        self._tail = b""
        self._buffer: list[bytes] = []
        self._buffered = 0

    @property
    def records(self) -> int:
        return self.writer.records

    def begin(self) -> None:
        pass  # a part starts with its first record

    def write_documents(self, documents: Iterable[Mapping[str, Any]]) -> None:
        self._add(self.writer.encode_documents(documents))

    def write_encoded(self, documents: list[bytes]) -> None:
        self._add(self.writer.encode_encoded(documents, single_line=True))

    def finish(self) -> Iterator[None]:
        for records in self.writer.finish_records():
            self._add(records)
            yield

    def close(self) -> list[ManifestEntry]:
        if self._entry is None:  # no record at all: one part, as an export without documents is
            self._open()
            self._write(self.writer.empty())
        else:
            self._write(self._tail)
        self._close()
        return self.entries

    def _add(self, records: list[bytes]) -> None:
        if not records:
            return
        separator = self.writer.separator
        gap = len(separator)
        if self._entry is not None:
            # The whole run fits the open part: one write, as the whole entry would do it.
            size = sum(map(len, records)) + gap * len(records)
            if self._size + size + len(self._tail) <= self.max_bytes:
                self._write(separator + separator.join(records))
                self._size += size
                self._records += len(records)
                return
        for record in records:
            if self._entry is not None and self._size + gap + len(record) + len(self._tail) > self.max_bytes:
                self._write(self._tail)
                self._close()
            if self._entry is None:
                self._open()
                head = self.writer.head(self._part)
                self._tail = self.writer.tail()
                self._write(head + record)
                self._size = len(head) + len(record)
            else:
                self._write(separator + record)
                self._size += gap + len(record)
            self._records += 1

    def _open(self) -> None:
        self._part += 1
        self._entry = self.zip_writer.open_entry(data_part_name(self.created, self.media_type, self._part))
        self._records = 0
        self._size = 0

    def _write(self, data: bytes) -> None:
        self._buffer.append(data)
        self._buffered += len(data)
        if self._buffered >= _FLUSH:
            self._flush()

    def _flush(self) -> None:
        if self._buffer and self._entry is not None:
            self._entry.write(b"".join(self._buffer))
        self._buffer.clear()
        self._buffered = 0

    def _close(self) -> None:
        self._flush()
        assert self._entry is not None
        info = self._entry.close()
        self._entry = None
        self.entries.append(ManifestEntry.from_info(info, "data", records=self._records, format=self.media_type,
                                                    details={"part": self._part}))
