"""The local-folder backend: each key is a file under a root folder (default ``<data_dir>/files``).

Key segments become folders and the file name (``orgs/a/x.zip`` is ``<root>/orgs/a/x.zip``). A
writer streams into a hidden temporary file next to its target, then ``commit()`` fsyncs it,
renames it over the target and fsyncs the folder: after a crash the key holds either the old
object, or the complete new one, never a prefix. Temporary names start with ``.``, which no key
segment may, so they never collide with keys and never show up in ``list_keys``.

A writer holds an exclusive ``flock`` on its temporary file until it commits or aborts. The lock
dies with its process, so ``sweep_stale_partials`` can tell a dead writer's leftover (unlocked)
from a write in flight (locked), whatever their ages. Folders a delete leaves empty are removed,
up to the root; a writer whose folder is removed between creating it and opening its file in it
creates it again.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from opencortex import faults
from opencortex.files.store import (
    AbortsOnExit,
    ChunkReader,
    PartialWrite,
    is_valid_key,
    validate_folder_prefix,
    validate_key,
    validate_prefix,
    validate_range,
)

READ_CHUNK_BYTES = 256 * 1024
_PARTIAL_SUFFIX = ".part"
_PARTIAL_NAME = re.compile(r"\.(?P<name>.+)\.[0-9a-f]{16}\.part")
_FOLDER_MODE = 0o700
_FILE_MODE = 0o600
# "No space left on device" and "disk quota exceeded": the storage is full, not broken.
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
# Times a writer recreates its folder when a concurrent delete removed it (each race needs a
# delete of the folder's last file to land between two system calls; twice in a row is unheard of).
_FOLDER_RACE_ATTEMPTS = 5

log = logging.getLogger("opencortex.files")


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
        attempt = 1
        while True:
            try:
                _make_folders(path.parent, self.root, key)
                return LocalObjectWriter(path, key, self.root)
            except FileNotFoundError:
                # A delete emptied and removed a folder after we made it: make it again.
                if attempt == _FOLDER_RACE_ATTEMPTS:
                    raise
                attempt += 1

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
        _fsync_folder(_prune(path.parent, self.root))

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

    def list_partials(self, prefix: str = "") -> Iterator[PartialWrite]:
        validate_prefix(prefix)
        folders = prefix.split("/")[:-1]
        found = []
        for path, key in self._partials(self.root.joinpath(*folders)):
            if not key.startswith(prefix):
                continue
            try:
                status = path.stat()
            except FileNotFoundError:
                continue  # committed or aborted while we looked
            found.append(PartialWrite(key=key, size=status.st_size, modified=status.st_mtime))
        return iter(sorted(found, key=lambda partial: partial.key))

    def delete_prefix(self, prefix: str) -> int:
        validate_folder_prefix(prefix)
        top = self.root.joinpath(*prefix.rstrip("/").split("/"))
        removed = 0
        for folder, _subfolders, names in os.walk(top, topdown=False):
            for name in names:
                try:
                    os.unlink(os.path.join(folder, name))
                except FileNotFoundError:
                    continue  # a writer committed (renaming its partial away) or aborted meanwhile
                removed += 1
            _remove_if_empty(Path(folder))
        _fsync_folder(_prune(top.parent, self.root))
        return removed

    def sweep_stale_partials(self, older_than_seconds: float) -> int:
        """See ``FileStore.sweep_stale_partials``; a partial whose writer is alive is never removed."""
        cutoff = time.time() - older_than_seconds
        removed = 0
        # Bottom-up, so that a folder emptied by the sweep (or left empty by anything else) goes
        # too, after its sub-folders.
        for folder, _subfolders, names in os.walk(self.root, topdown=False):
            for name in names:
                if _PARTIAL_NAME.fullmatch(name) is None:
                    continue
                path = Path(folder) / name
                try:
                    if path.stat().st_mtime < cutoff and _remove_unlocked(path):
                        removed += 1
                except FileNotFoundError:
                    continue  # its writer committed or aborted meanwhile
            if Path(folder) != self.root:
                _remove_if_empty(Path(folder))
        return removed

    def remove_empty_folders(self, prefix: str) -> None:
        """Remove the folder a key prefix ending in ``/`` names (the whole store for ``""``), and
        the folders in it, where they hold nothing; never the root, never above the prefix."""
        validate_prefix(prefix)
        if prefix and not prefix.endswith("/"):
            return
        top = self.root.joinpath(*prefix.rstrip("/").split("/")) if prefix else self.root
        for folder, _subfolders, _names in os.walk(top, topdown=False):
            if Path(folder) != self.root:
                _remove_if_empty(Path(folder))

    def _partials(self, top: Path) -> Iterator[tuple[Path, str]]:
        """Every partial under ``top``: its path and the key its writer would publish."""
        for folder, _subfolders, names in os.walk(top):
            relative = Path(folder).relative_to(self.root).parts
            for name in names:
                match = _PARTIAL_NAME.fullmatch(name)
                if match is not None:
                    yield Path(folder) / name, "/".join((*relative, match["name"]))

    def _path(self, key: str) -> Path:
        # The key rules (no "..", no leading "/", no empty or dot-led segment) are what keep this
        # join inside the root; there is no other escaping to get wrong.
        return self.root.joinpath(*validate_key(key).split("/"))


class LocalObjectWriter(AbortsOnExit):
    """Streams into ``.<name>.<random>.part`` beside the target; ``commit()`` renames it into place."""

    def __init__(self, path: Path, key: str, root: Path) -> None:
        self.key = key
        self._target = path
        self._root = root
        self._temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}{_PARTIAL_SUFFIX}")
        try:
            self._file: BinaryIO | None = _open_partial(self._temporary)
        except OSError as error:
            if _is_full(error):
                raise _storage_full(key, error) from error
            raise
        self._committed = False

    def __repr__(self) -> str:
        return f"LocalObjectWriter({self.key!r})"

    def write(self, chunk: bytes) -> None:
        if self._file is None:
            raise ValueError(f"the writer for {self.key!r} is already committed or aborted")
        try:
            self._file.write(chunk)
        except OSError as error:
            self.abort()  # a stream that broke halfway can never be committed afterwards
            if _is_full(error):
                raise _storage_full(self.key, error) from error
            raise

    def commit(self) -> None:
        handle = self._file
        if handle is None:
            raise ValueError(f"the writer for {self.key!r} is already committed or aborted")
        try:
            handle.flush()
            os.fsync(handle.fileno())  # the data is on disk before the name points at it
            # Renamed while still open, so still locked: a sweep can never take it in between.
            os.replace(self._temporary, self._target)
        except IsADirectoryError as error:
            self.abort()
            raise faults.file_key_invalid(
                f"{self.key!r} names a folder of other keys; the local store cannot also hold a file there"
            ) from error
        except BaseException as error:
            self.abort()
            if isinstance(error, OSError) and _is_full(error):
                raise _storage_full(self.key, error) from error
            raise
        self._committed = True
        self._file = None
        with contextlib.suppress(OSError):
            handle.close()  # everything is flushed and synced: closing only releases the lock
        _fsync_folder(self._target.parent)  # and the rename itself survives a crash

    def abort(self) -> None:
        if self._committed:
            return
        handle, self._file = self._file, None
        if handle is not None:
            with contextlib.suppress(OSError):  # the bytes are thrown away; a full disk fails again here
                handle.close()
        self._temporary.unlink(missing_ok=True)
        _prune(self._target.parent, self._root)  # the folders made for it, unless others use them



def _open_partial(path: Path) -> BinaryIO:
    """Create a writer's temporary file, owner-only, and lock it for as long as it is open."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, _FILE_MODE)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: nobody else can hold it
        return os.fdopen(descriptor, "wb")
    except BaseException:
        os.close(descriptor)
        path.unlink(missing_ok=True)
        raise


def _remove_unlocked(path: Path) -> bool:
    """Delete a partial unless its writer is still alive (it holds the partial's lock)."""
    descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        path.unlink()  # while we hold the lock, no writer can be using it
        return True
    finally:
        os.close(descriptor)


def _is_full(error: OSError) -> bool:
    return error.errno in _FULL_ERRNOS


def _storage_full(key: str, error: OSError) -> faults.Fault:
    """The fault for a full disk: it names no path; the operator's log says which key and why."""
    log.error("storage full while writing %r: %s", key, error.strerror or error)
    return faults.storage_full()


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
        except OSError as error:
            if _is_full(error):
                raise _storage_full(key, error) from error
            raise
        _fsync_folder(path.parent)


def _prune(folder: Path, root: Path) -> Path:
    """Remove ``folder`` and its parents while they are empty, never ``root``; returns the first
    folder left."""
    while folder != root and root in folder.parents:
        if not _remove_if_empty(folder):
            break
        folder = folder.parent
    return folder


def _remove_if_empty(folder: Path) -> bool:
    try:
        folder.rmdir()  # only ever succeeds on an empty folder, so it cannot take a file with it
    except FileNotFoundError:
        return True  # someone else removed it
    except OSError:
        return False  # not empty (or not ours to remove)
    return True


def _fsync_folder(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        return  # removed by a concurrent delete: there is nothing left to make durable
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
