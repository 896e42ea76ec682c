"""Facets inside stored instance bodies: finding them, naming their bytes, showing them as JSON.

A File property's stored value is its root ``content`` facet with the others under ``facets``
(see ``model.properties.file``). Once bytes are on their way, a facet also carries ``storageId``:
its bytes live under the store key ``orgs/<org>/files/<storageId>``, and the ``stored_files`` row
of that key counts them. When the upload completes the facet gains ``size``, ``ETag`` (MD5 of the
plaintext), ``sha256`` and ``location``, and its ``state`` becomes 2 (ready).
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Iterator, Mapping
from typing import Any

from opencortex import faults
from opencortex.model.definitions import ObjectDefinition
from opencortex.model.properties.file import ERROR, PENDING, PROCESSING, READY, ROOT_FACET

__all__ = ["ERROR", "PENDING", "PROCESSING", "READY", "ROOT_FACET"]

LOCATION_LOCAL = 3  # Cortex's storage LocationTypes.File: kept by this server's own file store
_SHOWN = (
    "name",
    "filename",
    "mime",
    "state",
    "size",
    "ETag",
    "sha256",
    "location",
    "storageId",
    "creator",
    "uploaded",
    "fault",
)


def storage_key(org_id: str, storage_id: str) -> str:
    return f"orgs/{org_id}/files/{storage_id}"


def file_property_paths(definition: ObjectDefinition) -> list[str]:
    """Dotted paths of every File property (``c_photo``, ``c_doc.c_scan``), any object type."""
    paths: list[str] = []

    def walk(properties: Mapping[str, Any], prefix: str) -> None:
        for name, prop in properties.items():
            if prop.type_name == "File":
                paths.append(prefix + name)
            children = getattr(prop, "properties", None)
            if prop.type_name == "Document" and children:
                walk(children, f"{prefix}{name}.")

    walk(definition.properties, "")
    for object_type in definition.object_types.values():
        walk(object_type.properties, "")
    return sorted(set(paths))


def file_values(
    definition: ObjectDefinition, body: Mapping[str, Any]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each stored File value in ``body`` with the dotted path of its property."""
    for path in file_property_paths(definition):
        yield from ((path, value) for value in _values_at(body, path.split(".")))


def _values_at(value: Any, parts: list[str]) -> Iterator[dict[str, Any]]:
    if isinstance(value, list):
        for item in value:
            yield from _values_at(item, parts)
        return
    if not isinstance(value, dict):
        return
    if not parts:
        yield value
        return
    yield from _values_at(value.get(parts[0]), parts[1:])


def facets_of(value: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The root facet (without its ``facets`` list) followed by the others."""
    root = {key: item for key, item in value.items() if key != "facets"}
    others = [facet for facet in value.get("facets") or [] if isinstance(facet, dict)]
    return [root, *others]


def find_facet(value: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    return next((facet for facet in facets_of(value) if facet.get("name") == name), None)


def storage_ids(definition: ObjectDefinition, body: Mapping[str, Any]) -> set[str]:
    return {
        facet["storageId"]
        for _path, value in file_values(definition, body)
        for facet in facets_of(value)
        if isinstance(facet.get("storageId"), str)
    }


def update_facet(
    body: dict[str, Any], definition: ObjectDefinition, storage_id: str, change: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Apply ``change`` to the facet holding ``storage_id`` (in place); returns it, or None."""
    for _path, value in file_values(definition, body):
        if value.get("storageId") == storage_id:
            value.update(change)
            return {key: item for key, item in value.items() if key != "facets"}
        for facet in value.get("facets") or []:
            if isinstance(facet, dict) and facet.get("storageId") == storage_id:
                facet.update(change)
                return facet
    return None


def facet_json(facet: Mapping[str, Any], instance_path: str, url: str | None = None) -> dict[str, Any]:
    """A facet as the API shows it: ``{object: 'facet', name, mime, size, state, ETag, path, url?...}``.

    ``instance_path`` is ``/<plural>/<_id>``; the stored ``path`` is relative to it.
    """
    shown: dict[str, Any] = {"object": "facet"}
    shown.update({key: facet[key] for key in _SHOWN if key in facet})
    relative = facet.get("path")
    if isinstance(relative, str):
        shown["path"] = f"{instance_path}/{relative.lstrip('/')}"
    if url is not None:
        shown["url"] = url
    return shown


def property_json(value: Mapping[str, Any], instance_path: str, url_for: Any = None) -> dict[str, Any]:
    """A File property's value (root facet plus ``facets``) with full paths and, for ready
    facets, ``url`` from ``url_for(facet)``."""

    def one(facet: Mapping[str, Any]) -> dict[str, Any]:
        url = url_for(facet) if url_for is not None and facet.get("state") == READY else None
        shown = facet_json(facet, instance_path, url)
        shown.pop("object")
        return shown

    root, *others = facets_of(value)
    return {**one(root), "facets": [one(facet) for facet in others]}


def require_ready(facet: Mapping[str, Any], path: str) -> None:
    """Faults for a facet whose bytes cannot be read: pending/processing (202) or failed."""
    state = facet.get("state")
    if state in (PENDING, PROCESSING):
        raise faults.media_not_ready(path=path)
    if state != READY or not isinstance(facet.get("storageId"), str):
        fault = facet.get("fault")
        detail = fault if isinstance(fault, dict) else {}
        raise faults.facet_failed(detail.get("reason") or detail.get("message"), path=path)


# Content types


def mime_for(filename: str) -> str:
    """The content type a filename's extension stands for (``application/octet-stream`` if none)."""
    return mimetypes.guess_type(filename, strict=False)[0] or "application/octet-stream"


def check_declared_mime(filename: str, declared: str | None, expected: str | None = None) -> str:
    """The rule for an uploaded file's declared content type; returns the type the file is stored as.

    The stored type is always the one the filename's extension stands for (``expected``, for a
    facet whose filename was given earlier). A declared type (the multipart part's Content-Type,
    or the request's for a raw body) is accepted when it is absent or
    ``application/octet-stream`` (the client does not know), when it equals that type, or when
    the filename's extension is one the declared type is known by (``image/jpeg`` for ``.jpe``).
    Anything else is ``mime_mismatch``.
    """
    stored = expected or mime_for(filename)
    if not declared:
        return stored
    kind = declared.split(";", 1)[0].strip().lower()
    if kind in ("", "application/octet-stream", stored.lower()):
        return stored
    extension = os.path.splitext(filename)[1].lower()
    if extension and extension in mimetypes.guess_all_extensions(kind, strict=False):
        return stored
    raise faults.mime_mismatch(
        f"The file is declared as {kind}, but {filename!r} is {stored}.", path="content-type"
    )
