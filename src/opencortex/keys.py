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
_KEY_ID_PURPOSE = "master-key-id"
MASTER_KEY_FILE = "master.key"


class MasterKey:
    def __init__(self, material: bytes) -> None:
        if len(material) != _KEY_BYTES:
            raise ValueError("the master key must be 32 bytes")
        self._material = material

    def __repr__(self) -> str:  # never print key material
        return "MasterKey(<hidden>)"

    @classmethod
    def load(cls, data_dir: Path, configured: str = "") -> MasterKey | None:
        """The configured key, else the data folder's ``master.key``; None when there is neither.

        Never writes: whether a new key may be made depends on the database (see ``Runtime.open``).
        """
        if configured:
            return cls(_decode(configured, "OPENCORTEX_MASTER_KEY"))
        path = data_dir / MASTER_KEY_FILE
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        return cls(_decode(text.strip(), str(path)))

    @classmethod
    def create(cls, data_dir: Path) -> MasterKey:
        """A new key, written to ``<data_dir>/master.key`` (mode 0600); an existing file wins."""
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        material = os.urandom(_KEY_BYTES)
        path = data_dir / MASTER_KEY_FILE
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            # Another process starting at the same moment made one first: use that one.
            loaded = cls.load(data_dir)
            assert loaded is not None
            return loaded
        with os.fdopen(descriptor, "w") as handle:
            handle.write(base64.b64encode(material).decode())
        return cls(material)

    @classmethod
    def load_or_create(cls, data_dir: Path, configured: str = "") -> MasterKey:
        return cls.load(data_dir, configured) or cls.create(data_dir)

    @property
    def key_id(self) -> str:
        """A fingerprint that names this key without revealing it (HKDF output, not the key)."""
        return self.derive(_KEY_ID_PURPOSE, 16).hex()

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


def _decode(text: str, source: str) -> bytes:
    try:
        material = base64.b64decode(text, validate=True)
    except ValueError:
        raise ValueError(f"{source} is not base64 of a 32-byte key") from None
    if len(material) != _KEY_BYTES:
        raise ValueError(f"{source} is not base64 of a 32-byte key ({len(material)} bytes)")
    return material
