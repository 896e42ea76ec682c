"""What writes and deletes through the JSON API mean for an instance's files.

After a write that left pending facets (a filename written to a File property), each such facet
gets a ``storageId`` and an upload target, and the response shows the targets as ``uploads[]``
inside the property's value. After any write or delete, stored files the instance no longer
refers to (a replaced or removed file, a deleted instance) are released from the org's storage
accounting in the same transaction, and their bytes deleted once it has committed.

The routes use it like this::

    files = FileAttachments(runtime, base_url, org)
    with instances_of(...) as instances:          # one transaction
        created = instances.create(body)
        created = files.after_write(instances, created["_id"], body, created)
    files.finish()                                 # after commit: delete released bytes
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from opencortex.attachments.facets import PENDING, facets_of, file_property_paths, file_values
from opencortex.attachments.releases import delete_stored, reconcile, release_instance_files
from opencortex.attachments.targets import create_target, sweep_targets, upload_entry
from opencortex.ids import new_object_id
from opencortex.instances.service import Instances
from opencortex.runtime import Runtime


class FileAttachments:
    def __init__(self, runtime: Runtime, base_url: str, org: dict[str, Any]) -> None:
        self.runtime = runtime
        self.base_url = base_url
        self.org = org
        self.released: list[str] = []

    def after_write(
        self, instances: Instances, instance_id: str, names: Iterable[str], document: dict[str, Any] | None
    ) -> Any:
        """Targets for new pending facets of the properties ``names`` (the top-level keys this write
        named), and release of files no longer referred to. Returns ``document``, with ``uploads``
        in each File value that got targets (re-read so it shows their ``storageId``)."""
        paths = file_property_paths(instances.definition)
        if not paths:
            return document
        written = set(names)
        row = instances.get_row(instance_id)
        body = copy.deepcopy(row["body"])
        connection = instances.connection
        settings = self.runtime.settings
        entries: dict[str, list[dict[str, Any]]] = {}
        for path, value in file_values(instances.definition, body):
            if path.split(".")[0] not in written:
                continue
            for facet in (value, *[item for item in value.get("facets") or [] if isinstance(item, dict)]):
                if (
                    facet.get("state") != PENDING
                    or "storageId" in facet
                    or not isinstance(facet.get("filename"), str)
                ):
                    continue  # copies (copyFrom) and facets that already have a target are left alone
                facet["storageId"] = new_object_id()
                token, target = create_target(
                    connection,
                    org_id=instances.org_id,
                    object_name=instances.definition.name,
                    instance_id=instance_id,
                    property_path=path,
                    facet=facet,
                    principal=instances.viewer.account_id,
                    max_size=settings.max_upload_bytes,
                    lifetime_seconds=settings.upload_target_seconds,
                )
                entries[facet["storageId"]] = [upload_entry(token, target, self.base_url, self.org["code"])]
        if entries:
            instances.write_body(row, body)
            sweep_targets(connection, instances.org_id)
        self.released += reconcile(connection, instances, instance_id, body)
        if not entries or document is None:
            return document
        fresh = instances.get(instance_id)
        _attach_uploads(instances, fresh, entries)
        return fresh

    def after_delete(self, instances: Instances, instance_id: str) -> None:
        """Call after ``instances.delete`` in the same transaction."""
        if file_property_paths(instances.definition):
            self.released += release_instance_files(
                instances.connection, instances.org_id, instances.definition.name, instance_id
            )

    def finish(self) -> None:
        """After the transaction committed: delete the bytes of released files."""
        released, self.released = self.released, []
        if released:
            delete_stored(self.runtime.file_store, released)


def _attach_uploads(
    instances: Instances, document: dict[str, Any], entries: dict[str, list[dict[str, Any]]]
) -> None:
    """``uploads`` in each File value of the response that has a facet with a new target."""
    for _path, value in file_values(instances.definition, document):
        uploads = [entry for facet in facets_of(value) for entry in entries.get(str(facet.get("storageId")), [])]
        if uploads:
            value["uploads"] = uploads
