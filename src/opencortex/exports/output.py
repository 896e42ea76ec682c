"""Where an export's output lives in the file store, and removing it with its storage accounting.

Each attempt writes under its own folder (``exports/<id>/<attempt>/``), so a worker that lost its
lease can only ever remove its own output, never the output of the run that replaced it.
"""

from __future__ import annotations

from opencortex.files.accounting import release_keys
from opencortex.runtime import Runtime

ARCHIVE_NAME = "archive.zip"


def output_prefix(export_id: str, attempt: int | None = None) -> str:
    """The folder of one attempt's output, or (``attempt`` None) of all of the export's output."""
    return f"exports/{export_id}/" if attempt is None else f"exports/{export_id}/{attempt}/"


def archive_key(export_id: str, attempt: int) -> str:
    return output_prefix(export_id, attempt) + ARCHIVE_NAME


def remove_output(runtime: Runtime, org_id: str, export_id: str, attempt: int | None = None) -> None:
    """Delete what an export stored (one attempt's output, or all of it), stop counting it, and
    remove the folders it leaves in a local store (``exports/<id>/[<attempt>/]``).

    Remove all of it only once no attempt can write any more (the export ended in error, or is
    deleted): a new attempt's folders could otherwise be removed under it."""
    store = runtime.file_store
    prefix = output_prefix(export_id, attempt)
    keys = list(store.list_keys(prefix))
    if keys:
        with runtime.database.begin() as connection:
            release_keys(connection, org_id, keys)
    for key in keys:
        store.delete(key)
    store.remove_empty_folders(prefix)


def remove_earlier_attempts(runtime: Runtime, export_id: str, attempt: int) -> None:
    """Delete the partial output of the export's earlier attempts (never counted as stored)."""
    store = runtime.file_store
    current = output_prefix(export_id, attempt)
    for key in list(store.list_keys(output_prefix(export_id))):
        if not key.startswith(current):
            store.delete(key)
    for earlier in range(1, attempt):
        store.remove_empty_folders(output_prefix(export_id, earlier))
