"""The manifest, its signature, and ``verify_archive`` on good, damaged and altered archives."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import orjson
import pytest

import opencortex
from opencortex.exports.formats import CSV, JSON, NDJSON, format_for
from opencortex.exports.jobs import ExportParameters, ExportWhere
from opencortex.exports.manifest import (
    SIGNATURE_FIELD,
    SIGNATURE_NAME,
    ManifestEntry,
    build_manifest,
    check_manifest_signature,
    encode_manifest,
    sign_manifest,
    signing_key,
    signing_key_id,
)
from opencortex.exports.verify import verify_archive
from opencortex.keys import MasterKey

from .building import AS_OF, CREATED, build_archive
from .dataset import FIXTURE, realistic_documents

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
FILE_NAME = "files/0000000000.c_patients.65f0c0ffee0000000000aa01.c_photo.content.png"
FORMATS = [NDJSON, JSON, CSV]


def problems(path: Path) -> list[tuple[str | None, str]]:
    return [(problem.entry, problem.code) for problem in verify_archive(path).problems]


def rezip(source: Path, target: Path, *, replace: dict[str, bytes] | None = None, drop: str = "",
          add: dict[str, bytes] | None = None) -> Path:  # fmt: skip
    """Copy an archive with entries changed, dropped or added: valid zip, CRCs and all."""
    replace = replace or {}
    with zipfile.ZipFile(source) as read, zipfile.ZipFile(target, "w") as write:
        for name, data in (add or {}).items():
            write.writestr(name, data)
        for info in read.infolist():
            if info.filename != drop:
                write.writestr(info.filename, replace.get(info.filename, read.read(info)))
    return target


def data_name(manifest: dict[str, object]) -> str:
    return next(entry["name"] for entry in manifest["entries"] if entry["kind"] == "data")  # type: ignore[attr-defined,index]


def test_manifest_fields() -> None:
    parameters = ExportParameters(objects="c_patients", object="c_patient", format=format_for(NDJSON),
                                  include=["c_x"], where=ExportWhere.from_text('{"c_n":1}'))
    entries = [
        ManifestEntry("export-x.ndjson", "data", 10, "ab" * 32, records=2, format=NDJSON),
        ManifestEntry("files/0000000000.a.png", "file", 5, "cd" * 32, details={"source": "/a"}),
    ]
    manifest = build_manifest(parameters, entries, as_of=AS_OF, created=CREATED, export_id="e1")
    assert manifest["manifestVersion"] == 1
    assert manifest["generator"] == {"name": "opencortex", "version": opencortex.__version__}
    assert (manifest["asOf"], manifest["created"]) == ("2024-04-01T12:00:01.000Z", "2024-04-01T12:00:00.512Z")
    assert manifest["parameters"] == {
        "object": "c_patients", "format": NDJSON, "paths": [], "include": ["c_x"], "expand": [],
        "where": '{"c_n":1}', "principal": None, "prefix": None, "exportFiles": False, "zipFiles": False,
        "csv": None,
    }  # fmt: skip
    assert manifest["totals"] == {"records": 2, "files": 1, "entries": 2, "size": 15}
    assert manifest["entries"][1] == {"name": "files/0000000000.a.png", "kind": "file", "size": 5,
                                      "sha256": "cd" * 32, "source": "/a"}  # fmt: skip
    encoded = encode_manifest(manifest)
    assert encoded.endswith(b"}\n") and orjson.loads(encoded) == manifest
    with pytest.raises(ValueError, match="unknown kind"):
        build_manifest(parameters, [ManifestEntry("x", "other", 1, "")], as_of=AS_OF)


@pytest.mark.parametrize("media_type", FORMATS)
def test_good_archives_verify(tmp_path: Path, media_type: str) -> None:
    path = tmp_path / "export.zip"
    manifest = build_archive(path, FIXTURE, media_type, files={FILE_NAME: PNG})
    report = verify_archive(path)
    assert report.ok, report.problems
    assert report.records == 3 and report.manifest == manifest
    assert report.entries_checked == len(manifest["entries"])
    assert [entry["kind"] for entry in manifest["entries"]] == (
        ["data", "dictionary", "file"] if media_type == CSV else ["data", "file"]
    )
    with zipfile.ZipFile(path) as read:
        assert read.namelist()[-1] == "manifest.json"


@pytest.mark.parametrize("media_type", FORMATS)
def test_empty_and_larger_exports_verify(tmp_path: Path, media_type: str) -> None:
    build_archive(tmp_path / "empty.zip", [], media_type)
    assert verify_archive(tmp_path / "empty.zip").records == 0
    assert problems(tmp_path / "empty.zip") == []
    build_archive(tmp_path / "big.zip", list(realistic_documents(5000)), media_type, batch=700)
    report = verify_archive(tmp_path / "big.zip")
    assert report.ok and report.records == 5000


def test_a_damaged_entry_fails_its_crc(tmp_path: Path) -> None:
    path = tmp_path / "export.zip"
    build_archive(path, FIXTURE, NDJSON, files={FILE_NAME: PNG})
    raw = bytearray(path.read_bytes())
    at = raw.index(b"\x89PNG")  # the stored file's bytes sit in the archive as they are
    raw[at + 100] ^= 0xFF
    path.write_bytes(bytes(raw))
    assert problems(path) == [(FILE_NAME, "crc")]


def test_an_altered_entry_fails_its_hash(tmp_path: Path) -> None:
    manifest = build_archive(tmp_path / "export.zip", FIXTURE, NDJSON, files={FILE_NAME: PNG})
    altered = PNG[:-1] + b"\x00"  # same size, different content
    path = rezip(tmp_path / "export.zip", tmp_path / "altered.zip", replace={FILE_NAME: altered})
    assert problems(path) == [(FILE_NAME, "sha256")]
    data = data_name(manifest)
    with zipfile.ZipFile(tmp_path / "export.zip") as read:
        shorter = read.read(data).rsplit(b"\n", 1)[0]
    path = rezip(tmp_path / "export.zip", tmp_path / "short.zip", replace={data: shorter})
    assert problems(path) == [(data, "size"), (data, "sha256"), (data, "records")]


def test_missing_and_unlisted_entries(tmp_path: Path) -> None:
    build_archive(tmp_path / "export.zip", FIXTURE, JSON, files={FILE_NAME: PNG})
    missing = rezip(tmp_path / "export.zip", tmp_path / "missing.zip", drop=FILE_NAME)
    assert problems(missing) == [(FILE_NAME, "missing")]
    extra = rezip(tmp_path / "export.zip", tmp_path / "extra.zip", add={"files/smuggled.txt": b"hi"})
    assert problems(extra) == [("files/smuggled.txt", "unlisted")]


def test_a_wrong_record_count(tmp_path: Path) -> None:
    manifest = build_archive(tmp_path / "export.zip", FIXTURE, CSV)
    manifest["entries"][0]["records"] = 4
    path = rezip(
        tmp_path / "export.zip", tmp_path / "count.zip", replace={"manifest.json": encode_manifest(manifest)}
    )
    report = verify_archive(path)
    assert [(p.entry, p.code) for p in report.problems] == [(data_name(manifest), "records")]
    assert "3 records, the manifest says 4" in report.problems[0].message


def test_unverifiable_archives(tmp_path: Path) -> None:
    (tmp_path / "not.zip").write_bytes(b"hello")
    assert problems(tmp_path / "not.zip") == [(None, "unreadable")]
    build_archive(tmp_path / "export.zip", FIXTURE, NDJSON)
    no_manifest = rezip(tmp_path / "export.zip", tmp_path / "none.zip", drop="manifest.json")
    assert problems(no_manifest) == [("manifest.json", "missing")]
    bad = rezip(tmp_path / "export.zip", tmp_path / "bad.zip", replace={"manifest.json": b"{not json"})
    assert problems(bad) == [("manifest.json", "manifest")]
    future = rezip(
        tmp_path / "export.zip", tmp_path / "v9.zip", replace={"manifest.json": b'{"manifestVersion":9}'}
    )
    assert problems(future) == [("manifest.json", "manifest")]


def test_manifest_must_come_last(tmp_path: Path) -> None:
    build_archive(tmp_path / "export.zip", FIXTURE, NDJSON)
    with zipfile.ZipFile(tmp_path / "export.zip") as read:
        manifest = read.read("manifest.json")
    moved = rezip(tmp_path / "export.zip", tmp_path / "moved.zip", drop="manifest.json",
                  add={"manifest.json": manifest})  # fmt: skip
    assert problems(moved) == [("manifest.json", "manifest")]


# The manifest's signature

KEY = MasterKey(bytes(range(32)))
ORG = "65f0c0ffee0000000000aa09"


def signed(source: Path, target: Path, manifest: dict[str, object], *, key: MasterKey = KEY, org: str = ORG,
           signed_manifest: dict[str, object] | None = None) -> Path:  # fmt: skip
    """The archive with a signed manifest, as the pipeline writes it: ``manifest.sig`` (of
    ``signed_manifest``, by default the manifest itself), then ``manifest.json``, last."""
    shown = encode_manifest({**manifest, "signature": SIGNATURE_FIELD})
    original = encode_manifest({**(signed_manifest or manifest), "signature": SIGNATURE_FIELD})
    signature = sign_manifest(key, org, original)
    with zipfile.ZipFile(source) as read, zipfile.ZipFile(target, "w") as write:
        for info in read.infolist():
            if info.filename != "manifest.json":
                write.writestr(info.filename, read.read(info))
        write.writestr(SIGNATURE_NAME, signature)
        write.writestr("manifest.json", shown)
    return target


def test_a_signed_archive_verifies_with_the_key_and_is_reported_unchecked_without(tmp_path: Path) -> None:
    manifest = build_archive(tmp_path / "export.zip", FIXTURE, NDJSON, files={FILE_NAME: PNG})
    path = signed(tmp_path / "export.zip", tmp_path / "signed.zip", manifest)
    report = verify_archive(path, KEY)
    assert report.ok, report.problems
    assert (report.signature.status, report.signature.org) == ("valid", ORG)
    assert report.signature.key_id == signing_key_id(KEY, ORG) and len(report.signature.key_id) == 16
    assert report.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    offline = verify_archive(path)
    assert offline.ok and offline.signature.status == "unchecked"
    with zipfile.ZipFile(path) as read:
        assert read.namelist()[-2:] == [SIGNATURE_NAME, "manifest.json"]
        assert orjson.loads(read.read(SIGNATURE_NAME))["algorithm"] == "HMAC-SHA256"


def test_records_and_manifest_altered_together_fail_only_the_signature(tmp_path: Path) -> None:
    manifest = build_archive(tmp_path / "export.zip", FIXTURE, NDJSON)
    path = signed(tmp_path / "export.zip", tmp_path / "signed.zip", manifest)
    data = data_name(manifest)
    with zipfile.ZipFile(path) as read:
        fewer = read.read(data).rsplit(b"\n", 1)[0]  # a record removed
    rewritten = orjson.loads(orjson.dumps(manifest))
    entry = rewritten["entries"][0]
    entry.update(size=len(fewer), sha256=hashlib.sha256(fewer).hexdigest(), records=entry["records"] - 1)
    rewritten["totals"].update(records=entry["records"], size=len(fewer))
    forged = signed(tmp_path / "export.zip", tmp_path / "forged.zip", rewritten, signed_manifest=manifest)
    forged = rezip(forged, tmp_path / "forged-2.zip", replace={data: fewer})
    assert verify_archive(forged).ok  # consistent: every hash and count matches the new manifest
    assert problems_with_key(forged) == [(SIGNATURE_NAME, "signature")]
    assert verify_archive(forged, KEY).signature.status == "invalid"


def test_a_signature_of_another_key_a_missing_one_and_a_malformed_one_are_problems(tmp_path: Path) -> None:
    manifest = build_archive(tmp_path / "export.zip", FIXTURE, NDJSON)
    other = signed(tmp_path / "export.zip", tmp_path / "other.zip", manifest, key=MasterKey(b"\x07" * 32))
    assert problems_with_key(other) == [(SIGNATURE_NAME, "signature")]
    assert verify_archive(other, KEY).signature.status == "otherKey"
    another_org = signed(tmp_path / "export.zip", tmp_path / "org.zip", manifest, org="65f0c0ffee0000000000aa10")
    assert verify_archive(another_org, KEY).signature.org == "65f0c0ffee0000000000aa10"  # valid: for that org

    stripped = rezip(signed(tmp_path / "export.zip", tmp_path / "s.zip", manifest), tmp_path / "stripped.zip",
                     drop=SIGNATURE_NAME)  # fmt: skip
    assert problems_with_key(stripped) == [(SIGNATURE_NAME, "signature")]
    assert problems(stripped) == [(SIGNATURE_NAME, "signature")]  # the manifest says it was signed
    assert problems(tmp_path / "export.zip") == []  # an archive from before signatures, offline
    assert problems_with_key(tmp_path / "export.zip") == [(SIGNATURE_NAME, "signature")]

    malformed = rezip(signed(tmp_path / "export.zip", tmp_path / "m.zip", manifest), tmp_path / "malformed.zip",
                      replace={SIGNATURE_NAME: b'{"algorithm": "none"}'})  # fmt: skip
    assert verify_archive(malformed, KEY).signature.status == "malformed"
    assert problems_with_key(malformed) == [(SIGNATURE_NAME, "signature")]


def test_signing_keys_differ_per_org_and_per_master_key() -> None:
    assert signing_key(KEY, ORG) != signing_key(KEY, "65f0c0ffee0000000000aa10")
    assert signing_key(KEY, ORG) != signing_key(MasterKey(b"\x07" * 32), ORG)
    assert signing_key(KEY, ORG) != KEY.derive("export-manifest-signature-id:" + ORG)
    check = check_manifest_signature(sign_manifest(KEY, ORG, b"{}\n"), b"{}\n", KEY)
    assert check.status == "valid" and check_manifest_signature(None, b"{}\n", KEY).status == "unsigned"


def problems_with_key(path: Path) -> list[tuple[str | None, str]]:
    return [(problem.entry, problem.code) for problem in verify_archive(path, KEY).problems]
