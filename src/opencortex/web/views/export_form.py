"""The export form: what was typed, the ``POST /exports`` body it stands for, and where on the form
each fault of the export's validation belongs.

Field names are the export's property names, so the body is the form, less what was left blank;
the format's own options (CSV's) go in only for that format, as an API client would send them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData

from opencortex import faults
from opencortex.exports.formats import DEFAULT_FORMAT, FORMATS, find_format
from opencortex.exports.formats.csv_writer import CsvOptions
from opencortex.web.context import form_text, form_texts

LISTS = ("paths", "include", "expand")
FIELDS = ("label", "description", "objects", "format", *LISTS, "where", "principal", "prefix", "exportFiles",
          "zipFiles", "afterScript", "csv", "odm", "deidentify", "maxEntryBytes")
FORM_LEVEL = "form"
"""Where a fault goes that names no field of the form."""
FORMAT_OPTIONS: dict[str, tuple[str, ...]] = {"csv": tuple(CsvOptions().to_json())}
"""Each format's options key and its switches (``csv``: ``bom``, ``formulaGuard``, ``dictionary``)."""


@dataclass
class ExportForm:
    label: str = ""
    description: str = ""
    objects: str = ""
    format: str = DEFAULT_FORMAT.media_type
    paths: list[str] = field(default_factory=list)
    include: list[str] = field(default_factory=list)
    expand: list[str] = field(default_factory=list)
    where: str = ""
    principal: str = ""
    prefix: str = ""
    export_files: bool = False
    zip_files: bool = False
    after_script: str = ""
    options: dict[str, dict[str, bool]] = field(default_factory=dict)
    """Per options key (``csv``), the switches that are on."""
    odm_subject_key: str = ""
    deidentify: str = ""
    max_entry_bytes: str = ""

    @classmethod
    def from_form(cls, form: FormData) -> ExportForm:
        return cls(
            label=form_text(form, "label"),
            description=form_text(form, "description"),
            objects=form_text(form, "objects"),
            format=form_text(form, "format") or DEFAULT_FORMAT.media_type,
            paths=form_texts(form, "paths"),
            include=form_texts(form, "include"),
            expand=form_texts(form, "expand"),
            where=form_text(form, "where"),
            principal=form_text(form, "principal"),
            prefix=form_text(form, "prefix"),
            export_files=form_text(form, "exportFiles") == "on",
            zip_files=form_text(form, "zipFiles") == "on",
            after_script=form_text(form, "afterScript"),
            options={key: {name: form_text(form, f"{key}.{name}") == "on" for name in names}
                     for key, names in FORMAT_OPTIONS.items()},
            odm_subject_key=form_text(form, "odm.subjectKey"),
            deidentify=form_text(form, "deidentify"),
            max_entry_bytes=form_text(form, "maxEntryBytes"),
        )

    def body(self) -> dict[str, Any]:
        """The ``POST /exports`` body this form stands for."""
        body: dict[str, Any] = {"label": self.label, "objects": self.objects, "format": self.format,
                                "exportFiles": self.export_files, "zipFiles": self.zip_files}
        if self.description:
            body["description"] = self.description
        for name in LISTS:
            if getattr(self, name):
                body[name] = list(getattr(self, name))
        for name, value in (("where", self.where), ("principal", self.principal), ("prefix", self.prefix),
                            ("afterScript", self.after_script)):
            if value.strip():
                body[name] = value.strip() if name in ("principal", "prefix") else value
        chosen = find_format(self.format)
        if chosen is not None and chosen.options_key in FORMAT_OPTIONS:
            body[chosen.options_key] = dict(self.options.get(chosen.options_key, {}))
        if chosen is not None and chosen.options_key == "odm" and self.odm_subject_key.strip():
            body["odm"] = {"subjectKey": self.odm_subject_key.strip()}
        if self.deidentify:
            body["deidentify"] = self.deidentify
        size = self.max_entry_bytes.strip()
        if size:  # what is not a number goes as typed, and comes back with the API's fault
            body["maxEntryBytes"] = int(size) if size.isdigit() else size
        return body

    def option_on(self, key: str, name: str) -> bool:
        return self.options.get(key, {}).get(name, False)


def format_choices() -> list[dict[str, str | None]]:
    """The formats of the registry, for the form's picker."""
    return [{"mediaType": export_format.media_type, "name": export_format.extension.upper(),
             "optionsKey": export_format.options_key} for export_format in FORMATS]


def field_errors(fault: faults.Fault, form: ExportForm) -> dict[str, str]:
    """The fault's message under each form field it concerns (``form`` when it names none).

    A fault names a property of the export (``label``, ``csv.bom``), or, for a query, a property
    of the exported object: that is the ``where``. A property named by the read plan's checks
    belongs to whichever of ``paths``, ``include`` and ``expand`` asked for it.
    """
    errors: dict[str, str] = {}
    for child in fault.faults or [fault]:
        message = child.reason or child.message
        for name in _fields_of(child, fault, form):
            errors[name] = f"{errors[name]} {message}" if name in errors else message
    return errors


def _fields_of(child: faults.Fault, parent: faults.Fault, form: ExportForm) -> list[str]:
    path = child.path or parent.path or ""
    top = path.split(".")[0].split("[")[0]
    if faults.query_invalid.err_code in (child.err_code, parent.err_code):
        return ["where"]  # the body's only query; its path names a property of the object
    if top in FIELDS:
        return [top]
    named = [name for name in LISTS if path and any(_same_property(value, path) for value in getattr(form, name))]
    return named or [FORM_LEVEL]


def _same_property(chosen: str, named: str) -> bool:
    return chosen == named or chosen.startswith(named + ".") or named.startswith(chosen + ".")
