"""The streaming zip writer: what it writes, every standard reader reads back."""

from __future__ import annotations

import hashlib
import io
import shutil
import struct
import subprocess
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from opencortex.exports import archive
from opencortex.exports.archive import ZipStreamWriter, validate_entry_name
from opencortex.exports.deflate import isal_available

UNZIP = shutil.which("unzip")


class AppendOnlySink:
    """Only ``write``: any attempt to seek or tell would fail the test."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def write(self, data: bytes) -> None:
        assert isinstance(data, bytes)
        self.chunks.append(data)

    def value(self) -> bytes:
        return b"".join(self.chunks)


def content(size: int, seed: int = 1) -> bytes:
    text = b"".join(b'{"n":%d,"w":"word%d"},' % (i, (i * seed) % 97) for i in range(size // 20 + 1))
    return text[:size]


def unzip_test(path: Path) -> None:
    if UNZIP is None:
        return
    result = subprocess.run([UNZIP, "-t", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def write_archive(
    entries: dict[str, bytes], tmp_path: Path, **options: object
) -> tuple[Path, ZipStreamWriter]:
    sink = AppendOnlySink()
    writer = ZipStreamWriter(sink, **options)  # type: ignore[arg-type]
    for name, data in entries.items():
        entry = writer.open_entry(name, compress=not name.endswith(".png"))
        for start in range(0, len(data), 7000):  # uneven chunks
            entry.write(data[start : start + 7000])
        entry.close()
    size = writer.close()
    path = tmp_path / "archive.zip"
    path.write_bytes(sink.value())
    assert size == len(sink.value()) == writer.bytes_written
    return path, writer


ENTRIES = {
    "export-2024-04-01T12_00_00.512Z.ndjson": content(300_000),
    "empty.txt": b"",
    "files/0000000000.c_things.5a1.c_file.content.png": bytes(range(256)) * 50,
    "données/😀 שלום.txt": "unicode ✓".encode(),
    "manifest.json": b"{}",
}


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"backend": "zlib", "level": 6},
        {"backend": "zlib", "level": 9},
        {"backend": "zlib", "level": 0},
        {"level": 3},
        {"force_zip64": True},
    ],
    ids=["default", "zlib6", "zlib9", "zlib0", "level3", "zip64"],
)
def test_round_trip(tmp_path: Path, options: dict[str, object]) -> None:
    path, writer = write_archive(ENTRIES, tmp_path, **options)
    with zipfile.ZipFile(path) as read:
        assert read.testzip() is None  # every CRC-32 checks out
        assert [info.filename for info in read.infolist()] == list(ENTRIES)
        for info, written in zip(read.infolist(), writer.entries, strict=True):
            data = read.read(info)
            assert data == ENTRIES[info.filename]
            assert (written.name, written.size, written.crc32) == (info.filename, info.file_size, info.CRC)
            assert written.compressed_size == info.compress_size
            assert written.sha256 == hashlib.sha256(data).hexdigest()
            assert info.flag_bits & 0x08  # sizes in a data descriptor
            assert bool(info.flag_bits & 0x800) == (not info.filename.isascii())
            stored = info.filename.endswith(".png")
            assert info.compress_type == (zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)
    unzip_test(path)


def test_deflate_backend_choice() -> None:
    assert ZipStreamWriter(AppendOnlySink(), backend="zlib").backend == "zlib"
    assert ZipStreamWriter(AppendOnlySink(), level=6).backend == "zlib"  # beyond ISA-L's levels
    expected = "isal" if isal_available() else "zlib"
    assert ZipStreamWriter(AppendOnlySink()).backend == expected
    with pytest.raises(ValueError):
        ZipStreamWriter(AppendOnlySink(), level=10)
    with pytest.raises(ValueError):
        ZipStreamWriter(AppendOnlySink(), backend="brotli")


def test_forced_zip64_writes_every_zip64_structure(tmp_path: Path) -> None:
    path, _ = write_archive(ENTRIES, tmp_path, force_zip64=True)
    raw = path.read_bytes()
    assert struct.pack("<I", 0x06064B50) in raw  # ZIP64 end of central directory
    assert struct.pack("<I", 0x07064B50) in raw  # and its locator
    # The classic end record defers to the ZIP64 one.
    assert struct.unpack("<HHII", raw[-22 + 8 : -22 + 20]) == (0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
    first = raw[:30]
    version, extra_length = struct.unpack("<H", first[4:6])[0], struct.unpack("<H", first[28:30])[0]
    assert (version, extra_length) == (45, 20)
    with zipfile.ZipFile(path) as read:
        for info in read.infolist():
            assert struct.unpack("<H", info.extra[:2])[0] == 1  # the ZIP64 extra field
            assert read.read(info) == ENTRIES[info.filename]


def test_overflowing_sizes_and_offsets_switch_to_zip64(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same code path as a 4 GiB entry, with the limit lowered instead of writing 4 GiB.
    monkeypatch.setattr(archive, "_ZIP64_LIMIT", 1000)
    small, large = b"x" * 10, content(50_000)
    path, writer = write_archive({"small.txt": small, "large.json": large, "late.txt": small}, tmp_path)
    raw = path.read_bytes()
    # "small.txt": under the limit, a classic 16-byte data descriptor.
    first = writer.entries[0]
    descriptor_at = 30 + len("small.txt") + first.compressed_size
    assert struct.unpack("<IIII", raw[descriptor_at : descriptor_at + 16])[0] == 0x08074B50
    assert raw[descriptor_at + 16 : descriptor_at + 20] == b"PK\x03\x04"
    # "large.json": 50 kB passes the limit, so its descriptor has 8-byte sizes.
    second = writer.entries[1]
    start = descriptor_at + 16
    descriptor_at = start + 30 + len("large.json") + second.compressed_size
    signature, crc, compressed, size = struct.unpack("<IIQQ", raw[descriptor_at : descriptor_at + 24])
    assert (signature, crc, compressed, size) == (0x08074B50, second.crc32, second.compressed_size, 50_000)
    with zipfile.ZipFile(path) as read:
        infos = read.infolist()
        assert infos[0].extra == b""  # nothing overflowed for the first entry
        assert read.read("large.json") == large
        assert read.read("late.txt") == small  # found through a ZIP64 offset
        assert infos[2].header_offset > 1000
    assert struct.pack("<I", 0x06064B50) in raw  # the directory offset overflowed too
    unzip_test(path)


def test_size_hint_near_4_gib_gives_a_zip64_local_header() -> None:
    sink = AppendOnlySink()
    writer = ZipStreamWriter(sink)
    entry = writer.open_entry("big.bin", size_hint=5 * 2**30)
    entry.write(b"abc")
    entry.close()
    writer.open_entry("small.bin", size_hint=10).close()
    writer.close()
    raw = sink.value()
    assert struct.unpack("<H", raw[28:30])[0] == 20  # ZIP64 extra in the local header
    with zipfile.ZipFile(io.BytesIO(raw)) as read:
        assert read.read("big.bin") == b"abc"
        assert read.read("small.bin") == b""


def test_more_than_65535_entries(tmp_path: Path) -> None:
    sink = AppendOnlySink()
    writer = ZipStreamWriter(sink)
    for number in range(65_537):
        writer.open_entry(f"f/{number}", compress=False).close()
    writer.close()
    path = tmp_path / "many.zip"
    path.write_bytes(sink.value())
    assert struct.pack("<I", 0x06064B50) in sink.value()
    with zipfile.ZipFile(path) as read:
        names = read.namelist()
        assert len(names) == 65_537 and names[-1] == "f/65536"
    unzip_test(path)


def test_empty_archive() -> None:
    sink = AppendOnlySink()
    assert ZipStreamWriter(sink).close() == 22  # only the end record
    with zipfile.ZipFile(io.BytesIO(sink.value())) as read:
        assert read.infolist() == []


def test_entry_time_and_unix_mode() -> None:
    sink = AppendOnlySink()
    writer = ZipStreamWriter(sink, modified=datetime(2024, 4, 1, 12, 30, 58, tzinfo=UTC))
    writer.write_entry("a.txt", [b"a", b"b"])
    writer.close()
    with zipfile.ZipFile(io.BytesIO(sink.value())) as read:
        info = read.getinfo("a.txt")
        assert info.date_time == (2024, 4, 1, 12, 30, 58)
        assert info.external_attr >> 16 == 0o100644
        assert read.read(info) == b"ab"


def test_progress_reports_bytes_handed_to_the_sink() -> None:
    sink = AppendOnlySink()
    seen: list[int] = []
    writer = ZipStreamWriter(sink, progress=seen.append, buffer_size=4096)
    data = content(100_000)
    writer.write_entry("data.bin", [data[at : at + 1000] for at in range(0, len(data), 1000)], compress=False)
    total = writer.close()
    assert seen == sorted(seen) and seen[-1] == total == len(sink.value())
    assert len(seen) > 10  # reported as it goes, not only at the end
    assert max(map(len, sink.chunks)) < 4096 + 1000


@pytest.mark.parametrize(
    "name", ["", "/abs", "C:/x", "a/../b", "..", "./a", "a\\b", "a\x00b", "a\nb", "a//b", "dir/"]
)
def test_unsafe_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="zip entry name"):
        validate_entry_name(name)


def test_safe_names_pass() -> None:
    for name in ("a", "files/0000000000.c_x.5a1.c_file.content.png", "données/😀.txt", "a..b/c.d", ".hidden"):
        assert validate_entry_name(name) == name


def test_misuse_is_refused() -> None:
    writer = ZipStreamWriter(AppendOnlySink())
    entry = writer.open_entry("a")
    with pytest.raises(ValueError, match="still open"):
        writer.open_entry("b")
    with pytest.raises(ValueError, match="still open"):
        writer.close()
    entry.close()
    with pytest.raises(ValueError, match="closed"):
        entry.write(b"x")
    with pytest.raises(ValueError, match="already in the archive"):
        writer.open_entry("a")
    writer.close()
    with pytest.raises(ValueError, match="archive is closed"):
        writer.open_entry("c")
