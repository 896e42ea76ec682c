"""CDISC ODM 1.3.2 XML (``application/vnd.cdisc.odm+xml``): the object's metadata, then one
``SubjectData`` per instance.

The file is one ``ODM`` document (``FileType="Snapshot"``): a ``Study`` whose ``MetaDataVersion``
is generated from the object definition (``odm_metadata``), then ``ClinicalData`` with one
``SubjectData`` per exported instance (the record ``verify`` counts), keyed by the instance's
``_id`` or by the property ``odm.subjectKey`` names. Each holds one ``StudyEventData`` with one
``FormData``, whose ``ItemGroupData`` carry the values as ``ItemData`` (``IsNull="Yes"`` for a
null; a missing value has no ``ItemData``).

Text is escaped by ``xml.sax.saxutils`` (attribute values with line breaks and tabs as character
references, so they survive attribute normalisation). A character XML 1.0 cannot carry at all
(most control characters) fails the export with a fault naming the instance and the property,
rather than being changed or dropped. Documents are written a batch at a time, so memory stays flat.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import orjson

import opencortex
from opencortex import faults
from opencortex.clock import iso, utcnow
from opencortex.exports.counting import OdmCounter
from opencortex.exports.formats.format import ExportFormat, FormatContext, FormatWriter
from opencortex.exports.formats.odm_metadata import (
    BOOLEAN,
    DATE,
    FILE,
    NUMBER,
    REFERENCE,
    SUBJECT_KEY_TYPES,
    TEXT,
    OdmGroup,
    OdmItem,
    OdmMetadata,
    build_metadata,
)
from opencortex.model.definitions import ObjectDefinition

MEDIA_TYPE = "application/vnd.cdisc.odm+xml"
OPTIONS_KEY = "odm"
NAMESPACE = "http://www.cdisc.org/ns/odm/v1.3"
ID_KEY = "_id"
_ATTRIBUTE = {'"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_TAIL = b"</ClinicalData>\n</ODM>\n"


@dataclass(frozen=True)
class OdmOptions:
    """``odm``: ``{subjectKey}``, the property whose value keys each ``SubjectData`` (``_id`` by default)."""

    subject_key: str = ID_KEY

    def to_json(self) -> dict[str, Any]:
        return {"subjectKey": self.subject_key}

    @classmethod
    def from_json(cls, value: Mapping[str, Any] | None) -> OdmOptions:
        return cls(subject_key=str((value or {}).get("subjectKey") or ID_KEY))


def parse_odm_options(value: Any, chosen: bool) -> OdmOptions:
    """The create request's ``odm``: ``{subjectKey}``, a top-level property name; options for
    another format are refused."""
    if value is None:
        return OdmOptions()
    if not isinstance(value, dict) or any(key != "subjectKey" for key in value):
        unknown = [key for key in value if key != "subjectKey"] if isinstance(value, dict) else []
        path = f"{OPTIONS_KEY}.{unknown[0]}" if unknown else OPTIONS_KEY
        raise faults.invalid_argument("odm takes {subjectKey}: the property that keys each subject.", path=path)
    if not chosen:
        raise faults.invalid_argument(f"odm options need format {MEDIA_TYPE}.", path=OPTIONS_KEY)
    key = value.get("subjectKey", ID_KEY)
    if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        raise faults.invalid_argument("odm.subjectKey names a top-level property (or _id).", path="odm.subjectKey")
    return OdmOptions(subject_key=key)


def check_odm_request(options: Any, definition: ObjectDefinition | None, paths: Sequence[str],
                      include: Sequence[str], expand: Sequence[str]) -> None:
    """What ODM cannot write is refused at create: anything but an object's instances, expanded
    references, and a subject key that is not a top-level String, Number or ObjectId the export holds."""
    if definition is None:
        raise faults.invalid_argument(f"{MEDIA_TYPE} exports an object's instances: not the Logs, nor the "
                                      "elements of a document array.", path="format")
    if expand:
        raise faults.invalid_argument(f"expand cannot be used with {MEDIA_TYPE}: a reference is written as its _id.",
                                      path="expand")
    key = options.subject_key if isinstance(options, OdmOptions) else ID_KEY
    if key == ID_KEY:
        return
    prop = definition.properties.get(key)
    if prop is None or prop.type_name not in SUBJECT_KEY_TYPES or prop.array:
        raise faults.invalid_argument(f"odm.subjectKey {key!r} is not a top-level String, Number or ObjectId "
                                      f"property of {definition.name}.", path="odm.subjectKey")
    selected = key in paths or key in include if paths else (not prop.optional or key in include)
    if not selected:
        raise faults.invalid_argument(f"odm.subjectKey {key!r} must be exported: add it to paths (or include).",
                                      path="odm.subjectKey")


class OdmWriter:
    media_type = MEDIA_TYPE
    extension = "xml"
    separator = b""  # every SubjectData ends with its own newline

    def __init__(self, options: OdmOptions | None, context: FormatContext | None) -> None:
        if context is None or context.definition is None:
            raise ValueError("an ODM writer needs the definition of the exported object")
        self.options = options or OdmOptions()
        self.context = context
        self.records = 0
        self.metadata = build_metadata(context.definition, context.paths, context.include, context.value_rule)
        self._created = iso(utcnow()) or ""
        self._metadata_xml = _metadata_xml(self.metadata)

    # One whole entry

    def begin(self) -> bytes:
        return self.head(0)

    def write_documents(self, documents: Iterable[Mapping[str, Any]]) -> bytes:
        return b"".join(self.encode_documents(documents))

    def write_encoded(self, documents: Iterable[bytes], *, single_line: bool = False) -> bytes:
        return self.write_documents(map(orjson.loads, documents))

    def finish(self) -> Iterator[bytes]:
        yield _TAIL

    def close(self) -> None:
        pass

    # Parts: each one a whole ODM document with the same metadata.

    def head(self, part: int) -> bytes:
        context = self.context
        file_oid = _escape_attribute(f"{context.export_id or 'export'}" + (f".part-{part:04d}" if part else ""))
        as_of = f' AsOfDateTime="{iso(context.as_of)}"' if context.as_of is not None else ""
        name = self.metadata.object
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<ODM xmlns="{NAMESPACE}" FileType="Snapshot" FileOID="{file_oid}" CreationDateTime="{self._created}"'
            f'{as_of} ODMVersion="1.3.2" Originator="OpenCortex" SourceSystem="OpenCortex" '
            f'SourceSystemVersion="{_escape_attribute(opencortex.__version__)}">\n'
            f"{self._metadata_xml}"
            f'<ClinicalData StudyOID="ST.{name}" MetaDataVersionOID="MDV.{name}">\n'
        ).encode()

    def tail(self) -> bytes:
        return _TAIL

    def empty(self) -> bytes:
        return self.head(1) + _TAIL

    def encode_documents(self, documents: Iterable[Mapping[str, Any]]) -> list[bytes]:
        subjects = [self._subject(document) for document in documents]
        self.records += len(subjects)
        return subjects

    def encode_encoded(self, documents: Iterable[bytes], *, single_line: bool = False) -> list[bytes]:
        return self.encode_documents(map(orjson.loads, documents))

    def finish_records(self) -> Iterator[list[bytes]]:
        return iter(())

    def _subject(self, document: Mapping[str, Any]) -> bytes:
        key_name = self.options.subject_key
        key = document.get(key_name)
        where = document.get(ID_KEY)
        if key is None or key == "" or isinstance(key, dict | list | bool):
            raise faults.invalid_argument(f"Instance {where} has no {key_name} to key its SubjectData with.",
                                          path="odm.subjectKey")
        name = self.metadata.object
        out = [f'<SubjectData SubjectKey="{_attribute(_text(key), where, key_name)}">'
               f'<StudyEventData StudyEventOID="SE.{name}"><FormData FormOID="F.{name}">']
        _group_data(out, self.metadata.root, document, None, where)
        out.append("</FormData></StudyEventData></SubjectData>\n")
        return "".join(out).encode()


def _group_data(out: list[str], group: OdmGroup, container: Mapping[str, Any], repeat_key: str | None,
                where: Any) -> None:
    """The ItemGroupData of ``group`` (held in ``container``) and of the groups inside it."""
    items = [_item_data(item, container.get(item.key), where) for item in group.items if item.key in container]
    if items:
        key = f' ItemGroupRepeatKey="{repeat_key}"' if repeat_key is not None else ""
        out.append(f'<ItemGroupData ItemGroupOID="{group.oid}"{key}>{"".join(items)}</ItemGroupData>')
    for child in group.groups:
        value = container.get(child.key)
        if child.elements is None:
            if isinstance(value, Mapping):
                _group_data(out, child, value, repeat_key, where)
            continue
        if not isinstance(value, list):
            continue
        for position, element in enumerate(value, start=1):
            element_key = f"{repeat_key}.{position}" if repeat_key is not None else str(position)
            if child.elements == "values":
                _group_data(out, child, {child.key: element}, element_key, where)
            elif isinstance(element, Mapping):
                _group_data(out, child, element, element_key, where)


def _item_data(item: OdmItem, value: Any, where: Any) -> str:
    if value is None:
        return f'<ItemData ItemOID="{item.oid}" IsNull="Yes"/>'
    return f'<ItemData ItemOID="{item.oid}" Value="{_attribute(_value(item, value), where, item.name)}"/>'


def _value(item: OdmItem, value: Any) -> str:
    writes = item.writes
    if writes == REFERENCE and isinstance(value, Mapping):
        return _text(value.get(ID_KEY))
    if writes == FILE and isinstance(value, Mapping):
        return _text(value.get("path") or value.get("filename") or "")
    if writes == BOOLEAN and isinstance(value, bool):
        return "true" if value else "false"
    if writes in (NUMBER, TEXT, DATE) or isinstance(value, str):
        return _text(value)
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _text(value: Any) -> str:
    """A scalar as ODM text: numbers in plain decimal notation (xs:decimal has no exponent)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = format(Decimal(repr(value)), "f")
        return text[:-2] if text.endswith(".0") else text
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _attribute(text: str, where: Any, name: str) -> str:
    bad = _NOT_XML.search(text)
    if bad is not None:
        raise faults.invalid_argument(
            f"{name} of instance {where} holds U+{ord(bad.group()):04X}, which XML 1.0 cannot carry: export it as "
            "NDJSON, JSON or CSV.", path="format")
    return escape(text, _ATTRIBUTE)


def _escape_attribute(text: str) -> str:
    return escape(_NOT_XML.sub("\ufffd", text), _ATTRIBUTE)


def _escape_text(text: str) -> str:
    return escape(_NOT_XML.sub("\ufffd", text))


def _translated(element: str, text: str) -> str:
    return f'<{element}><TranslatedText xml:lang="en">{_escape_text(text)}</TranslatedText></{element}>'


def _metadata_xml(metadata: OdmMetadata) -> str:
    """``Study`` with its ``MetaDataVersion``: written once per file, from the definition."""
    name = metadata.object
    label = metadata.label or name
    groups = list(metadata.all_groups())
    out = [
        f'<Study OID="ST.{name}">\n<GlobalVariables><StudyName>{_escape_text(label)}</StudyName>'
        f"<StudyDescription>{_escape_text(metadata.description or label)}</StudyDescription>"
        f"<ProtocolName>{name}</ProtocolName></GlobalVariables>\n",
        f'<MetaDataVersion OID="MDV.{name}" Name="{_escape_attribute(label)}">\n',
        f'<Protocol><StudyEventRef StudyEventOID="{metadata.event_oid}" Mandatory="Yes"/></Protocol>\n',
        f'<StudyEventDef OID="{metadata.event_oid}" Name="{_escape_attribute(label)}" Repeating="No" '
        f'Type="Common"><FormRef FormOID="{metadata.form_oid}" Mandatory="Yes"/></StudyEventDef>\n',
        f'<FormDef OID="{metadata.form_oid}" Name="{_escape_attribute(label)}" Repeating="No">',
        *(f'<ItemGroupRef ItemGroupOID="{group.oid}" Mandatory="No"/>' for group in groups),
        "</FormDef>\n",
    ]
    for group in groups:
        out.append(f'<ItemGroupDef OID="{group.oid}" Name="{_escape_attribute(group.name)}" '
                   f'Repeating="{"Yes" if group.repeating else "No"}">')
        out += [f'<ItemRef ItemOID="{item.oid}" Mandatory="{"Yes" if item.key == ID_KEY else "No"}"/>'
                for item in group.items]
        out.append("</ItemGroupDef>\n")
    items = list(metadata.all_items())
    for item in items:
        code_list = f'<CodeListRef CodeListOID="{item.code_list}"/>' if item.code_list else ""
        out.append(f'<ItemDef OID="{item.oid}" Name="{_escape_attribute(item.name)}" DataType="{item.data_type}">'
                   f"{_translated('Description', item.label)}{code_list}</ItemDef>\n")
    for item in items:
        if item.code_list:
            out.append(f'<CodeList OID="{item.code_list}" Name="{_escape_attribute(item.name)}" DataType="text">'
                       + "".join(f'<EnumeratedItem CodedValue="{_escape_attribute(code)}"/>' for code in item.codes)
                       + "</CodeList>\n")
    out.append("</MetaDataVersion>\n</Study>\n")
    return "".join(out)


def _open_writer(options: Any, spill_dir: str | Path | None, context: FormatContext | None = None) -> FormatWriter:
    return OdmWriter(options if isinstance(options, OdmOptions) else None, context)


ODM_FORMAT = ExportFormat(
    MEDIA_TYPE,
    "xml",
    _open_writer,
    OdmCounter,
    accepts_encoded=False,
    options_key=OPTIONS_KEY,
    parse_options=parse_odm_options,
    read_options=OdmOptions.from_json,
    check_request=check_odm_request,
)
