"""CDISC ODM 1.3.2 in tests: the official XML Schema (shipped in ``odm_1_3_2/``, see its README)
and an object definition that describes ``dataset.FIXTURE``."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from xml.etree.ElementTree import Element

import xmlschema

from opencortex.exports.formats import FormatContext
from opencortex.model.definitions import ObjectDefinition

SCHEMA = Path(__file__).parent / "odm_1_3_2" / "ODM1-3-2.xsd"

FIXTURE_DEFINITION = ObjectDefinition.from_json({"name": "c_patient", "label": "Patient", "properties": [
    {"name": "c_name", "label": "Name", "type": "Any"},
    {"name": "c_tags", "label": "Tags", "type": "String", "array": True},
    {"name": "c_visits", "label": "Visits", "type": "Document", "array": True, "properties": [
        {"name": "c_day", "label": "Day", "type": "Number"},
        {"name": "c_ok", "label": "OK", "type": "Boolean"},
        {"name": "c_note", "label": "Note", "type": "String"},
    ]},
    {"name": "c_score", "label": "Score", "type": "Number"},
    {"name": "c_big", "label": "Big", "type": "Number"},
    {"name": "c_ratio", "label": "Ratio", "type": "Number"},
    {"name": "c_tiny", "label": "Tiny", "type": "Number"},
    {"name": "c_empty", "label": "Empty", "type": "String"},
    {"name": "c_null", "label": "Null", "type": "String"},
    {"name": "c_note", "label": "Note <&> \"quoted\"", "type": "String"},
    {"name": "c_flags", "label": "Flags", "type": "Any"},
    {"name": "c_matrix", "label": "Matrix", "type": "Any"},
]})
FIXTURE_CONTEXT = FormatContext(definition=FIXTURE_DEFINITION, export_id="65f0c0ffee0000000000ee01")


@cache
def odm_schema() -> xmlschema.XMLSchema:
    """The ODM 1.3.2 schema, read from the files beside this module (never fetched)."""
    return xmlschema.XMLSchema(str(SCHEMA))


def assert_valid_odm(data: bytes) -> None:
    """Raises ``xmlschema.XMLSchemaValidationError`` (with the offending path) if ``data`` is not
    a valid ODM 1.3.2 document."""
    odm_schema().validate(data.decode("utf-8"))


def parse_odm(data: bytes) -> Element:
    """The document's root element, read by xmlschema's parser (which refuses entities and DTDs)."""
    root: Element = xmlschema.XMLResource(data.decode("utf-8")).root
    return root
