"""Releasing stored files that instances no longer refer to.

A replaced or removed file, or a deleted instance, gives its bytes back: their ``stored_files``
rows go in the write's transaction (so the org's usage is exact at once), the bytes themselves
after it commits (``delete_stored``). A crash in between leaves unaccounted bytes on disk, never
accounted bytes that are gone.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Connection

from opencortex.attachments.facets import storage_ids, storage_key
from opencortex.files.accounting import owned_keys, release_keys, release_owned
from opencortex.files.encrypted import EncryptedFileStore
from opencortex.instances.service import Instances

log = logging.getLogger("opencortex.files")


def reconcile(
    connection: Connection, instances: Instances, instance_id: str, body: dict[str, Any]
) -> list[str]:
    """Release the stored files of an instance that its body no longer refers to; returns their keys."""
    org_id, object_name = instances.org_id, instances.definition.name
    present = {storage_key(org_id, storage_id) for storage_id in storage_ids(instances.definition, body)}
    gone = [key for key in owned_keys(connection, org_id, object_name, instance_id) if key not in present]
    release_keys(connection, org_id, gone)
    return gone


def release_instance_files(
    connection: Connection, org_id: str, object_name: str, instance_id: str | None = None
) -> list[str]:
    """For deletes: release what an instance (or every instance of an object) stored; returns the
    keys to pass to ``delete_stored`` after the transaction commits."""
    return release_owned(connection, org_id, object_name, instance_id)


def delete_stored(store: EncryptedFileStore, keys: list[str]) -> None:
    for key in keys:
        try:
            store.delete(key)
        except Exception:  # the bytes are already unaccounted; a leftover only costs disk
            log.exception("could not delete released file %s", key)
