"""Where an export's output lives in the file store, and removing it with its storage accounting.

Each attempt writes under its own folder (``exports/<id>/<attempt>/``), so a worker that lost its
lease can only ever remove its own output, never the output of the run that replaced it. Removing
is by folder (``delete_prefix``): the committed objects and the partial writes a killed worker
left (``exports/<id>/<attempt>/.archive.zip.<random>.part`` in a local store, an unfinished
multipart upload in S3) go together, with the folders they leave empty.
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


def remove_output(runtime: Runtime, org_id: str, export_id: str, attempt: int | None = None) -> int:
    """Delete what an export stored (one attempt's output, or all of it), partial writes included,
    stop counting it, and remove the folders it leaves; returns how many objects and partials went.

    Remove all of it only once no attempt can write any more (the export ended in error, or is
    deleted): a new attempt's output could otherwise be removed under it."""
    store = runtime.file_store
    prefix = output_prefix(export_id, attempt)
    # The accounting first: a key counted against the org but no longer stored would stay counted
    # forever, whereas a key released here and (if the delete fails) still stored is only swept.
    keys = list(store.list_keys(prefix))
    if keys:
        with runtime.database.begin() as connection:
            release_keys(connection, org_id, keys)
    return store.delete_prefix(prefix)


def remove_earlier_attempts(runtime: Runtime, export_id: str, attempt: int) -> int:
    """Delete the output of the export's attempts before ``attempt``, partial writes included
    (never counted as stored: only a finished attempt is, and a finished export never runs again);
    returns how many objects and partials went."""
    store = runtime.file_store
    removed = 0
    for earlier in sorted(_attempt_folders(runtime, export_id) - {attempt}):
        if earlier < attempt:
            removed += store.delete_prefix(output_prefix(export_id, earlier))
    return removed


def _attempt_folders(runtime: Runtime, export_id: str) -> set[int]:
    """The attempts that left anything (objects or partial writes) under the export's folder."""
    store = runtime.file_store
    prefix = output_prefix(export_id)
    keys = [*store.list_keys(prefix), *(partial.key for partial in store.list_partials(prefix))]
    folders = {key[len(prefix):].split("/", 1)[0] for key in keys}
    return {int(folder) for folder in folders if folder.isdigit()}
