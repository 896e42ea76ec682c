"""``paths[]``, ``include[]`` and ``expand[]`` on exports, as on instance reads.

An export document (``jobs.export_json``) always keeps ``_id`` and ``object``. ``paths`` limits
it to the named properties (dotted sub-paths too: ``stats.docs.count``); ``include`` adds the
optional ``events``; ``expand`` replaces ``creator``/``owner`` (the references) by the account
they name, as does a ``paths`` entry below one of them (``creator.email``). A name that is not a
property of an export, or an ``expand`` of something other than a reference, is the read API's
fault for the same mistake.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opencortex import faults
from opencortex.exports.jobs import account_reference
from opencortex.exports.projection import project
from opencortex.instances.selection import Selection

EXPORT_PROPERTIES = frozenset({
    "_id", "object", "label", "description", "state", "format", "objects", "paths", "include", "expand", "where",
    "principal", "prefix", "exportFiles", "zipFiles", "afterScript", "storageId", "csv", "stats", "progress",
    "expiresAt", "created", "creator", "owner", "updated", "access", "started", "completed", "fault", "dataFile",
    "sha256", "files", "events",
})
OPTIONAL = frozenset({"events"})
REFERENCES = frozenset({"creator", "owner"})


@dataclass(frozen=True)
class ExportSelection:
    paths: tuple[tuple[str, ...], ...] | None = None
    include: frozenset[str] = frozenset()
    expand: frozenset[str] = frozenset()

    @classmethod
    def of(cls, selection: Selection) -> ExportSelection:
        """Checked: every name is an export property; only references expand."""
        for parts in selection.paths or ():
            _known(parts[0])
        for name in selection.include:
            _known(name.split(".")[0])
        expand = set()
        for parts in selection.expand:
            if parts[0] not in REFERENCES:
                _known(parts[0])
                raise faults.invalid_argument(f"{parts[0]!r} is not an expandable reference.", path=parts[0])
            expand.add(parts[0])
        for parts in selection.paths or ():
            if parts[0] in REFERENCES and len(parts) > 1:
                expand.add(parts[0])  # naming a reference's property expands it, as on instances
        return cls(selection.paths, frozenset(selection.include), frozenset(expand))

    @property
    def events(self) -> bool:
        """Whether the optional ``events`` are shown."""
        return "events" in self.include or any(parts[0] == "events" for parts in self.paths or ())


def select_properties(document: dict[str, Any], selection: ExportSelection,
                      accounts: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """The document as the selection asks, ``accounts`` (by ``_id``) filling expanded references;
    a reference to an account that no longer exists stays a reference."""
    shown = dict(document)
    for name in selection.expand:
        reference = shown.get(name)
        account = accounts.get(reference["_id"]) if isinstance(reference, dict) else None
        if account is not None:
            shown[name] = {**account, "path": account_reference(account["_id"])["path"]}
    if selection.paths is not None:
        shown = project(shown, selection.paths)
    return shown


def _known(name: str) -> None:
    if name not in EXPORT_PROPERTIES:
        raise faults.invalid_argument(f"Unknown property {name!r}.", path=name)
