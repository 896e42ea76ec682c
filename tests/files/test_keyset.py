"""The files keyset: generated once, sealed by the master key, and needed to read anything."""

from __future__ import annotations

import pickle
import shutil
import threading
from pathlib import Path

import pytest

from opencortex.faults import Fault
from opencortex.files import EncryptedFileStore, FileCipher, open_file_store
from opencortex.files.crypto import KEYSET_FILE
from opencortex.keys import MasterKey
from opencortex.settings import Settings

from .conftest import stored_path


def test_keyset_persists_across_instances(data_dir: Path, master_key: MasterKey) -> None:
    first = open_file_store(Settings(data_dir=data_dir), master_key)
    stored = first.write_chunks("orgs/1/a.zip", [b"written by the first instance"])
    keyset = (data_dir / KEYSET_FILE).read_bytes()

    second = open_file_store(Settings(data_dir=data_dir), MasterKey(bytes(range(32))))
    with second.open_reader("orgs/1/a.zip") as reader:
        assert b"".join(reader) == b"written by the first instance"
    assert second.size("orgs/1/a.zip") == stored.size
    assert (data_dir / KEYSET_FILE).read_bytes() == keyset  # loaded, not regenerated


def test_keyset_file_is_sealed_and_private(store: EncryptedFileStore, data_dir: Path) -> None:
    path = data_dir / KEYSET_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    sealed = path.read_bytes()
    # A serialized Tink keyset names its key type in clear text; sealed, it must not.
    assert b"AesGcmHkdfStreaming" not in sealed
    assert b"googleapis" not in sealed
    assert not [name for name in path.parent.iterdir() if name.name.endswith(".part")]


def test_another_master_key_cannot_open_the_keyset(store: EncryptedFileStore, data_dir: Path) -> None:
    store.write_chunks("k", [b"secret"])
    with pytest.raises(Fault) as raised:
        open_file_store(Settings(data_dir=data_dir), MasterKey(b"\xff" * 32))
    assert raised.value.err_code == "cortex.error.filesKeyset"
    assert raised.value.status == 500


def test_a_damaged_keyset_is_a_fault(
    store: EncryptedFileStore, data_dir: Path, master_key: MasterKey
) -> None:
    path = data_dir / KEYSET_FILE
    sealed = bytearray(path.read_bytes())
    sealed[20] ^= 0x01
    path.write_bytes(bytes(sealed))
    with pytest.raises(Fault) as raised:
        FileCipher.load_or_create(data_dir, master_key)
    assert raised.value.err_code == "cortex.error.filesKeyset"
    path.write_bytes(b"")
    with pytest.raises(Fault):
        FileCipher.load_or_create(data_dir, master_key)


def test_a_sealed_non_keyset_is_a_fault(data_dir: Path, master_key: MasterKey) -> None:
    data_dir.mkdir(parents=True)
    (data_dir / KEYSET_FILE).write_bytes(master_key.seal(b"not a keyset", "files-keyset"))
    with pytest.raises(Fault) as raised:
        FileCipher.load_or_create(data_dir, master_key)
    assert raised.value.err_code == "cortex.error.filesKeyset"


def test_another_data_folders_keyset_cannot_read(tmp_path: Path, master_key: MasterKey) -> None:
    # Same master key, different data folder: a different keyset, so copied files stay unreadable.
    first = open_file_store(Settings(data_dir=tmp_path / "one"), master_key)
    second = open_file_store(Settings(data_dir=tmp_path / "two"), master_key)
    first.write_chunks("k", [b"from folder one"])
    second.write_chunks("k", [b"placeholder"])
    shutil.copyfile(stored_path(tmp_path / "one", "k"), stored_path(tmp_path / "two", "k"))
    with pytest.raises(Fault) as raised, second.open_reader("k") as reader:
        list(reader)
    assert raised.value.err_code == "cortex.error.fileIntegrity"


def test_concurrent_first_starts_agree_on_one_keyset(tmp_path: Path, master_key: MasterKey) -> None:
    data_dir = tmp_path / "race"
    barrier = threading.Barrier(8)
    ciphers: list[FileCipher] = []

    def start() -> None:
        barrier.wait()
        ciphers.append(FileCipher.load_or_create(data_dir, master_key))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ciphers) == 8
    ciphertext: list[bytes] = []
    encryptor = ciphers[0].encryptor("k", ciphertext.append)
    encryptor.write(b"one keyset for everyone")
    encryptor.finish()
    for cipher in ciphers:
        assert b"".join(cipher.decrypt("k", ciphertext)) == b"one keyset for everyone"
    assert sorted(path.name for path in data_dir.iterdir()) == [KEYSET_FILE]


def test_no_key_material_in_reprs(store: EncryptedFileStore, data_dir: Path) -> None:
    cipher = FileCipher.load_or_create(data_dir, MasterKey(bytes(range(32))))
    assert repr(cipher) == "FileCipher(AES256_GCM_HKDF_1MB)"
    assert repr(store).startswith("EncryptedFileStore(LocalFileStore(")
    # The Tink primitive, and the raw keys of random-access reads, which never show or pickle.
    assert vars(cipher).keys() == {"_primitive", "_segment_keys"}
    assert cipher.random_access and repr(vars(cipher)["_segment_keys"]) == "SegmentKeys(count=1)"
    with pytest.raises(TypeError):
        pickle.dumps(vars(cipher)["_segment_keys"])
