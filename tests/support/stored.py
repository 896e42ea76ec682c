"""Raw stored bytes (the ciphertext under a key), read and replaced through the store's backend,
for tests that damage what is stored on purpose, on any backend."""

from __future__ import annotations

from dataclasses import dataclass

from opencortex.files import FileStore


@dataclass
class StoredObjectBytes:
    """The object under ``key`` in ``backend``, with the two methods of ``Path`` tests use on it."""

    backend: FileStore
    key: str

    def read_bytes(self) -> bytes:
        with self.backend.open_reader(self.key) as reader:
            return b"".join(reader)

    def write_bytes(self, data: bytes) -> int:
        with self.backend.open_writer(self.key) as writer:
            writer.write(data)
            writer.commit()
        return len(data)
