"""Deflate pieces made apart (the shards of a sharded export), joined into one zip entry:
``deflate.end_segment`` ends a piece, ``ZipEntryWriter.append_deflated`` copies it in, and the
entry reads back whole with its CRC-32, sizes and SHA-256 right, ZIP64 included."""

from __future__ import annotations

import hashlib
import zipfile
import zlib
from pathlib import Path

import pytest

from opencortex.exports import archive
from opencortex.exports.archive import ZipStreamWriter
from opencortex.exports.deflate import compressor_factory, end_segment, inflate, isal_available

from .test_archive import AppendOnlySink, content, unzip_test

BACKENDS = ["zlib", "isal"] if isal_available() else ["zlib"]


def piece(data: bytes, backend: str = "zlib", level: int = 1, *, final: bool = False) -> bytes:
    """``data`` deflated by a fresh compressor, ended as a shard ends its piece (or finished)."""
    _, new = compressor_factory(level, backend)
    compressor = new()
    body = b"".join(compressor.compress(data[at:at + 5000]) for at in range(0, len(data), 5000))
    return body + (compressor.flush() if final else end_segment(compressor))


def chunked(data: bytes, size: int = 3000) -> list[bytes]:
    return [data[at:at + size] for at in range(0, len(data), size)]


def write_joined(tmp_path: Path, parts: list[tuple[str, bytes]], **options: object) -> tuple[Path, archive.EntryInfo]:
    """One entry made of ``("own", data)`` written by the entry and ``(backend, data)`` pieces
    deflated apart; another entry after it, so the directory must find both."""
    sink = AppendOnlySink()
    writer = ZipStreamWriter(sink, **options)  # type: ignore[arg-type]
    entry = writer.open_entry("export.ndjson")
    for kind, data in parts:
        if kind == "own":
            entry.write(data)
        else:
            entry.append_deflated(iter(chunked(piece(data, kind))), size=len(data), crc=zlib.crc32(data))
    info = entry.close()
    writer.write_entry("manifest.json", [b"{}"])
    writer.close()
    path = tmp_path / "joined.zip"
    path.write_bytes(sink.value())
    return path, info


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("options", [{}, {"force_zip64": True}, {"level": 6, "backend": "zlib"}])
def test_pieces_between_own_writes_read_back_as_one_entry(tmp_path: Path, backend: str,
                                                          options: dict[str, object]) -> None:
    parts = [("own", b"[\n"), (backend, content(40_000, 3)), ("own", b",\n"), (backend, content(25_000, 5)),
             ("own", b",\n"), (backend, b""), (backend, content(10, 7)), ("own", b"\n]")]
    whole = b"".join(data for _, data in parts)
    path, info = write_joined(tmp_path, parts, **options)
    assert (info.size, info.crc32, info.sha256) == (len(whole), zlib.crc32(whole), hashlib.sha256(whole).hexdigest())
    with zipfile.ZipFile(path) as read:
        assert read.testzip() is None
        assert read.read("export.ndjson") == whole
        stored = read.getinfo("export.ndjson")
        assert (stored.CRC, stored.compress_size) == (zlib.crc32(whole), info.compressed_size)
    unzip_test(path)


def test_an_entry_of_pieces_only(tmp_path: Path) -> None:
    data = [content(5000, seed) for seed in range(1, 5)]
    path, info = write_joined(tmp_path, [("zlib", chunk) for chunk in data])
    with zipfile.ZipFile(path) as read:
        assert read.read("export.ndjson") == b"".join(data)
    assert info.crc32 == zlib.crc32(b"".join(data))


def test_pieces_that_pass_the_zip64_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The code path of a 4 GiB entry of pieces, with the limit lowered instead of writing 4 GiB.
    monkeypatch.setattr(archive, "_ZIP64_LIMIT", 1000)
    parts = [("zlib", content(30_000, 2)), ("own", b"\n"), ("zlib", content(30_000, 9))]
    path, info = write_joined(tmp_path, parts)
    whole = b"".join(data for _, data in parts)
    assert info.size == len(whole) > 1000
    with zipfile.ZipFile(path) as read:
        assert read.testzip() is None
        assert read.read("export.ndjson") == whole
        assert read.read("manifest.json") == b"{}"  # found through a ZIP64 offset
    unzip_test(path)


def test_a_piece_that_is_not_what_it_claims_is_refused() -> None:
    data = content(4000)
    entry = ZipStreamWriter(AppendOnlySink()).open_entry("a.json")
    with pytest.raises(ValueError, match="not the 3999 bytes"):
        entry.append_deflated([piece(data)], size=len(data) - 1, crc=zlib.crc32(data))
    entry = ZipStreamWriter(AppendOnlySink()).open_entry("b.json")
    with pytest.raises(ValueError, match="CRC-32"):
        entry.append_deflated([piece(data)], size=len(data), crc=zlib.crc32(data) ^ 1)


def test_a_piece_with_a_final_block_or_cut_short_is_refused() -> None:
    data = content(4000)
    entry = ZipStreamWriter(AppendOnlySink()).open_entry("a.json")
    with pytest.raises(ValueError, match="ends the stream"):
        entry.append_deflated([piece(data, final=True)], size=len(data), crc=zlib.crc32(data))
    with pytest.raises(ValueError, match="cut short"):
        list(inflate([piece(data, final=True)[:-7]], final=True))
    entry = ZipStreamWriter(AppendOnlySink()).open_entry("b.json")
    with pytest.raises(ValueError, match="holds"):  # a piece cut short holds less than it claims
        entry.append_deflated([piece(data)[:-7]], size=len(data), crc=zlib.crc32(data))
    with pytest.raises(ValueError, match="after its final block"):
        list(inflate([piece(data, final=True) + b"\x00"], final=True))


def test_a_stored_entry_takes_no_pieces() -> None:
    entry = ZipStreamWriter(AppendOnlySink()).open_entry("photo.jpg", compress=False)
    with pytest.raises(ValueError, match="stored"):
        entry.append_deflated([piece(b"x")], size=1, crc=zlib.crc32(b"x"))


def test_inflate_holds_little_at_a_time_whatever_the_ratio() -> None:
    zeros = bytes(50 * 1024 * 1024)  # deflates about a thousand times
    pieces = list(inflate([piece(zeros)]))
    assert sum(map(len, pieces)) == len(zeros) and max(map(len, pieces)) <= 256 * 1024
