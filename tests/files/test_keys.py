"""A bad key is a fault before any filesystem call, never a path outside the store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from opencortex.faults import Fault
from opencortex.files import EncryptedFileStore, LocalFileStore
from opencortex.files.store import is_valid_key, validate_key

BAD_KEYS = [
    "../x",
    "/etc/passwd",
    "",
    "a\x00b",
    "a/../b",
    "..",
    ".",
    "a//b",
    "a/",
    ".hidden",
    "a/.part",
    "a b",
    "a\\b",
    "caf\u00e9",
    "x" * 1025,
    "a/" + "y" * 201,
]
GOOD_KEYS = ["a", "orgs/5f1a/exports/5f1b.zip", "A_b-c.d", "_x/1.2.3", "x" * 200]

OPERATIONS: dict[str, Callable[[Any, str], Any]] = {
    "open_writer": lambda store, key: store.open_writer(key),
    "open_reader": lambda store, key: store.open_reader(key),
    "delete": lambda store, key: store.delete(key),
    "exists": lambda store, key: store.exists(key),
    "size": lambda store, key: store.size(key),
}


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_are_rejected(key: str) -> None:
    assert not is_valid_key(key)
    with pytest.raises(Fault) as raised:
        validate_key(key)
    assert raised.value.err_code == "cortex.invalidArgument.fileKey"
    assert raised.value.status == 400


@pytest.mark.parametrize("key", GOOD_KEYS)
def test_good_keys_are_accepted(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("key", ["../escaped", "/etc/passwd", "", "a\x00b", "a/../../escaped"])
@pytest.mark.parametrize("which", ["local", "encrypted", "s3"])
def test_every_operation_rejects_bad_keys_without_touching_disk(
    which: str, key: str, operation: str, backend: LocalFileStore, store: EncryptedFileStore, tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    target = {"local": lambda: backend, "encrypted": lambda: store,
              "s3": lambda: request.getfixturevalue("s3_backend")}[which]()
    before = sorted(path.relative_to(tmp_path) for path in tmp_path.rglob("*"))
    with pytest.raises(Fault) as raised:
        OPERATIONS[operation](target, key)
    assert raised.value.err_code == "cortex.invalidArgument.fileKey"
    assert sorted(path.relative_to(tmp_path) for path in tmp_path.rglob("*")) == before
    assert not (tmp_path / "escaped").exists()
    if which == "s3":  # nor the bucket
        assert list(target.list_keys()) == [] and list(target.list_partials()) == []


@pytest.mark.parametrize("prefix", ["../", "/etc", "a//", ".", "a\x00"])
@pytest.mark.parametrize("which", ["local", "s3"])
def test_listing_rejects_bad_prefixes(backend: LocalFileStore, prefix: str, which: str,
                                      request: pytest.FixtureRequest) -> None:
    target = backend if which == "local" else request.getfixturevalue("s3_backend")
    for listing in (target.list_keys, target.list_partials):
        with pytest.raises(Fault) as raised:
            list(listing(prefix))
        assert raised.value.err_code == "cortex.invalidArgument.fileKey"
