"""Writing and reading values of each property type: what is stored, and which fault at which path."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from opencortex.faults import Fault
from tests.model.property_helpers import leaves, make

CAST = "cortex.invalidArgument.castError"
ID = "5f0c6d7e8a9b0c1d2e3f4a5b"

VALID: list[tuple[str, dict[str, Any], Any, Any]] = [
    ("String", {}, "hello", "hello"),
    ("String", {"trim": True}, "  hi  ", "hi"),
    ("String", {"lowercase": True}, "HeLLo", "hello"),
    ("String", {"uppercase": True, "trim": True}, " ab ", "AB"),
    ("String", {}, "", ""),
    ("Number", {}, 3, 3),
    ("Number", {}, -2.5, -2.5),
    ("Number", {"min": 0, "max": 10}, 10, 10),
    ("Number", {"allowDecimal": False}, 4.0, 4.0),
    ("Boolean", {}, False, False),
    ("Date", {}, "2024-01-02T03:04:05+02:00", "2024-01-02T01:04:05.000Z"),
    ("Date", {}, "2024-01-02T03:04:05.123456Z", "2024-01-02T03:04:05.123Z"),
    ("Date", {}, "2024-01-02", "2024-01-02T00:00:00.000Z"),
    ("Date", {}, "2024-01-02T03:04:05", "2024-01-02T03:04:05.000Z"),
    ("Date", {"dateOnly": True}, "2024-02-29", "2024-02-29"),
    ("ObjectId", {}, ID.upper(), ID),
    ("Any", {}, {"a": [1, "x", None]}, {"a": [1, "x", None]}),
    ("Any", {"maxSize": 9}, {"a": 123}, {"a": 123}),
    ("Binary", {}, base64.b64encode(b"\x00\x01hi").decode(), "AAFoaQ=="),
    ("Binary", {"maxSize": 3}, base64.b64encode(b"abc").decode(), "YWJj"),
    ("Reference", {"sourceObject": "c_other"}, ID, ID),
    ("Reference", {"sourceObject": "c_other"}, {"_id": ID, "object": "c_other"}, ID),
    (
        "Geometry",
        {},
        {"type": "Point", "coordinates": [-180, 90]},
        {"type": "Point", "coordinates": [-180, 90]},
    ),
    (
        "Geometry",
        {"geoType": "MultiPoint"},
        {"type": "MultiPoint", "coordinates": [[1, 2], [179.9, -89.9]]},
        {"type": "MultiPoint", "coordinates": [[1, 2], [179.9, -89.9]]},
    ),
    ("String", {"array": True}, ["a", "b", "a"], ["a", "b", "a"]),
    ("Number", {"array": True, "uniqueValues": True}, [1, 2, 3], [1, 2, 3]),
    ("Number", {"array": True, "maxItems": 2, "maxShift": True}, [1, 2, 3], [2, 3]),
]


@pytest.mark.parametrize(("type_name", "options", "written", "stored"), VALID)
def test_valid_values_are_stored_normalised(
    type_name: str, options: dict[str, Any], written: Any, stored: Any
) -> None:
    assert make(type_name, **options).coerce(written, "c_value") == stored


INVALID: list[tuple[str, dict[str, Any], Any, list[tuple[str, str]]]] = [
    ("String", {}, 5, [("c_value", CAST)]),
    ("String", {}, "a\x00b", [("c_value", CAST)]),
    ("Number", {}, "5", [("c_value", CAST)]),
    ("Number", {}, True, [("c_value", CAST)]),
    ("Number", {}, 2**60, [("c_value", "cortex.invalidArgument.numberExpected")]),
    ("Number", {"min": 0, "max": 10}, 11, [("c_value", "cortex.invalidArgument.numberExpected")]),
    ("Number", {"allowDecimal": False}, 1.5, [("c_value", "cortex.invalidArgument.numberExpected")]),
    ("Boolean", {}, "true", [("c_value", CAST)]),
    ("Boolean", {}, 1, [("c_value", CAST)]),
    ("Date", {}, "yesterday", [("c_value", CAST)]),
    ("Date", {}, "2024-02-30T00:00:00Z", [("c_value", CAST)]),
    ("Date", {}, "2024", [("c_value", CAST)]),
    ("Date", {}, 1700000000000, [("c_value", CAST)]),
    ("Date", {"dateOnly": True}, "2024-01-02T00:00:00Z", [("c_value", "cortex.invalidArgument.unspecified")]),
    ("ObjectId", {}, "xyz", [("c_value", CAST)]),
    ("ObjectId", {}, ID + "0", [("c_value", CAST)]),
    ("Any", {"maxSize": 8}, {"a": 123}, [("c_value", "cortex.invalidArgument.tooLarge")]),
    ("Any", {}, {"k\x00": 1}, [("c_value", CAST)]),
    ("Binary", {}, "not base64!", [("c_value", CAST)]),
    ("Binary", {}, "YWJ", [("c_value", CAST)]),
    ("Binary", {}, 12, [("c_value", CAST)]),
    (
        "Binary",
        {"maxSize": 2},
        base64.b64encode(b"abc").decode(),
        [("c_value", "cortex.invalidArgument.tooLarge")],
    ),
    ("Binary", {}, base64.b64encode(bytes(10241)).decode(), [("c_value", "cortex.invalidArgument.tooLarge")]),
    ("Reference", {"sourceObject": "c_other"}, {"_id": ID, "object": "c_wrong"}, [("c_value", CAST)]),
    ("Reference", {"sourceObject": "c_other"}, "nope", [("c_value", CAST)]),
    (
        "Geometry",
        {},
        {"type": "Point", "coordinates": [181, 0]},
        [("c_value.coordinates[0]", "cortex.invalidArgument.invalidCoordinate")],
    ),
    (
        "Geometry",
        {},
        {"type": "Point", "coordinates": [0, -90.5]},
        [("c_value.coordinates[1]", "cortex.invalidArgument.invalidCoordinate")],
    ),
    (
        "Geometry",
        {},
        {"type": "Point", "coordinates": [0]},
        [("c_value.coordinates", "cortex.invalidArgument.invalidCoordinate")],
    ),
    (
        "Geometry",
        {},
        {"type": "Point", "coordinates": ["0", 1]},
        [("c_value.coordinates", "cortex.invalidArgument.invalidCoordinate")],
    ),
    ("Geometry", {}, {"type": "MultiPoint", "coordinates": [[0, 0]]}, [("c_value.type", CAST)]),
    ("Geometry", {}, [0, 0], [("c_value", CAST)]),
    (
        "Geometry",
        {"geoType": "MultiPoint"},
        {"type": "MultiPoint", "coordinates": [[0, 0], [0, 91]]},
        [("c_value.coordinates[1][1]", "cortex.invalidArgument.invalidCoordinate")],
    ),
    ("String", {"array": True}, "a", [("c_value", CAST)]),
    ("String", {"array": True}, ["a", 1, None], [("c_value[1]", CAST), ("c_value[2]", CAST)]),
    (
        "String",
        {"array": True, "maxItems": 2},
        ["a", "b", "c"],
        [("c_value", "cortex.invalidArgument.maxAllowed")],
    ),
    ("String", {"array": True, "minItems": 2}, ["a"], [("c_value", "cortex.invalidArgument.minItems")]),
    (
        "String",
        {"array": True, "uniqueValues": True},
        ["a", "b", "a"],
        [("c_value[2]", "cortex.conflict.uniqueInArray")],
    ),
]


@pytest.mark.parametrize(("type_name", "options", "written", "expected"), INVALID)
def test_invalid_values_fault_at_their_path(
    type_name: str, options: dict[str, Any], written: Any, expected: list[tuple[str, str]]
) -> None:
    with pytest.raises(Fault) as caught:
        make(type_name, **options).coerce(written, "c_value")
    assert leaves(caught.value) == expected


def test_list_properties_cannot_be_written() -> None:
    with pytest.raises(Fault) as caught:
        make("List", sourceObject="c_other").coerce([ID], "c_value")
    assert caught.value.err_code == "cortex.accessDenied.propertyUpdate"


def test_null_is_stored_unless_a_validator_forbids_it() -> None:
    assert make("String").coerce(None, "c_value") is None
    assert make("String", validators=[{"name": "email"}]).coerce(None, "c_value") is None  # allowNull true
    with pytest.raises(Fault) as caught:
        make("String", validators=[{"name": "string", "definition": {"max": 3}}]).coerce(None, "c_value")
    assert caught.value.err_code == "cortex.invalidArgument.invalidString"


@pytest.mark.parametrize(
    ("encoding", "shown"),
    [("base64", "aGk="), ("hex", "6869"), ("array", [104, 105]), ("utf8", "hi"), ("raw", "aGk=")],
)
def test_binary_reads_follow_output_encoding(encoding: str, shown: Any) -> None:
    assert make("Binary", outputEncoding=encoding).serialise("aGk=") == shown


def test_reads_of_references_and_stub_values() -> None:
    assert make("Reference", sourceObject="c_other").serialise(ID) == {"_id": ID, "object": "c_other"}
    assert make("Reference", sourceObject="c_other", array=True).serialise([ID]) == [
        {"_id": ID, "object": "c_other"}
    ]
    assert make("Any", stubValue="[]").serialise(None) == []
    assert make("List", sourceObject="c_other").serialise(None) is None


class TestFiles:
    @pytest.mark.parametrize(
        "written",
        [
            "scan.png",
            "upload://scan.png",
            "file://scan.png",
            {"upload": "scan.png"},
            {"source": "upload", "filename": "scan.png"},
            {"content": "scan.png"},
        ],
    )
    def test_a_filename_starts_a_pending_upload(self, written: Any) -> None:
        stored = make("File").coerce(written, "c_value")
        assert stored == {
            "name": "content",
            "state": 0,
            "path": "c_value/content",
            "filename": "scan.png",
            "mime": "image/png",
            "facets": [],
        }

    def test_copies_name_their_source_facet(self) -> None:
        stored = make("File").coerce(f"facet:///accounts/{ID}/image/content", "c_doc.c_value")
        assert stored["copyFrom"] == f"/accounts/{ID}/image/content"
        assert stored["path"] == "c_doc/c_value/content" and stored["state"] == 0
        explicit = make("File").coerce(
            {"source": "facet", "path": f"accounts/{ID}/image/content", "filename": "copy.jpg"}, "c_value"
        )
        assert explicit["filename"] == "copy.jpg" and explicit["mime"] == "image/jpeg"

    def test_extra_facets_and_creator(self) -> None:
        prop = make(
            "File",
            processors=[
                {"name": "content", "mimes": ["image/*"]},
                {"name": "overlay", "mimes": ["image/png"]},
            ],
        )
        from opencortex.model.properties import WriteContext

        stored = prop.coerce(
            {"content": "a.jpg", "overlay": "b.png"}, "c_value", WriteContext({"ac.principal": ID})
        )
        assert stored["creator"] == ID and [facet["name"] for facet in stored["facets"]] == ["overlay"]

    @pytest.mark.parametrize(
        ("written", "path"),
        [
            ("", "c_value"),
            ("a/b", "c_value"),
            ({"thumbnail": "a.png"}, "c_value"),
            (12, "c_value"),
            ({"content": "doc.pdf"}, "c_value.content"),
            ({"source": "facet", "path": "/x/y"}, "c_value"),
            ({"content": "a.png", "thumb": "b.png"}, "c_value.thumb"),
        ],
    )
    def test_bad_file_values(self, written: Any, path: str) -> None:
        prop = make("File", processors=[{"name": "content", "mimes": ["image/*"]}])
        with pytest.raises(Fault) as caught:
            prop.coerce(written, "c_value")
        assert leaves(caught.value) == [(path, CAST)]


class TestDocuments:
    def test_elements_get_ids_and_keep_given_ones(self) -> None:
        prop = make("Document", array=True, properties=[{"name": "c_a", "label": "A", "type": "Number"}])
        stored = prop.coerce([{"c_a": 1}, {"_id": ID.upper(), "c_a": 2}], "c_value")
        assert stored[0]["_id"] != ID and len(stored[0]["_id"]) == 24 and stored[1] == {"_id": ID, "c_a": 2}

    def test_duplicate_element_ids_are_refused(self) -> None:
        prop = make("Document", array=True, properties=[{"name": "c_a", "label": "A", "type": "Number"}])
        with pytest.raises(Fault) as caught:
            prop.coerce([{"_id": ID}, {"_id": ID}], "c_value")
        assert leaves(caught.value) == [("c_value[1]._id", "cortex.conflict.uniqueInArray")]

    def test_nested_faults_carry_full_paths(self) -> None:
        prop = make(
            "Document",
            array=True,
            properties=[
                {
                    "name": "c_inner",
                    "label": "I",
                    "type": "Document",
                    "properties": [{"name": "c_when", "label": "W", "type": "Date"}],
                }
            ],
        )
        with pytest.raises(Fault) as caught:
            prop.coerce([{"c_inner": {"c_when": "soon", "c_x": 1}}], "c_value")
        assert leaves(caught.value) == [
            ("c_value[0].c_inner.c_when", CAST),
            ("c_value[0].c_inner.c_x", "cortex.notFound.property"),
        ]

    def test_single_documents_merge_and_serialise_readable_children(self) -> None:
        prop = make(
            "Document",
            properties=[
                {"name": "c_a", "label": "A", "type": "Number"},
                {"name": "c_b", "label": "B", "type": "Number", "readable": False},
            ],
        )
        assert prop.coerce({"c_b": 2}, "c_value", previous={"c_a": 1}) == {"c_a": 1, "c_b": 2}
        assert prop.serialise({"c_a": 1, "c_b": 2}) == {"c_a": 1}
