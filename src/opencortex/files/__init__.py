"""The encrypted byte store: a ``FileStore`` backend under encryption at rest, and its accounting.

The bottom tier of files: it knows keys and bytes, never instances or properties (File properties
are ``opencortex.attachments``, above ``instances``). A process opens it once: ``Runtime.file_store``
is the ``EncryptedFileStore`` that ``open_file_store(settings, master_key)`` returns. Which backend
sits underneath is decided here alone, so adding one touches no caller.
"""

from __future__ import annotations

from opencortex.files.crypto import FileCipher
from opencortex.files.encrypted import EncryptedFileStore, EncryptedWriter, StoredObject
from opencortex.files.local import LocalFileStore
from opencortex.files.store import (
    MIN_SWEEP_AGE_SECONDS,
    ChunkReader,
    FileStore,
    ObjectReader,
    ObjectWriter,
    PartialWrite,
)
from opencortex.keys import MasterKey
from opencortex.settings import Settings

__all__ = [
    "MIN_SWEEP_AGE_SECONDS",
    "ChunkReader",
    "EncryptedFileStore",
    "EncryptedWriter",
    "FileCipher",
    "FileStore",
    "LocalFileStore",
    "ObjectReader",
    "ObjectWriter",
    "PartialWrite",
    "StoredObject",
    "open_file_store",
]


def open_file_store(settings: Settings, master_key: MasterKey) -> EncryptedFileStore:
    """The configured store: the folder ``<data_dir>/files``, encrypted with the data folder's keyset."""
    return EncryptedFileStore(
        LocalFileStore.in_data_dir(settings.data_dir),
        FileCipher.load_or_create(settings.data_dir, master_key),
    )
