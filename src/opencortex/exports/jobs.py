"""The export job as values: ``ExportJob`` (the record), ``ExportParameters`` (what to export),
``ExportState``, and the JSON edges between them and the outside.

Values cross layers, not rows: the queue turns each row it reads into an ``ExportJob``
(``ExportJob.from_row``) and everything else reads attributes. The record is the job: its
``state`` is the job's state, and its ``params`` column holds what to export, as validated at
create time (``exports.validation``), so a worker never meets a request it cannot run. That
column keeps one JSON shape (``ExportParameters.to_json``/``from_json``), the one it always had.
``export_json`` is the export as the API shows it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson

from opencortex.acl.levels import Access
from opencortex.clock import as_utc, iso, utcnow
from opencortex.exports.formats import ExportFormat, format_for
from opencortex.exports.formats.csv_writer import CsvOptions
from opencortex.exports.formats.odm import OdmOptions
from opencortex.exports.since import ExportSince
from opencortex.ids import new_object_id

STORAGE_ID = "medable"
"""The only storage an export can be written to: this server's own file store."""
EXPORT_ACCESS = Access.DELETE
"""The access an administrator (the only one who sees exports) has to one, as the API shows it."""
_PREFIX = re.compile(r"^([0-9a-f]{24})[./]([A-Za-z0-9_]+(?:[./][A-Za-z0-9_]+)*)$")


class ExportState(StrEnum):
    """``pending -> running -> ready | error``; see the diagram in ``docs/exports.md``."""

    PENDING = "pending"
    RUNNING = "running"
    READY = "ready"
    ERROR = "error"

    @property
    def ended(self) -> bool:
        """Whether the export has its outcome (it never runs again)."""
        return self in (ExportState.READY, ExportState.ERROR)


@dataclass(frozen=True)
class ExportPrefix:
    """``prefix``: what of one instance is exported instead of the whole object: a List property
    (``<_id>.<list>``), or a document array, possibly nested in Documents (``<_id>.<doc>.<array>``)."""

    instance_id: str
    property_path: str
    """Dotted: ``c_patients``, ``c_profile.c_contacts``."""

    @classmethod
    def parse(cls, text: object) -> ExportPrefix | None:
        """``<_id>.<property>[.<property>...]`` (or with ``/``); None when ``text`` is not of that form."""
        match = _PREFIX.match(text) if isinstance(text, str) else None
        return None if match is None else cls(match.group(1), match.group(2).replace("/", "."))

    def __str__(self) -> str:
        return f"{self.instance_id}.{self.property_path}"


@dataclass(frozen=True)
class ExportWhere:
    """``where``: the JSON text as given (shown, and kept in the manifest) and the document it
    decodes to, decoded once (``None`` for a blank text: no condition)."""

    text: str
    document: dict[str, Any] | None = field(compare=False)

    @classmethod
    def from_text(cls, text: str) -> ExportWhere:
        """A stored ``where`` (validated when the export was created)."""
        document = orjson.loads(text) if text.strip() else None
        if document is not None and not isinstance(document, dict):
            raise ValueError(f"an export's where is a JSON object, not {text!r}")
        return cls(text, document)


@dataclass(frozen=True)
class ExportParameters:
    """What to export: the export's creatable properties, validated."""

    objects: str
    """The object's plural name (Cortex's ``objects``; the manifest's ``object``)."""
    object: str
    """The object's name: what the worker reads."""
    format: ExportFormat
    paths: Sequence[str] = ()
    include: Sequence[str] = ()
    expand: Sequence[str] = ()
    where: ExportWhere | None = None
    principal: str | None = None
    """The account (``_id``) the export reads as; None: every instance, in full."""
    prefix: ExportPrefix | None = None
    export_files: bool = False
    zip_files: bool = False
    after_script: str = ""
    storage_id: str = STORAGE_ID
    csv: CsvOptions | None = None
    """Only for a format with ``csv`` options (``text/csv``)."""
    odm: OdmOptions | None = None
    """Only for CDISC ODM (``application/vnd.cdisc.odm+xml``)."""
    deidentify: str | None = None
    """The name of the de-identification profile every document goes through (ours, not Cortex's)."""
    deidentify_id: str | None = None
    """That profile's ``_id``: a profile deleted and made again under the name is another profile."""
    max_entry_bytes: int | None = None
    """Cut the data entry into parts of at most this many bytes (ours, not Cortex's)."""
    since: ExportSince | None = None
    """Only what changed since an earlier export or a date, with deletions (ours: ``exports.incremental``)."""

    @property
    def format_options(self) -> CsvOptions | OdmOptions | None:
        """The options of the export's format, whichever it is."""
        return self.csv if self.csv is not None else self.odm

    def to_json(self) -> dict[str, Any]:
        """The ``params`` column, and the API's properties of the same names. Options beyond
        Cortex's properties are only written when set, so a record without them keeps the shape
        it always had."""
        params: dict[str, Any] = {
            "objects": self.objects,
            "object": self.object,
            "format": self.format.media_type,
            "paths": list(self.paths),
            "include": list(self.include),
            "expand": list(self.expand),
            "where": self.where.text if self.where is not None else None,
            "principal": self.principal,
            "prefix": str(self.prefix) if self.prefix is not None else None,
            "exportFiles": self.export_files,
            "zipFiles": self.zip_files,
            "afterScript": self.after_script,
            "storageId": self.storage_id,
            # Every export shows ``csv``; without CSV options, the defaults (all off).
            "csv": (self.csv or CsvOptions()).to_json(),
        }
        extensions = {"odm": self.odm.to_json() if self.odm is not None else None, "deidentify": self.deidentify,
                      "deidentifyId": self.deidentify_id, "maxEntryBytes": self.max_entry_bytes,
                      "since": str(self.since) if self.since is not None else None}
        params.update((key, value) for key, value in extensions.items() if value is not None)
        return params

    @classmethod
    def from_json(cls, params: Mapping[str, Any]) -> ExportParameters:
        """The ``params`` column (written by ``to_json``, so already validated)."""
        export_format = format_for(params["format"])
        options = None
        if export_format.options_key is not None and export_format.read_options is not None:
            options = export_format.read_options(params.get(export_format.options_key))
        prefix = None
        if params["prefix"] is not None:
            prefix = ExportPrefix.parse(params["prefix"])
            if prefix is None:
                raise ValueError(f"an export's prefix is <_id>.<listProperty>, not {params['prefix']!r}")
        return cls(
            objects=params["objects"],
            object=params["object"],
            format=export_format,
            paths=tuple(params["paths"]),
            include=tuple(params["include"]),
            expand=tuple(params["expand"]),
            where=ExportWhere.from_text(params["where"]) if params["where"] is not None else None,
            principal=params["principal"],
            prefix=prefix,
            export_files=bool(params["exportFiles"]),
            zip_files=bool(params["zipFiles"]),
            after_script=params["afterScript"] or "",
            storage_id=params["storageId"],
            csv=options if isinstance(options, CsvOptions) else None,
            odm=options if isinstance(options, OdmOptions) else None,
            # Records written before these options existed have none of their keys.
            deidentify=params.get("deidentify"),
            deidentify_id=params.get("deidentifyId"),
            max_entry_bytes=params.get("maxEntryBytes"),
            since=ExportSince.parse(params["since"]) if params.get("since") is not None else None,
        )


@dataclass(frozen=True)
class ExportJob:
    """An export record, as read from the database. JSON columns stay JSON documents
    (``stats``, ``progress``, ``events``, ``fault``, ``data_file``, ``files``): they are shown
    as they are."""

    id: str
    org_id: str
    state: ExportState
    label: str
    description: str | None
    parameters: ExportParameters
    creator: str
    owner: str
    created: datetime
    updated: datetime | None
    started: datetime | None
    completed: datetime | None
    expires_at: datetime | None
    stats: dict[str, Any]
    progress: dict[str, Any] | None
    events: list[dict[str, Any]]
    fault: dict[str, Any] | None
    data_file: dict[str, Any] | None
    """The archive's facet, once ready."""
    files: list[dict[str, Any]] | None
    """Facets of the files stored beside the archive (``exportFiles`` without ``zipFiles``)."""
    sha256: str | None
    lease_owner: str | None
    lease_expires: datetime | None
    cancel_requested: bool
    attempts: int
    """Runs started so far; the running attempt's output lives under its own folder."""
    sequence: int
    changes: dict[str, Any] | None = None
    """What a ready archive was read as of (``exports.incremental.ChangeRecord``), for exports after it."""
    schedule_id: str | None = None
    """The export schedule that created it."""

    @classmethod
    def from_row(cls, row: Mapping[Any, Any], parameters: ExportParameters | None = None) -> ExportJob:
        """A row of the ``exports`` table; ``parameters`` when the caller has them parsed already
        (it just wrote the row)."""
        return cls(
            id=row["id"],
            org_id=row["org_id"],
            state=ExportState(row["state"]),
            label=row["label"],
            description=row["description"],
            parameters=parameters or ExportParameters.from_json(row["params"]),
            creator=row["creator"],
            owner=row["owner"],
            created=as_utc(row["created"]),
            updated=_utc(row["updated"]),
            started=_utc(row["started"]),
            completed=_utc(row["completed"]),
            expires_at=_utc(row["expires_at"]),
            stats=row["stats"],
            progress=row["progress"],
            events=list(row["events"]),
            fault=row["fault"],
            data_file=row["data_file"],
            files=row["files"],
            sha256=row["sha256"],
            lease_owner=row["lease_owner"],
            lease_expires=_utc(row["lease_expires"]),
            cancel_requested=bool(row["cancel_requested"]),
            attempts=int(row["attempts"]),
            sequence=int(row["sequence"]),
            changes=row.get("changes"),
            schedule_id=row.get("schedule_id"),
        )

    @property
    def reads_as(self) -> str:
        """Whom the export reads (and its afterScript runs) as: its ``principal``, else its creator."""
        return self.parameters.principal or self.creator


def export_json(job: ExportJob, *, include_events: bool = False) -> dict[str, Any]:
    """The export as the API shows it: Cortex's properties plus ``progress``, ``sha256``, ``csv``,
    ``odm``, ``deidentify`` and ``maxEntryBytes``.

    Properties that were never set are left out, as the Export page's examples show them (no
    ``null``s): ``description``, ``where``, ``principal``, ``prefix``, ``afterScript``, empty
    ``paths``/``include``/``expand``, and, until they happen, ``updated``, ``started``,
    ``completed``, ``fault``, ``dataFile``, ``progress``. ``csv`` belongs to CSV exports only, ``odm``
    to ODM ones; ``deidentify`` and ``maxEntryBytes`` are shown when set.
    """
    params = job.parameters.to_json()
    document: dict[str, Any] = {
        "_id": job.id,
        "object": "export",
        "label": job.label,
        "description": job.description,
        "state": job.state.value,
        "format": params["format"],
        "objects": params["objects"],
        "paths": params["paths"] or None,
        "include": params["include"] or None,
        "expand": params["expand"] or None,
        "where": params["where"],
        "principal": params["principal"],
        "prefix": params["prefix"],
        "exportFiles": params["exportFiles"],
        "zipFiles": params["zipFiles"],
        "afterScript": params["afterScript"] or None,
        "storageId": params["storageId"],
        "csv": params["csv"] if job.parameters.csv is not None else None,
        "odm": params.get("odm"),
        "deidentify": params.get("deidentify"),
        "maxEntryBytes": params.get("maxEntryBytes"),
        "since": params.get("since"),
        "schedule": job.schedule_id,
        "stats": job.stats,
        "progress": job.progress,
        "expiresAt": iso(job.expires_at),
        "created": iso(job.created),
        "creator": account_reference(job.creator),
        "owner": account_reference(job.owner),
        "updated": iso(job.updated),
        "access": int(EXPORT_ACCESS),
        "started": iso(job.started),
        "completed": iso(job.completed),
        "fault": job.fault,
        "dataFile": job.data_file,
        "sha256": job.sha256 or None,
        "files": [shown_file(facet) for facet in job.files] if job.files else None,
    }
    if include_events:
        document["events"] = job.events
    return {key: value for key, value in document.items() if value is not None}


def account_reference(account_id: str) -> dict[str, Any]:
    """A reference to an account, as Cortex shows ``creator`` and ``owner``."""
    return {"_id": account_id, "object": "account", "path": f"/accounts/{account_id}"}


def shown_file(facet: Mapping[str, Any]) -> dict[str, Any]:
    """A stored file's facet as the API shows it: without its store key."""
    return {key: value for key, value in facet.items() if key != "key"}


def new_event(name: str, data: Mapping[str, Any] | None = None, when: datetime | None = None) -> dict[str, Any]:
    """One entry of an export's ``events`` trail."""
    return {"_id": new_object_id(), "name": name, "event": {**(data or {}), "at": iso(when or utcnow())}}


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else as_utc(moment)
