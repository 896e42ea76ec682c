"""An export's archive carries the server's signature of its manifest: an archive whose records
and manifest were both edited (consistent again, hash for hash) fails ``verify`` with the server's
key, and ``opencortex export verify`` says whether it checked the signature, and the archive's
SHA-256 to compare with the API's."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import orjson
from click.testing import CliRunner, Result

from opencortex.cli.main import cli
from opencortex.exports import operations
from opencortex.exports.manifest import SIGNATURE_NAME, signing_key_id
from opencortex.exports.output import archive_key
from opencortex.exports.verify import verify_archive
from opencortex.exports.worker import ExportWorker
from tests.exports.recovery_support import create_export
from tests.instances.conftest import load_study
from tests.support.platform import OrgFixture


def ready_archive(platform: OrgFixture, path: Path) -> tuple[Path, str]:
    """A ready export's archive, downloaded to ``path``; and the export's ``sha256``."""
    load_study(platform, 6)
    job = create_export(platform)
    while ExportWorker(platform.runtime, concurrency=1).run_once():
        pass
    ready = operations.get(platform.runtime, platform.org["id"], job.id)
    assert ready.state.value == "ready" and ready.sha256 is not None
    with platform.runtime.file_store.open_reader(archive_key(job.id, ready.attempts)) as reader:
        path.write_bytes(b"".join(reader))
    return path, ready.sha256


def edit_records_and_manifest(source: Path, target: Path) -> None:
    """Remove a record from the data, and rewrite the manifest to match it exactly (sizes, hashes,
    counts): what someone would do to alter an export unnoticed. The signature stays the server's."""
    with zipfile.ZipFile(source) as read:
        manifest = orjson.loads(read.read("manifest.json"))
        entry = next(entry for entry in manifest["entries"] if entry["kind"] == "data")
        fewer = read.read(entry["name"]).rsplit(b"\n", 1)[0]
        size_change = len(fewer) - entry["size"]
        entry.update(size=len(fewer), sha256=hashlib.sha256(fewer).hexdigest(), records=entry["records"] - 1)
        manifest["totals"]["records"] -= 1
        manifest["totals"]["size"] += size_change
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as write:
            for info in read.infolist():
                content = read.read(info)
                if info.filename == entry["name"]:
                    content = fewer
                elif info.filename == "manifest.json":
                    content = orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
                write.writestr(info.filename, content)


def verify_command(platform: OrgFixture, archive: Path, *options: str, data_dir: Path | None = None) -> Result:
    return CliRunner().invoke(cli, ["--data-dir", str(data_dir or platform.runtime.settings.data_dir),
                                    "--database-url", platform.runtime.database.url, "export", "verify",
                                    str(archive), *options])


def test_an_archive_whose_records_and_manifest_were_edited_fails_verify_with_the_servers_key(platform, tmp_path):
    path, sha256 = ready_archive(platform, tmp_path / "export.zip")
    master_key, org_id = platform.runtime.master_key, platform.org["id"]
    good = verify_archive(path, master_key)
    assert good.ok, good.problems
    assert (good.signature.status, good.signature.org) == ("valid", org_id)
    assert good.signature.key_id == signing_key_id(master_key, org_id) and good.sha256 == sha256
    with zipfile.ZipFile(path) as read:
        assert read.namelist()[-2:] == [SIGNATURE_NAME, "manifest.json"]
        assert orjson.loads(read.read("manifest.json"))["signature"] == {"entry": SIGNATURE_NAME,
                                                                        "algorithm": "HMAC-SHA256"}

    forged = tmp_path / "forged.zip"
    edit_records_and_manifest(path, forged)
    consistent = verify_archive(forged)
    assert consistent.ok and consistent.signature.status == "unchecked"  # the edit is consistent...
    checked = verify_archive(forged, master_key)
    assert not checked.ok and checked.signature.status == "invalid"  # ...but not the server's
    assert [(problem.entry, problem.code) for problem in checked.problems] == [(SIGNATURE_NAME, "signature")]


def test_the_verify_command_checks_the_signature_where_the_servers_key_is(platform, tmp_path):
    path, sha256 = ready_archive(platform, tmp_path / "export.zip")
    forged = tmp_path / "forged.zip"
    edit_records_and_manifest(path, forged)

    good = verify_command(platform, path)
    assert good.exit_code == 0, good.output
    assert "OK: the archive matches its manifest." in good.stdout
    assert f"Signature: valid, by this server's key for org {platform.org['id']}" in good.stdout
    assert f"sha256 {sha256}: compare it with the export's sha256" in good.stdout
    shown = json.loads(verify_command(platform, path, "--json").stdout)
    assert shown["ok"] is True and shown["sha256"] == sha256 and shown["signature"]["status"] == "valid"
    with zipfile.ZipFile(path) as read:
        assert shown["exportId"] == orjson.loads(read.read("manifest.json"))["exportId"]

    refused = verify_command(platform, forged)
    assert refused.exit_code == 1
    assert "does not match the manifest" in refused.stdout and "Signature: invalid" in refused.stdout
    assert json.loads(verify_command(platform, forged, "--json").stdout)["signature"]["status"] == "invalid"

    # Without the server's key (another machine), or told not to: the signature is not checked.
    elsewhere = verify_command(platform, forged, data_dir=tmp_path / "no-key-here")
    assert elsewhere.exit_code == 0, elsewhere.output
    assert "Signature: not checked (no server key here" in elsewhere.stdout
    assert not (tmp_path / "no-key-here").exists()  # verify never makes a data folder or a key
    offline = verify_command(platform, forged, "--offline")
    assert offline.exit_code == 0 and "Signature: not checked (--offline)" in offline.stdout
