"""The master key, and sealing small secrets (app secrets, signing keys) under it.

The master key comes from configuration (``OPENCORTEX_MASTER_KEY``, base64 of 32 bytes) or is
generated into the data folder on first use (``master.key``, mode 0600). Each use derives its own
AES-256-GCM key with HKDF, so a secret sealed for one purpose cannot be opened as another.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_KEY_BYTES = 32
_NONCE_BYTES = 12


class MasterKey:
    def __init__(self, material: bytes) -> None:
        if len(material) != _KEY_BYTES:
            raise ValueError("the master key must be 32 bytes")
        self._material = material

    def __repr__(self) -> str:  # never print key material
        return "MasterKey(<hidden>)"

    @classmethod
    def load_or_create(cls, data_dir: Path, configured: str = "") -> MasterKey:
        if configured:
            return cls(base64.b64decode(configured))
        path = data_dir / "master.key"
        if path.exists():
            return cls(base64.b64decode(path.read_text().strip()))
        data_dir.mkdir(parents=True, exist_ok=True)
        material = os.urandom(_KEY_BYTES)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(base64.b64encode(material).decode())
        return cls(material)

    def derive(self, purpose: str, length: int = _KEY_BYTES) -> bytes:
        """A key for one purpose, independent of every other purpose's key."""
        return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose.encode()).derive(
            self._material
        )

    def seal(self, plaintext: bytes, purpose: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + AESGCM(self.derive(purpose)).encrypt(nonce, plaintext, purpose.encode())

    def open(self, sealed: bytes, purpose: str) -> bytes:
        nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        return AESGCM(self.derive(purpose)).decrypt(nonce, ciphertext, purpose.encode())
