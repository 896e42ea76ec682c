"""The local-folder backend: each key is a file under a root folder (default ``<data_dir>/files``).

Key segments become folders and the file name (``orgs/a/x.zip`` is ``<root>/orgs/a/x.zip``). A
writer streams into a hidden temporary file next to its target, then ``commit()`` fsyncs it,
renames it over the target and fsyncs the folder: after a crash the key holds either the old
object, or the complete new one, never a prefix. Temporary names start with ``.``, which no key
segment may, so they never collide with keys and never show up in listings.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Self

from opencortex import faults
from opencortex.files.store import (
    ChunkReader,
    is_valid_key,
    validate_key,
    validate_prefix,
    validate_range,
)

READ_CHUNK_BYTES = 256 * 1024
_PARTIAL_SUFFIX = ".part"
_FOLDER_MODE = 0o700
_FILE_MODE = 0o600


class LocalFileStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(mode=_FOLDER_MODE, parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalFileStore({str(self.root)!r})"

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> LocalFileStore:
        return cls(data_dir / "files")

    def open_writer(self, key: str) -> LocalObjectWriter:
        path = self._path(key)
        _make_folders(path.parent, self.root, key)
        return LocalObjectWriter(path, key)

    def open_reader(self, key: str, start: int = 0, end: int | None = None) -> ChunkReader:
        validate_range(start, end)
        path = self._path(key)
        try:
            handle = path.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as error:
            raise faults.file_not_found(f"no file under key {key!r}") from error
        return ChunkReader(_read_range(handle, start, end), handle.close)

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return  # nothing stored under this key: deleting is idempotent, as in S3
        _fsync_folder(path.parent)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        path = self._path(key)
        try:
            if path.is_file():
                return path.stat().st_size
        except FileNotFoundError:
            pass  # deleted between the check and the stat
        raise faults.file_not_found(f"no file under key {key!r}")

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        validate_prefix(prefix)
        *folders, partial = prefix.split("/")
        key_prefix = "".join(f"{name}/" for name in folders)
        return _walk(self.root.joinpath(*folders), key_prefix, partial)

    def remove_stale_partials(self, older_than_seconds: float = 24 * 3600) -> int:
        """Delete temporary files that crashed writers left behind; returns how many.

        They are invisible to every other operation, so this only reclaims disk space. The age
        threshold keeps it away from writers that are still running.
        """
        cutoff = time.time() - older_than_seconds
        removed = 0
        for folder, _subfolders, names in os.walk(self.root):
            for name in names:
                if not (name.startswith(".") and name.endswith(_PARTIAL_SUFFIX)):
                    continue
                path = Path(folder) / name
                try:
                    if path.stat().st_mtime < cutoff:
                        path.unlink()
                        removed += 1
                except FileNotFoundError:
                    continue  # its writer committed or aborted meanwhile
        return removed

    def _path(self, key: str) -> Path:
        # The key rules (no "..", no leading "/", no empty or dot-led segment) are what keep this
        # join inside the root; there is no other escaping to get wrong.
        return self.root.joinpath(*validate_key(key).split("/"))


class LocalObjectWriter:
    """Streams into ``.<name>.<random>.part`` beside the target; ``commit()`` renames it into place."""

    def __init__(self, path: Path, key: str) -> None:
        self.key = key
        self._target = path
        self._temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}{_PARTIAL_SUFFIX}")
        descriptor = os.open(self._temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, _FILE_MODE)
        self._file: BinaryIO | None = os.fdopen(descriptor, "wb")
        self._committed = False

    def __repr__(self) -> str:
        return f"LocalObjectWriter({self.key!r})"

    def write(self, chunk: bytes) -> None:
        if self._file is None:
            raise ValueError(f"the writer for {self.key!r} is already committed or aborted")
        self._file.write(chunk)

    def commit(self) -> None:
        handle = self._file
        if handle is None:
            raise ValueError(f"the writer for {self.key!r} is already committed or aborted")
        try:
            handle.flush()
            os.fsync(handle.fileno())  # the data is on disk before the name points at it
            handle.close()
            self._file = None
            os.replace(self._temporary, self._target)
        except IsADirectoryError as error:
            self.abort()
            raise faults.file_key_invalid(
                f"{self.key!r} names a folder of other keys; the local store cannot also hold a file there"
            ) from error
        except BaseException:
            self.abort()
            raise
        self._committed = True
        _fsync_folder(self._target.parent)  # and the rename itself survives a crash

    def abort(self) -> None:
        if self._committed:
            return
        handle, self._file = self._file, None
        if handle is not None:
            handle.close()
        self._temporary.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.abort()  # a no-op after commit(); otherwise nothing half-written survives the block


def _read_range(handle: BinaryIO, start: int, end: int | None) -> Iterator[bytes]:
    handle.seek(start)
    remaining = None if end is None else end - start + 1
    while remaining is None or remaining > 0:
        chunk = handle.read(READ_CHUNK_BYTES if remaining is None else min(READ_CHUNK_BYTES, remaining))
        if not chunk:
            return
        if remaining is not None:
            remaining -= len(chunk)
        yield chunk


def _walk(folder: Path, key_prefix: str, name_prefix: str) -> Iterator[str]:
    """Keys under ``folder`` in lexicographic key order, the order S3 lists them in.

    Sorting a folder's entries by name, with "/" appended to sub-folder names, gives that order:
    every key inside sub-folder ``a`` starts with ``a/``, which is exactly what it sorts by.
    """
    try:
        entries = [
            entry
            for entry in os.scandir(folder)
            if entry.name.startswith(name_prefix) and is_valid_key(entry.name)
        ]
    except (FileNotFoundError, NotADirectoryError):
        return
    folders = {entry.name for entry in entries if entry.is_dir(follow_symlinks=False)}
    entries.sort(key=lambda entry: entry.name + "/" if entry.name in folders else entry.name)
    for entry in entries:
        if entry.name in folders:
            yield from _walk(Path(entry.path), f"{key_prefix}{entry.name}/", "")
        elif entry.is_file(follow_symlinks=False):
            yield key_prefix + entry.name


def _make_folders(folder: Path, root: Path, key: str) -> None:
    """Create the folders a key needs, fsyncing each new one's parent so the path survives a crash."""
    if folder.is_dir():
        return
    missing: list[Path] = []
    while folder != root and not folder.is_dir():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=_FOLDER_MODE)
        except FileExistsError as error:
            if path.is_dir():
                continue  # another writer made it first
            raise faults.file_key_invalid(
                f"{key!r} needs a folder where the local store already holds a file"
            ) from error
        _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
