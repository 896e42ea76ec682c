"""File: the value shape of a file property and how clients start an upload.

The stored value is the root ``content`` facet with the other facets under ``facets``:
``{name, filename, mime, state, path, [size, ETag, location, creator, copyFrom], facets: [...]}``.
Writing a filename (``"scan.png"``, ``"upload://scan.png"``, ``{upload: "scan.png"}``,
``{source: "upload", filename}``, or ``{content: "scan.png", <facet>: ...}``) creates pending
facets (state 0); a facet path (``"/c_things/<id>/c_scan/content"``, ``facet://...``,
``{source: "facet", path, filename}``) creates a pending copy. Moving bytes, and filling in
``size``/``ETag``/``location``/``state``, is the file store's job. ``path`` is relative to the
instance: the API layer prefixes ``/<plural>/<_id>/``.
"""

from __future__ import annotations

import fnmatch
import mimetypes
import re
from typing import Any

from opencortex import faults
from opencortex.ids import is_object_id
from opencortex.model.properties import options as read
from opencortex.model.properties.base import PropertyDefinition, WriteContext
from opencortex.model.properties.options import Option

PENDING, PROCESSING, READY, ERROR, DEAD = 0, 1, 2, 3, 4
ROOT_FACET = "content"
_FACET_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DEFAULT_PROCESSORS = ({"name": ROOT_FACET, "allowUpload": True, "mimes": ["*"]},)


def _processors(value: Any, path: str) -> list[dict[str, Any]]:
    """``[{name, mimes?, allowUpload?, ...}]``: the facets a file has; stored as given."""
    if not isinstance(value, list) or not 1 <= len(value) <= 20:
        raise faults.invalid_definition("processors is a list of 1 to 20 facet processors.", path=path)
    names: set[str] = set()
    for index, entry in enumerate(value):
        entry_path = f"{path}[{index}]"
        processor = read.json_object()(entry, entry_path)
        name = processor.get("name")
        if not isinstance(name, str) or not _FACET_NAME.match(name) or name in names:
            raise faults.invalid_definition(
                "Each processor needs a unique facet name.", path=f"{entry_path}.name"
            )
        names.add(name)
        if "mimes" in processor:
            read.string_list(50, read.text(1, 128))(processor["mimes"], f"{entry_path}.mimes")
        if "allowUpload" in processor:
            read.boolean(processor["allowUpload"], f"{entry_path}.allowUpload")
    if ROOT_FACET not in names:
        raise faults.invalid_definition("A file needs a 'content' processor (the root facet).", path=path)
    return value


class FileProperty(PropertyDefinition):
    type_name = "File"
    indexable = False
    static_defaults = False
    type_options = (Option("processors", _processors, None),)

    def _processor(self, facet: str) -> dict[str, Any] | None:
        processors = self.options.get("processors") or _DEFAULT_PROCESSORS
        return next((entry for entry in processors if entry["name"] == facet), None)

    def coerce_value(self, value: Any, path: str, ctx: WriteContext, previous: Any) -> dict[str, Any]:
        requests = _facet_requests(value, path)
        if ROOT_FACET not in requests:
            raise faults.invalid_value("A file write needs the 'content' facet.", path=path)
        relative = path.replace(".", "/").replace("[", "/").replace("]", "")
        facets = []
        for facet, (filename, copy_from) in requests.items():
            facet_path = f"{path}.{facet}" if isinstance(value, dict) and facet in value else path
            processor = self._processor(facet)
            if processor is None or processor.get("allowUpload") is False:
                raise faults.invalid_value(f"{facet!r} is not an uploadable facet.", path=facet_path)
            record: dict[str, Any] = {"name": facet, "state": PENDING, "path": f"{relative}/{facet}"}
            if filename is not None:
                mime = mimetypes.guess_type(filename)[0] or "application/octet-stream"
                accepted = processor.get("mimes") or ["*"]
                if not any(fnmatch.fnmatchcase(mime, pattern) for pattern in accepted):
                    raise faults.invalid_value(
                        f"{mime} files are not accepted here (accepted: {', '.join(accepted)}).",
                        path=facet_path,
                    )
                record.update(filename=filename, mime=mime)
            if copy_from:
                record["copyFrom"] = copy_from
            creator = ctx.env.get("ac.principal")
            if is_object_id(creator):
                record["creator"] = creator
            facets.append(record)
        root = next(record for record in facets if record["name"] == ROOT_FACET)
        return {**root, "facets": [record for record in facets if record["name"] != ROOT_FACET]}


def _facet_requests(value: Any, path: str) -> dict[str, tuple[str | None, str | None]]:
    """Facet name -> (filename, facet path to copy from), from any accepted value form. A copy
    without a filename keeps the source's, which only the file store knows."""
    if isinstance(value, str):
        return {ROOT_FACET: _one_request(value, path)}
    if not isinstance(value, dict):
        raise faults.invalid_value(
            "A file is written as a filename, a facet path or an upload object.", path=path
        )
    if "upload" in value or "source" in value:
        return {ROOT_FACET: _one_request(value, path)}
    if not value:
        raise faults.invalid_value("A file write names at least the 'content' facet.", path=path)
    requests: dict[str, tuple[str | None, str | None]] = {}
    for facet, entry in value.items():
        if not isinstance(facet, str) or not _FACET_NAME.match(facet):
            raise faults.invalid_value("Facet names are letters, digits, _ and -.", path=path)
        requests[facet] = _one_request(entry, f"{path}.{facet}")
    return requests


def _one_request(value: Any, path: str) -> tuple[str | None, str | None]:
    if isinstance(value, str):
        for scheme in ("file://", "upload://"):
            if value.startswith(scheme):
                return _filename(value[len(scheme) :], path), None
        if value.startswith("facet://") or "/" in value:
            return None, _facet_path(value, path)
        return _filename(value, path), None
    if isinstance(value, dict):
        if set(value) == {"upload"}:
            return _filename(value["upload"], path), None
        if value.get("source") == "upload" and set(value) <= {"source", "filename"}:
            return _filename(value.get("filename"), path), None
        if value.get("source") == "facet" and set(value) <= {"source", "filename", "path"}:
            filename = value.get("filename")
            return (None if filename is None else _filename(filename, path)), _facet_path(
                value.get("path"), path
            )
    raise faults.invalid_value(
        "Unrecognised file value; write a filename or {source, filename, path}.", path=path
    )


def _filename(value: Any, path: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 255 or any(c in value for c in "/\\\x00"):
        raise faults.invalid_value(
            "A filename of 1 to 255 characters without slashes is expected.", path=path
        )
    return value


def _facet_path(value: Any, path: str) -> str:
    """``/<plural>/<_id>/<property...>/<facet>`` from any of the facet path spellings."""
    if not isinstance(value, str):
        raise faults.invalid_value("A facet path is expected.", path=path)
    text = value.removeprefix("facet://")
    parts = [part for part in text.strip("/").split("/") if part]
    if len(parts) < 4 or not is_object_id(parts[1].lower()) or "\x00" in text:
        raise faults.invalid_value("A facet path looks like /<objects>/<_id>/<property>/<facet>.", path=path)
    return "/" + "/".join(parts)
