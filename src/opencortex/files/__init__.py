"""The encrypted byte store: a ``FileStore`` backend under encryption at rest, and its accounting.

The bottom tier of files: it knows keys and bytes, never instances or properties (File properties
are ``opencortex.attachments``, above ``instances``). A process opens it once: ``Runtime.file_store``
is the ``EncryptedFileStore`` that ``open_file_store(settings, master_key)`` returns. Which backend
sits underneath (``local``: a folder, the default; ``s3``: S3-compatible object storage) is
decided here alone, so adding one touches no caller.
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
    """The configured store, encrypted at rest.

    ``OPENCORTEX_STORAGE_URL`` empty: the folder ``<data_dir>/files`` with the data folder's keyset.
    ``s3://bucket/prefix``: that bucket, with the keyset stored in it (``files/s3.py``), after
    checking that the bucket answers (``storage_unavailable`` with one line saying why otherwise).
    """
    if settings.storage_url:
        # Imported here: boto3 costs a few hundred milliseconds, which a local store never pays.
        from opencortex.files.s3 import load_or_create_cipher, open_s3_store

        backend = open_s3_store(settings)
        return EncryptedFileStore(backend, load_or_create_cipher(backend, master_key))
    return EncryptedFileStore(
        LocalFileStore.in_data_dir(settings.data_dir),
        FileCipher.load_or_create(settings.data_dir, master_key),
    )
