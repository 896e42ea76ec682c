"""Uploads: a file's bytes into the encrypted store, and its facet from pending to ready.

Two ways in, one path through:

- **Upload target** (Cortex's two stages): writing a filename left a pending facet with a
  ``storageId`` and a target (``targets``); ``plan_target`` checks the token and that its
  principal may still write the property, ``open_sink`` claims the target once the file's name
  and type are known, and ``complete`` turns the facet ready.
- **Direct upload** (``POST``/``PUT /{plural}/{id}/{fileProperty}`` with the file as the body):
  ``plan_direct`` checks the caller may write the property, ``open_sink`` checks the file's name
  and type, and ``complete`` puts a ready ``content`` facet in the property, replacing what was
  there.

Bytes go to the store first, under a new key; the facet and the storage accounting change
together in one transaction afterwards (which also checks the org's storage limit). Whatever
fails after bytes were stored deletes them; a target upload that fails after it was claimed
leaves its facet in state 3 (error) with the fault attached.

Access control is the caller's (or, for a target, its principal's) through ``Instances``, checked
before any byte is read and again when the upload completes.
"""

from __future__ import annotations

import copy
import fnmatch
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from sqlalchemy import Connection

from opencortex import faults
from opencortex.acl.viewer import Viewer, as_principal
from opencortex.attachments.facets import (
    ERROR,
    LOCATION_LOCAL,
    PENDING,
    READY,
    ROOT_FACET,
    check_declared_mime,
    facets_of,
    file_values,
    storage_key,
    update_facet,
)
from opencortex.attachments.releases import delete_stored, reconcile
from opencortex.attachments.targets import UploadTarget, claim_target, find_target
from opencortex.clock import iso, utcnow
from opencortex.files.accounting import UPLOAD, StorageOwner, check_room, record_stored
from opencortex.files.encrypted import EncryptedFileStore, EncryptedWriter, StoredObject
from opencortex.ids import is_object_id, new_object_id
from opencortex.instances.service import Instances
from opencortex.model.objects import find_object
from opencortex.model.properties import PropertyDefinition
from opencortex.runtime import Runtime

log = logging.getLogger("opencortex.files")

_T = TypeVar("_T")
_ATTEMPTS = 3  # a completion that lost a race with another write to the instance is retried


class UploadSink:
    """Takes one file's bytes: counts them against the upload limit, encrypts and stores them."""

    def __init__(self, store: EncryptedFileStore, key: str, max_bytes: int) -> None:
        self.key = key
        self.max_bytes = max_bytes
        self.size = 0
        self._writer: EncryptedWriter = store.open_writer(key)

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.max_bytes:
            self.abort()
            raise too_large(self.max_bytes)
        self._writer.write(chunk)

    def commit(self) -> StoredObject:
        return self._writer.commit()

    def abort(self) -> None:
        self._writer.abort()


def too_large(max_bytes: int) -> faults.Fault:
    return faults.upload_too_large(f"Files of at most {max_bytes} bytes are accepted here.", path="file")


@dataclass(frozen=True)
class UploadPlan:
    """Where one upload's bytes go, and what they must satisfy; made before any byte is read."""

    org: dict[str, Any]
    object_name: str
    instance_id: str
    property_path: str  # dotted path of the File property
    facet: str
    storage_id: str
    principal: str  # the account the upload acts as
    max_bytes: int
    target: UploadTarget | None = None
    replace: bool = True  # direct uploads: PUT replaces a ready file, POST refuses to
    filename: str | None = None  # known up front for a target; from the request for a direct upload
    mime: str | None = None
    viewer: Viewer | None = field(default=None, compare=False)  # the direct upload's caller
    replaces_bytes: int = 0  # what a direct upload replaces, for the early storage check

    @property
    def key(self) -> str:
        return storage_key(self.org["id"], self.storage_id)

    @property
    def resource(self) -> str:
        return f"{self.object_name}.{self.instance_id}.{self.property_path}.{self.facet}"


class FileUploads:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.store = runtime.file_store

    # Planning: before any byte is read

    def plan_direct(
        self,
        viewer: Viewer,
        org: dict[str, Any],
        plural: str,
        instance_id: str,
        parts: list[str],
        *,
        replace: bool,
        by_plural: bool = True,
    ) -> UploadPlan:
        """``parts``: the File property's path, optionally ending in ``content``. ``plural`` names
        the object (by its name too, with ``by_plural=False``)."""
        property_path = ".".join(parts[:-1] if len(parts) > 1 and parts[-1] == ROOT_FACET else parts)
        with self.runtime.database.connect() as connection:
            instances = self._instances(connection, org["id"], plural, viewer)
            if by_plural and instances.definition.plural_name != plural:
                raise faults.route_not_found(f"No object has the plural name {plural!r}.", path=plural)
            row, prop = require_file_write(instances, instance_id, property_path)
            if prop.array:
                raise faults.upload_invalid(
                    "Direct uploads go to single File properties; write filenames to upload to an array.",
                    path=property_path,
                )
            if prop.creatable:
                raise faults.creatable_only("This property can only be set on create.", path=property_path)
            stored = _value_at(row["body"], property_path.split("."))
            if prop.validator("writeOnce") and stored is not None:
                raise faults.write_once("Value can only be set once.", path=property_path)
            if not replace and isinstance(stored, dict) and stored.get("state") == READY:
                raise faults.file_exists(path=property_path)
            replaces = _stored_size(stored)
            check_room(connection, self.settings, org["id"], -replaces)
        return UploadPlan(
            org=org,
            object_name=instances.definition.name,
            instance_id=instance_id,
            property_path=property_path,
            facet=ROOT_FACET,
            storage_id=new_object_id(),
            principal=viewer.account_id,
            max_bytes=self.settings.max_upload_bytes,
            replace=replace,
            viewer=viewer,
            replaces_bytes=replaces,
        )

    def plan_target(self, org: dict[str, Any], token: str) -> UploadPlan:
        with self.runtime.database.connect() as connection:
            target = find_target(connection, org["id"], token)
            instances = self._instances(
                connection, org["id"], target.object, self._target_viewer(connection, target)
            )
            row, _prop = require_file_write(instances, target.instance_id, target.property)
            _pending_facet(instances, row["body"], target)
            check_room(connection, self.settings, org["id"], 0)
        return UploadPlan(
            org=org,
            object_name=target.object,
            instance_id=target.instance_id,
            property_path=target.property,
            facet=target.facet,
            storage_id=target.storage_id,
            principal=target.principal,
            max_bytes=target.max_size,
            target=target,
            filename=target.filename,
            mime=target.mime,
        )

    # Receiving: once the file's name and declared type are known

    def open_sink(
        self,
        plan: UploadPlan,
        filename: str | None,
        declared_type: str | None,
        declared_size: int | None = None,
    ) -> tuple[UploadPlan, UploadSink]:
        """Check the name and type, claim a target, and open the store; returns the completed plan."""
        if declared_size is not None and declared_size > plan.max_bytes:
            raise too_large(plan.max_bytes)
        if plan.target is not None:
            assert plan.filename is not None
            mime = check_declared_mime(plan.filename, declared_type, expected=plan.mime)
            if declared_size is not None:
                with self.runtime.database.connect() as connection:
                    check_room(connection, self.settings, plan.org["id"], declared_size)
            with self.runtime.database.begin() as connection:
                claim_target(connection, plan.target)
            plan = replace(plan, mime=mime)
        else:
            name = valid_filename(filename)
            mime = check_declared_mime(name, declared_type)
            check_accepted_mime(self.runtime, plan, mime)
            if declared_size is not None:
                with self.runtime.database.connect() as connection:
                    check_room(connection, self.settings, plan.org["id"], declared_size - plan.replaces_bytes)
            plan = replace(plan, filename=name, mime=mime)
        return plan, UploadSink(self.store, plan.key, plan.max_bytes)

    # Finishing

    def complete(self, plan: UploadPlan, stored: StoredObject) -> tuple[dict[str, Any], list[str]]:
        """Count the bytes, turn the facet ready; returns it and the keys of bytes it replaced
        (delete them with ``delete_stored``). On any fault the new bytes are deleted."""
        try:
            return _retrying(lambda: self._complete_once(plan, stored))
        except BaseException:
            self.store.delete(plan.key)
            raise

    def fail(self, plan: UploadPlan, fault: faults.Fault) -> None:
        """After a claimed target's upload failed: its facet goes to state 3 with the fault."""
        self.store.delete(plan.key)
        if plan.target is None:
            return
        detail = {
            key: value
            for key, value in fault.to_json().items()
            if key in ("object", "code", "errCode", "status", "message", "reason")
        }
        try:
            _retrying(lambda: self._mark_failed_once(plan, detail))
        except faults.Fault:
            log.info("upload %s failed (%s); its facet is gone already", plan.resource, fault.err_code)

    def delete_stored(self, keys: list[str]) -> None:
        delete_stored(self.store, keys)

    # Internals

    def _complete_once(self, plan: UploadPlan, stored: StoredObject) -> tuple[dict[str, Any], list[str]]:
        assert plan.filename is not None and plan.mime is not None
        with self.runtime.database.begin() as connection:
            viewer = plan.viewer if plan.target is None else self._target_viewer(connection, plan.target)
            assert viewer is not None
            instances = self._instances(connection, plan.org["id"], plan.object_name, viewer)
            row, _prop = require_file_write(instances, plan.instance_id, plan.property_path)
            body = copy.deepcopy(row["body"])
            ready = {
                "state": READY,
                "size": stored.size,
                "mime": plan.mime,
                "ETag": stored.md5,
                "sha256": stored.sha256,
                "location": LOCATION_LOCAL,
                "uploaded": iso(utcnow()),
            }
            if plan.target is not None:
                _pending_facet(instances, body, plan.target)
                facet = update_facet(body, instances.definition, plan.storage_id, ready)
            else:
                if not plan.replace:
                    current = _value_at(body, plan.property_path.split("."))
                    if isinstance(current, dict) and current.get("state") == READY:
                        raise faults.file_exists(path=plan.property_path)
                facet = {
                    "name": ROOT_FACET,
                    "filename": plan.filename,
                    "path": _facet_path(plan.property_path),
                    "storageId": plan.storage_id,
                    **ready,
                }
                if is_object_id(plan.principal):
                    facet["creator"] = plan.principal
                _set_value(body, plan.property_path, {**facet, "facets": []})
            assert facet is not None
            instances.write_body(row, body)
            # What this upload replaced is released first, so a replacement counts its net size.
            released = reconcile(connection, instances, plan.instance_id, body)
            record_stored(
                connection,
                self.settings,
                plan.org["id"],
                plan.key,
                stored.size,
                UPLOAD,
                StorageOwner(plan.object_name, plan.instance_id, plan.property_path, plan.facet),
            )
        return dict(facet), released

    def _mark_failed_once(self, plan: UploadPlan, detail: dict[str, Any]) -> None:
        with self.runtime.database.begin() as connection:
            instances = self._instances(
                connection, plan.org["id"], plan.object_name, Viewer.system(plan.org["id"])
            )
            row = instances.get_row(plan.instance_id)
            body = copy.deepcopy(row["body"])
            assert plan.target is not None
            _pending_facet(instances, body, plan.target)
            update_facet(body, instances.definition, plan.storage_id, {"state": ERROR, "fault": detail})
            instances.write_body(row, body)

    def _instances(self, connection: Connection, org_id: str, object_name: str, viewer: Viewer) -> Instances:
        definition = find_object(connection, org_id, object_name)
        if definition is None:
            raise faults.route_not_found(f"No object is named {object_name!r}.", path=object_name)
        return Instances(connection, self.runtime.database.dialect, org_id, definition, viewer)

    @staticmethod
    def _target_viewer(connection: Connection, target: UploadTarget) -> Viewer:
        try:
            return as_principal(connection, target.org_id, target.principal)
        except faults.Fault:
            raise faults.property_update_denied(
                "The account this upload target was made for no longer exists.", path=target.property
            ) from None


def upload_file(
    runtime: Runtime,
    viewer: Viewer,
    org: dict[str, Any],
    object_name: str,
    instance_id: str,
    property_path: str,
    filename: str,
    chunks: Iterable[bytes],
    *,
    content_type: str | None = None,
    replace: bool = True,
) -> dict[str, Any]:
    """A direct upload from Python (the HTTP direct upload without HTTP): same checks, same result.

    ``object_name`` may be the object's name or plural name; returns the ready facet.
    """
    uploads = FileUploads(runtime)
    plan = uploads.plan_direct(
        viewer, org, object_name, instance_id, property_path.split("."), replace=replace, by_plural=False
    )
    plan, sink = uploads.open_sink(plan, filename, content_type)
    try:
        for chunk in chunks:
            sink.write(chunk)
        stored = sink.commit()
        facet, released = uploads.complete(plan, stored)
    except BaseException:
        sink.abort()
        uploads.store.delete(plan.key)
        raise
    uploads.delete_stored(released)
    return facet


# Shared with writes through the JSON API (attachments)


def require_file_write(
    instances: Instances, instance_id: str, property_path: str
) -> tuple[dict[str, Any], PropertyDefinition]:
    """The instance row and the File property, if the viewer may write that property.

    The instance must be visible (else not found), the property a File, and the viewer allowed to
    write it (``Instances.check_property_write``, the rules of every write).
    """
    row = instances.get_row(instance_id)
    prop = instances.definition.find_property(property_path, row["type"])
    if prop is not None and prop.type_name != "File":
        raise faults.not_a_file(f"{property_path} is a {prop.type_name} property.", path=property_path)
    return row, instances.check_property_write(row, property_path)


def valid_filename(filename: str | None) -> str:
    if filename is None or not filename.strip():
        raise faults.upload_invalid(
            "The file needs a name: the multipart part's filename, or ?filename= for a raw body.",
            path="filename",
        )
    name = filename.strip()
    if len(name) > 255 or any(char in name for char in "/\\\x00") or any(ord(char) < 32 for char in name):
        raise faults.upload_invalid(
            "A filename is 1 to 255 characters, without slashes or control characters.", path="filename"
        )
    return name


def check_accepted_mime(runtime: Runtime, plan: UploadPlan, mime: str) -> None:
    """The File property's ``processors`` may limit the content facet to some types (``image/*``)."""
    with runtime.database.connect() as connection:
        definition = find_object(connection, plan.org["id"], plan.object_name)
    prop = definition.find_property(plan.property_path) if definition else None
    processors = (prop.options.get("processors") if prop is not None else None) or []
    processor = next((entry for entry in processors if entry.get("name") == ROOT_FACET), None)
    accepted = (processor or {}).get("mimes") or ["*"]
    if not any(fnmatch.fnmatchcase(mime, pattern) for pattern in accepted):
        raise faults.mime_mismatch(
            f"{mime} files are not accepted here (accepted: {', '.join(accepted)}).", path=plan.property_path
        )


def _pending_facet(instances: Instances, body: dict[str, Any], target: UploadTarget) -> None:
    """The target's facet must still be in the body and pending, else the target is stale."""
    for _path, value in file_values(instances.definition, body):
        for facet in facets_of(value):
            if facet.get("storageId") == target.storage_id:
                if facet.get("state") != PENDING:
                    raise faults.upload_used("This file has already been uploaded.", path="token")
                return
    raise faults.upload_expired(
        "The property was written again since; use the newest upload target.", path="token"
    )


def _stored_size(value: Any) -> int:
    """The bytes a stored File value holds (its facets that have bytes)."""
    if not isinstance(value, dict):
        return 0
    return sum(
        int(facet.get("size") or 0) for facet in facets_of(value) if isinstance(facet.get("storageId"), str)
    )


def _value_at(body: Any, parts: list[str]) -> Any:
    for part in parts:
        if not isinstance(body, dict):
            return None
        body = body.get(part)
    return body


def _set_value(body: dict[str, Any], property_path: str, value: dict[str, Any]) -> None:
    *parents, name = property_path.split(".")
    holder = body
    for part in parents:
        child = holder.get(part)
        if not isinstance(child, dict):
            raise faults.upload_invalid(
                f"Write {part} first: a file can only be uploaded into a document that exists.",
                path=property_path,
            )
        holder = child
    holder[name] = value


def _facet_path(property_path: str) -> str:
    return f"{property_path.replace('.', '/')}/{ROOT_FACET}"


def _retrying(attempt: Callable[[], _T]) -> _T:
    for remaining in range(_ATTEMPTS - 1, -1, -1):
        try:
            return attempt()
        except faults.Fault as fault:
            if fault.kind is not faults.sequence_conflict or not remaining:
                raise
    raise AssertionError("unreachable")
