"""Fixtures for the file store: a data folder, its master key, and stores built from them (on the
local folder, and on the test run's S3 server)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from opencortex.files import EncryptedFileStore, LocalFileStore, open_file_store
from opencortex.files.s3 import S3FileStore, open_s3_store
from opencortex.keys import MasterKey
from opencortex.settings import Settings
from tests.support.s3 import S3Server

MIB = 1024 * 1024


@pytest.fixture
def master_key() -> MasterKey:
    return MasterKey(bytes(range(32)))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "var"


@pytest.fixture
def store(data_dir: Path, master_key: MasterKey) -> EncryptedFileStore:
    return open_file_store(Settings(data_dir=data_dir), master_key)


@pytest.fixture
def backend(tmp_path: Path) -> LocalFileStore:
    return LocalFileStore(tmp_path / "plain")


@pytest.fixture
def s3_location(s3_server: S3Server) -> Iterator[str]:
    """A prefix of its own in the test server's bucket (``s3://opencortex-tests/t-...``), emptied after."""
    location = s3_server.new_location()
    yield location
    s3_server.clear(location)


@pytest.fixture
def s3_settings(s3_server: S3Server, s3_location: str, data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, **s3_server.settings(s3_location))


@pytest.fixture
def s3_backend(s3_settings: Settings) -> S3FileStore:
    """The S3 backend alone (plaintext in, plaintext stored), as ``backend`` is the local one."""
    return open_s3_store(s3_settings)


@pytest.fixture
def s3_store(s3_settings: Settings, master_key: MasterKey) -> EncryptedFileStore:
    """The encrypted store over S3, as ``open_file_store`` builds it from the settings."""
    return open_file_store(s3_settings, master_key)


def stored_path(data_dir: Path, key: str) -> Path:
    """Where the local backend keeps a key's ciphertext, for tests that damage it on purpose."""
    return data_dir / "files" / key


@dataclass
class PseudoRandomStream:
    """Deterministic bytes in chunks (an AES-CTR keystream), hashed as they are produced.

    Large test inputs come from here so no test ever holds a whole file in memory; chunks are a
    size that never lines up with the 1 MiB encryption segments.
    """

    size: int
    seed: int = 7
    chunk_bytes: int = MIB - 7
    md5: hashlib._Hash = field(default_factory=lambda: hashlib.md5(usedforsecurity=False))
    sha256: hashlib._Hash = field(default_factory=hashlib.sha256)

    def __iter__(self) -> Iterator[bytes]:
        keystream = Cipher(algorithms.AES(self.seed.to_bytes(32, "big")), modes.CTR(bytes(16))).encryptor()
        zeros = bytes(self.chunk_bytes)
        remaining = self.size
        while remaining > 0:
            chunk = keystream.update(zeros[: min(self.chunk_bytes, remaining)])
            remaining -= len(chunk)
            self.md5.update(chunk)
            self.sha256.update(chunk)
            yield chunk


def pseudo_random_bytes(size: int, seed: int = 7) -> bytes:
    """Small inputs as one bytes object, from the same generator."""
    return b"".join(PseudoRandomStream(size, seed))
