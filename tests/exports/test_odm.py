"""CDISC ODM 1.3.2: metadata from the object definition, one SubjectData per document, valid
against the official schema, escaped, counted, and written with flat memory."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from opencortex import faults
from opencortex.exports.counting import OdmCounter, RecordCountError
from opencortex.exports.formats import ODM, FormatContext, format_for
from opencortex.exports.formats.odm import OdmOptions, check_odm_request, parse_odm_options
from opencortex.model.definitions import ObjectDefinition
from tests.support.memory import measure_peak_growth

from .dataset import FIXTURE, realistic_documents
from .odm_support import FIXTURE_CONTEXT, FIXTURE_DEFINITION, assert_valid_odm, parse_odm

NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}
MIB = 1024 * 1024


def written(documents: list[dict[str, Any]], options: OdmOptions | None = None,
            context: FormatContext = FIXTURE_CONTEXT) -> bytes:
    writer = format_for(ODM).open_writer(options, None, context)
    chunks = [writer.begin(), writer.write_documents(documents), *writer.finish()]
    writer.close()
    return b"".join(chunks)


def values(data: bytes) -> dict[str, dict[tuple[str, str | None], dict[str, str | None]]]:
    """SubjectKey -> (ItemGroupOID, RepeatKey) -> ItemOID -> Value (None for IsNull)."""
    root = parse_odm(data)
    subjects: dict[str, dict[tuple[str, str | None], dict[str, str | None]]] = {}
    for subject in root.iterfind(".//odm:SubjectData", NS):
        groups = subjects[subject.get("SubjectKey", "")] = {}
        for group in subject.iterfind(".//odm:ItemGroupData", NS):
            key = (group.get("ItemGroupOID", ""), group.get("ItemGroupRepeatKey"))
            assert key not in groups
            groups[key] = {item.get("ItemOID", ""): (None if item.get("IsNull") == "Yes" else item.get("Value"))
                           for item in group.iterfind("odm:ItemData", NS)}
    return subjects


def test_the_fixture_is_valid_odm_with_every_value_in_its_place():
    data = written(FIXTURE)
    assert_valid_odm(data)
    shown = values(data)
    assert list(shown) == [document["_id"] for document in FIXTURE]
    ada = shown["65f0c0ffee0000000000aa01"]
    root = ada[("IG.c_patient", None)]
    assert root["IT.c_patient._id"] == "65f0c0ffee0000000000aa01"
    assert root["IT.c_patient.created"] == "2024-04-01T12:00:00.512Z"
    assert root["IT.c_patient.c_score"] == "-12.5" and root["IT.c_patient.c_big"] == "9007199254740993"
    assert root["IT.c_patient.c_empty"] == "" and root["IT.c_patient.c_null"] is None
    assert root["IT.c_patient.c_name"] == '{"first":"Ada","last":"Lovelace"}'  # an Any: its JSON
    assert "IT.c_patient.object" not in root
    # Arrays are repeating groups keyed by position; an empty one has no group.
    assert ada[("IG.c_patient.c_tags", "1")] == {"IT.c_patient.c_tags": "a"}
    assert ada[("IG.c_patient.c_tags", "2")] == {"IT.c_patient.c_tags": "b"}
    assert ada[("IG.c_patient.c_visits", "2")] == {"IT.c_patient.c_visits.c_day": "2",
                                                   "IT.c_patient.c_visits.c_ok": "false",
                                                   "IT.c_patient.c_visits.c_note": None}
    zoe = shown["65f0c0ffee0000000000aa02"][("IG.c_patient", None)]
    assert zoe["IT.c_patient.c_tiny"] == "0.0000001"  # xs:decimal: no exponent
    assert zoe["IT.c_patient.c_note"] == 'He said "hi", then left\nnext line'  # survives attribute normalisation
    assert zoe["IT.c_patient.c_flags"] == "[true,null,2]"
    tabbed = shown["65f0c0ffee0000000000aa03"][("IG.c_patient", None)]
    assert tabbed["IT.c_patient.c_name"] == '{"first":"\\tindent","last":"cr\\rin"}'


def test_metadata_describes_the_definition():
    root = parse_odm(written([]))
    version = root.find("odm:Study/odm:MetaDataVersion", NS)
    assert version is not None
    items = {item.get("OID"): item for item in version.iterfind("odm:ItemDef", NS)}
    assert items["IT.c_patient.c_score"].get("DataType") == "float"
    assert items["IT.c_patient.c_visits.c_ok"].get("DataType") == "boolean"
    assert items["IT.c_patient.created"].get("DataType") == "datetime"
    label = items["IT.c_patient.c_note"].find("odm:Description/odm:TranslatedText", NS)
    assert label is not None and label.text == 'Note <&> "quoted"'
    groups = {group.get("OID"): group.get("Repeating") for group in version.iterfind("odm:ItemGroupDef", NS)}
    assert groups == {"IG.c_patient": "No", "IG.c_patient.c_tags": "Yes", "IG.c_patient.c_visits": "Yes"}
    refs = [ref.get("ItemGroupOID") for ref in version.iterfind("odm:FormDef/odm:ItemGroupRef", NS)]
    assert refs == list(groups)
    clinical = root.find("odm:ClinicalData", NS)
    assert clinical is not None and clinical.get("StudyOID") == "ST.c_patient"
    assert root.get("FileOID") == "65f0c0ffee0000000000ee01" and root.get("ODMVersion") == "1.3.2"


NESTED = ObjectDefinition.from_json({"name": "c_visit", "label": "Visit", "properties": [
    {"name": "c_code", "label": "Code", "type": "String", "validators": [
        {"name": "stringEnum", "definition": {"values": ["a<b", "c"]}}]},
    {"name": "c_when", "label": "When", "type": "Date", "dateOnly": True},
    {"name": "c_secret", "label": "Secret", "type": "String", "optional": True},
    {"name": "c_arms", "label": "Arms", "type": "Document", "array": True, "properties": [
        {"name": "c_name", "label": "Name", "type": "String"},
        {"name": "c_doses", "label": "Doses", "type": "Number", "array": True},
        {"name": "c_site", "label": "Site", "type": "Document", "properties": [
            {"name": "c_city", "label": "City", "type": "String"}]},
    ]},
]})


def test_nesting_lives_in_group_oids_and_composite_repeat_keys():
    document = {"_id": "65f0c0ffee0000000000aa09", "c_code": "a<b", "c_when": "2024-01-02", "c_secret": "s",
                "c_arms": [{"c_name": "A", "c_doses": [1, 2], "c_site": {"c_city": "Lyon"}},
                           {"c_name": "B", "c_doses": [], "c_site": {"c_city": "Oslo"}}]}
    context = FormatContext(definition=NESTED, export_id="x")
    data = written([document], context=context)
    assert_valid_odm(data)
    groups = values(data)["65f0c0ffee0000000000aa09"]
    assert groups[("IG.c_visit", None)] == {"IT.c_visit._id": "65f0c0ffee0000000000aa09", "IT.c_visit.c_code": "a<b",
                                           "IT.c_visit.c_when": "2024-01-02"}  # c_secret: optional, not included
    assert groups[("IG.c_visit.c_arms", "2")] == {"IT.c_visit.c_arms.c_name": "B"}
    assert groups[("IG.c_visit.c_arms.c_doses", "1.2")] == {"IT.c_visit.c_arms.c_doses": "2"}
    assert groups[("IG.c_visit.c_arms.c_site", "2")] == {"IT.c_visit.c_arms.c_site.c_city": "Oslo"}
    assert ("IG.c_visit.c_arms.c_doses", "2.1") not in groups
    version = parse_odm(data).find("odm:Study/odm:MetaDataVersion", NS)
    assert version is not None
    [code_list] = version.iterfind("odm:CodeList", NS)
    assert [item.get("CodedValue") for item in code_list] == ["a<b", "c"]
    dates = {item.get("OID"): item.get("DataType") for item in version.iterfind("odm:ItemDef", NS)}
    assert dates["IT.c_visit.c_when"] == "date"
    included = FormatContext(definition=NESTED, include=["c_secret"], paths=["c_code", "c_arms.c_name"])
    groups = values(written([document], context=included))["65f0c0ffee0000000000aa09"]
    assert groups[("IG.c_visit", None)] == {"IT.c_visit._id": "65f0c0ffee0000000000aa09", "IT.c_visit.c_code": "a<b",
                                           "IT.c_visit.c_secret": "s"}
    assert set(groups) == {("IG.c_visit", None), ("IG.c_visit.c_arms", "1"), ("IG.c_visit.c_arms", "2")}


def test_a_configured_subject_key_keys_the_subjects():
    data = written(FIXTURE[:2], OdmOptions(subject_key="c_score"))
    assert list(values(data)) == ["-12.5", "3"]
    with pytest.raises(faults.Fault, match="no c_score") as raised:
        written(FIXTURE, OdmOptions(subject_key="c_score"))  # the third has none
    assert raised.value.path == "odm.subjectKey"


def test_a_character_xml_cannot_carry_fails_the_export_instead_of_changing_the_value():
    with pytest.raises(faults.Fault, match="U\\+0001") as raised:
        written([{"_id": "65f0c0ffee0000000000aa01", "c_note": "bell\x01"}])
    assert raised.value.path == "format"


@pytest.mark.parametrize(("value", "path"), [
    ("yes", "odm"), ({"subjectKey": "c_number", "other": 1}, "odm.other"), ({"subjectKey": "c.x"}, "odm.subjectKey"),
    ({"subjectKey": 5}, "odm.subjectKey"),
])
def test_odm_options_are_checked(value, path):
    with pytest.raises(faults.Fault) as raised:
        parse_odm_options(value, True)
    assert raised.value.path == path
    with pytest.raises(faults.Fault, match="need format application/vnd.cdisc.odm\\+xml"):
        parse_odm_options({"subjectKey": "c_number"}, False)
    assert parse_odm_options(None, False) == parse_odm_options(None, True) == OdmOptions()


@pytest.mark.parametrize(("options", "definition", "paths", "expand", "path"), [
    (OdmOptions(), None, [], [], "format"),
    (OdmOptions(), FIXTURE_DEFINITION, [], ["c_site"], "expand"),
    (OdmOptions("c_nothing"), FIXTURE_DEFINITION, [], [], "odm.subjectKey"),
    (OdmOptions("c_tags"), FIXTURE_DEFINITION, [], [], "odm.subjectKey"),  # an array
    (OdmOptions("c_visits"), FIXTURE_DEFINITION, [], [], "odm.subjectKey"),  # a Document
    (OdmOptions("c_note"), FIXTURE_DEFINITION, ["c_score"], [], "odm.subjectKey"),  # not exported
])
def test_what_odm_cannot_write_is_refused_at_create(options, definition, paths, expand, path):
    with pytest.raises(faults.Fault) as raised:
        check_odm_request(options, definition, paths, [], expand)
    assert raised.value.path == path
    check_odm_request(OdmOptions("c_note"), FIXTURE_DEFINITION, ["c_note"], [], [])


def test_the_counter_counts_subjects_and_refuses_what_is_not_odm():
    data = written(FIXTURE)
    for size in (1, 13, len(data)):
        counter = OdmCounter()
        for start in range(0, len(data), size):
            counter.feed(data[start:start + size])
        assert counter.result() == 3
    for bad in (data[:-20], b"<ODM/>", data.replace(b"</ClinicalData>", b"")):
        counter = OdmCounter()
        with pytest.raises(RecordCountError):
            counter.feed(bad)
            counter.result()


def test_memory_stays_flat_while_documents_stream_through():
    writer = format_for(ODM).open_writer(None, None, FIXTURE_CONTEXT)
    peak_growth = measure_peak_growth()
    size = len(writer.begin())
    documents = realistic_documents(100_000)
    while batch := list(itertools.islice(documents, 1000)):
        size += len(writer.write_documents(batch))
    size += sum(map(len, writer.finish()))
    growth = peak_growth()
    assert writer.records == 100_000 and size > 20 * MIB
    assert growth < 30 * MIB, f"{growth / MIB:.1f} MiB for {size / MIB:.0f} MiB of ODM"
