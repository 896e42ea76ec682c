"""``opencortex import``: NDJSON in, validated like the API, written in short transactions, all or nothing."""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from opencortex.acl.viewer import Viewer
from opencortex.cli.main import cli
from opencortex.demo.study import PATIENTS, SITES, patient_bodies
from opencortex.exports.worker import ExportWorker
from opencortex.instances import bulk
from opencortex.instances.bulk import _BatchWriter, _Rows, import_ndjson
from opencortex.instances.service import Instances
from opencortex.model.accounts import create_account
from opencortex.model.objects import create_object, get_object, update_object
from opencortex.store.tables import documents
from tests.instances.conftest import load_study
from tests.support.platform import PASSWORD, CortexClient, OrgFixture, open_test_client, seed_org


def write_ndjson(path: Path, bodies: list[dict]) -> Path:
    path.write_bytes(b"\n".join(orjson.dumps(body) for body in bodies) + b"\n")
    return path


def read_lines(path: Path) -> Iterator[bytes]:
    """The file's lines; the file is closed once read, or when the import stops reading early."""
    with path.open("rb") as handle:
        yield from handle


def count(platform: OrgFixture, object_name: str = "c_patient", org_id: str | None = None) -> int:
    with platform.runtime.database.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(documents).where(
            documents.c.org_id == (org_id or platform.org["id"]), documents.c.object == object_name)).scalar_one()


def invoke(platform: OrgFixture, *args: str):
    settings = platform.runtime.settings
    return CliRunner().invoke(cli, ["--data-dir", str(settings.data_dir), "--database-url", settings.database_url,
                                    "import", *args], catch_exceptions=False)


def viewer_of(account: dict) -> Viewer:
    return Viewer(account["org_id"], account["id"], frozenset(account["roles"]))


def test_a_valid_file_is_imported_with_the_right_count(platform, tmp_path):
    site_ids, _ = load_study(platform, 0)
    path = write_ndjson(tmp_path / "patients.ndjson", list(patient_bodies(2500, site_ids)))
    result = invoke(platform, "--org", platform.code, "--object", "c_patients", "--as", platform.admin["email"],
                    "--json", str(path))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["committed"] is True and summary["imported"] == 2500 and summary["problems"] == []
    assert count(platform) == 2500

    with open_test_client(platform.runtime) as http:
        client = CortexClient(http, platform.code, platform.session_app.key)
        client.login(platform.admin["email"], PASSWORD)
        first = client.get("c_patients", params={"where": json.dumps({"c_number": "S-0000001"})}).json()["data"][0]
    assert first["c_number"] == "S-0000001"  # file order is _id order
    assert first["owner"]["_id"] == platform.admin["id"] and first["creator"]["_id"] == platform.admin["id"]
    assert all("_id" in visit for visit in first["c_visits"])  # stored exactly as a create stores it


def test_bad_lines_are_reported_with_their_numbers_and_nothing_is_written(platform, tmp_path):
    site_ids, _ = load_study(platform, 0)
    bodies = [orjson.dumps(body) for body in patient_bodies(1500, site_ids)]
    bodies[1] = orjson.dumps({**orjson.loads(bodies[1]), "c_gender": "x"})  # line 2: not in the enum
    bodies[3] = b'{"c_number": "S-broken",'  # line 4: not JSON
    bodies[4] = orjson.dumps({**orjson.loads(bodies[4]), "c_unknown": 1})  # line 5: no such property
    bodies[6] = orjson.dumps({**orjson.loads(bodies[6]), "c_number": "S-0000001"})  # line 7: unique clash
    bodies[1200] = b"[1, 2]"  # line 1201: not an object
    path = tmp_path / "patients.ndjson"
    path.write_bytes(b"\n".join(bodies) + b"\n")

    result = invoke(platform, "--org", platform.code, "--object", "c_patient", "--json", str(path))
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert summary["committed"] is False and summary["imported"] == 0 and summary["lines"] == 1500
    assert [problem["line"] for problem in summary["problems"]] == [2, 4, 5, 7, 1201]
    by_line = {problem["line"]: problem["fault"] for problem in summary["problems"]}
    assert by_line[2]["faults"][0]["path"] == "c_gender"
    assert by_line[4]["errCode"] == "cortex.invalidArgument.invalidJSON"
    assert by_line[5]["faults"][0]["path"] == "c_unknown"
    assert by_line[7]["errCode"] == "cortex.conflict.exists" and by_line[7]["path"] == "c_number"
    assert count(platform) == 0

    human = invoke(platform, "--org", platform.code, "--object", "c_patient", str(path))
    assert human.exit_code == 1
    assert "line 2: c_gender:" in human.output and "line 7: c_number:" in human.output
    assert count(platform) == 0


def test_validating_in_several_processes_gives_the_same_result(platform, tmp_path):
    site_ids, _ = load_study(platform, 0)
    bodies = [orjson.dumps(body) for body in patient_bodies(1800, site_ids)]
    bad = list(bodies)
    bad[3] = orjson.dumps({**orjson.loads(bad[3]), "c_score": "high"})  # line 4: not a number
    bad[1500] = orjson.dumps({**orjson.loads(bad[1500]), "c_number": "S-0000002"})  # line 1501: unique clash
    database, org_id, admin = platform.runtime.database, platform.org["id"], viewer_of(platform.admin)
    path = tmp_path / "bad.ndjson"
    path.write_bytes(b"\n".join(bad) + b"\n")
    report = import_ndjson(database, org_id, "c_patients", admin, read_lines(path), jobs=2)
    assert not report.committed and [problem.line for problem in report.problems] == [4, 1501]
    assert report.problems[0].fault["faults"][0]["path"] == "c_score"
    assert count(platform) == 0

    path.write_bytes(b"\n".join(bodies))
    report = import_ndjson(database, org_id, "c_patients", admin, read_lines(path), jobs=2)
    assert report.committed and report.imported == 1800 and count(platform) == 1800
    with database.connect() as connection:
        numbers = connection.execute(sa.select(documents.c.body).where(documents.c.object == "c_patient")
                                     .order_by(documents.c.id)).scalars().all()
    assert [body["c_number"] for body in numbers] == [f"S-{number:07d}" for number in range(1, 1801)]


def test_problems_stop_at_the_cap(platform, tmp_path):
    load_study(platform, 0)
    path = write_ndjson(tmp_path / "bad.ndjson", [{"c_gender": "x"}] * 30)
    report = import_ndjson(platform.runtime.database, platform.org["id"], "c_patients",
                           viewer_of(platform.admin), read_lines(path), max_problems=10)
    assert not report.committed and report.more_problems
    assert [problem.line for problem in report.problems] == list(range(1, 11))
    assert count(platform) == 0


def test_create_acl_and_property_access_apply_as_for_the_api(platform, tmp_path):
    site_ids, _ = load_study(platform, 0)
    with platform.runtime.database.begin() as connection:
        nobody = create_account(connection, platform.org["id"], email="nobody@acme.test", password=PASSWORD,
                                roles=[])
    patients = write_ndjson(tmp_path / "patients.ndjson", list(patient_bodies(20, site_ids)))
    sites = write_ndjson(tmp_path / "sites.ndjson", [{"c_name": "Elsewhere", "c_country": "NZ"}])

    refused = invoke(platform, "--org", platform.code, "--object", "c_patients", "--as", nobody["email"],
                     str(patients))
    assert refused.exit_code == 1 and "create" in refused.output.lower()
    assert count(platform) == 0
    # The provider may create patients but not sites (createAcl), exactly as through the API.
    provider = invoke(platform, "--org", platform.code, "--object", "c_sites", "--as",
                      platform.provider["email"], str(sites))
    assert provider.exit_code == 1
    assert count(platform, "c_site") == len(site_ids)
    with open_test_client(platform.runtime) as http:
        client = CortexClient(http, platform.code, platform.session_app.key)
        client.login(platform.provider["email"], PASSWORD)
        through_api = client.post("c_sites", json={"c_name": "Elsewhere"}).json()
    assert through_api["errCode"] == "cortex.accessDenied.instanceCreate"

    ok = invoke(platform, "--org", platform.code, "--object", "c_patients", "--as", platform.provider["email"],
                str(patients))
    assert ok.exit_code == 0, ok.output
    assert count(platform) == 20


def test_instance_acl_is_checked_per_line_as_by_the_api(platform, tmp_path):
    site_ids, _ = load_study(platform, 0)
    body = next(patient_bodies(1, site_ids))
    bad = {**body, "acl": [{"type": 2, "target": platform.provider["id"], "allow": 4}]}
    report = import_ndjson(platform.runtime.database, platform.org["id"], "c_patients",
                           viewer_of(platform.admin), io.BytesIO(orjson.dumps(bad)))
    assert not report.committed and report.problems[0].line == 1
    with open_test_client(platform.runtime) as http:
        client = CortexClient(http, platform.code, platform.session_app.key)
        client.login(platform.admin["email"], PASSWORD)
        through_api = client.post("c_patients", json=bad).json()
    assert {key: report.problems[0].fault[key] for key in ("errCode", "path")} == {
        key: through_api[key] for key in ("errCode", "path")} == {
        "errCode": "cortex.invalidArgument.unspecified", "path": "acl[0]"}

    grant = {"type": 1, "target": platform.provider["id"], "allow": 4}
    report = import_ndjson(platform.runtime.database, platform.org["id"], "c_patients",
                           viewer_of(platform.admin), io.BytesIO(orjson.dumps({**body, "acl": [grant]})))
    assert report.committed and report.imported == 1
    with platform.runtime.database.connect() as connection:
        stored = connection.execute(sa.select(documents.c.acl).where(documents.c.object == "c_patient")).scalar_one()
    assert stored == [grant]


def _export_ndjson(platform: OrgFixture, client: CortexClient, objects: str) -> list[dict]:
    created = client.post("exports", json={"label": f"All {objects}", "objects": objects}).json()
    worker = ExportWorker(platform.runtime, concurrency=1)
    while worker.run_once():
        pass
    response = client.get(f"exports/{created['_id']}/dataFile/content", headers={"Accept": "application/zip"})
    assert response.status_code == 200, response.text
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    data = archive.read(next(name for name in archive.namelist() if name.endswith(".ndjson")))
    return [orjson.loads(line) for line in data.split(b"\n")]


@pytest.mark.parametrize("keep_ids", [True, False])
def test_an_export_imported_into_an_empty_org_reproduces_the_data(platform, tmp_path, keep_ids):
    load_study(platform, 60)
    runtime = platform.runtime
    beta = seed_org(runtime, "beta")
    with runtime.database.begin() as connection:  # the same model, no instances
        create_object(connection, beta.org["id"], {**SITES, "properties": [p for p in SITES["properties"]
                                                                           if p["type"] != "List"]})
        create_object(connection, beta.org["id"], PATIENTS)
        update_object(connection, beta.org["id"], "c_site", {"properties": SITES["properties"]})

    with open_test_client(runtime) as http:
        source = CortexClient(http, platform.code, platform.session_app.key)
        source.login(platform.admin["email"], PASSWORD)
        target = CortexClient(http, beta.code, beta.session_app.key)
        target.login(beta.admin["email"], PASSWORD)
        exported = {objects: _export_ndjson(platform, source, objects) for objects in ("c_sites", "c_patients")}
        for objects, docs in exported.items():
            path = write_ndjson(tmp_path / f"{objects}.ndjson", docs)
            args = ["--org", "beta", "--object", objects, "--as", beta.admin["email"], str(path)]
            result = invoke(platform, *(["--keep-ids"] if keep_ids else []), *args)
            assert result.exit_code == 0, result.output
        again = {objects: _export_ndjson(beta, target, objects) for objects in ("c_sites", "c_patients")}

    def comparable(doc: dict) -> dict:
        ignored = {"owner", "creator"} if keep_ids else {"owner", "creator", "_id", "created", "c_site"}
        return {key: value for key, value in doc.items() if key not in ignored}

    for objects in ("c_sites", "c_patients"):
        assert len(again[objects]) == len(exported[objects]) > 0
        assert [comparable(doc) for doc in again[objects]] == [comparable(doc) for doc in exported[objects]]
        assert all(doc["owner"]["_id"] == beta.admin["id"] for doc in again[objects])
    if keep_ids:
        assert again["c_patients"] == [
            {**doc, "owner": {"_id": beta.admin["id"], "object": "account"},
             "creator": {"_id": beta.admin["id"], "object": "account"}}
            for doc in exported["c_patients"]
        ]
    else:  # fresh ids, in file order
        assert [doc["_id"] for doc in again["c_patients"]] == sorted(doc["_id"] for doc in again["c_patients"])
        assert not {doc["_id"] for doc in again["c_patients"]} & {doc["_id"] for doc in exported["c_patients"]}


def test_keep_ids_refuses_bad_and_taken_ids(platform, tmp_path):
    site_ids, _ = load_study(platform, 0)
    first, second, third = patient_bodies(3, site_ids)
    good = {**first, "_id": "65f0c0ffee0000000000aa01", "created": "2024-03-01T10:00:00.000Z"}
    path = write_ndjson(tmp_path / "ids.ndjson", [
        good,
        {**second, "_id": "not-an-id"},
        {**third, "_id": "65f0c0ffee0000000000aa01"},  # the same _id as line 1
        {**third, "c_number": "S-9", "created": "yesterday"},
    ])
    report = import_ndjson(platform.runtime.database, platform.org["id"], "c_patients",
                           viewer_of(platform.admin), read_lines(path), keep_ids=True)
    assert not report.committed
    assert [(problem.line, problem.fault.get("path")) for problem in report.problems] == [
        (2, "_id"), (3, "_id"), (4, "created")]
    assert count(platform) == 0


@pytest.mark.parametrize("jobs", [0, 1])
def test_unique_conflicts_in_small_batches_are_found_row_by_row(platform, tmp_path, jobs):
    site_ids, _ = load_study(platform, 0)
    database, org_id, admin = platform.runtime.database, platform.org["id"], viewer_of(platform.admin)
    existing = write_ndjson(tmp_path / "existing.ndjson", [{"c_number": "S-taken"}])
    assert import_ndjson(database, org_id, "c_patients", admin, read_lines(existing)).committed
    bodies = list(patient_bodies(14, site_ids))
    numbers = ["S-a", "S-a", "S-a", "S-b", "S-taken", "S-c", "S-b", "S-d", "S-e", "S-f", "S-g", "S-g", "S-taken", "S-h"]
    path = write_ndjson(tmp_path / "clashes.ndjson",
                        [{**body, "c_number": number} for body, number in zip(bodies, numbers, strict=True)])
    report = import_ndjson(database, org_id, "c_patients", admin, read_lines(path), batch_size=4, jobs=jobs)
    assert not report.committed and report.lines == 14 and not report.more_problems
    assert [(problem.line, problem.fault["path"]) for problem in report.problems] == [
        (2, "c_number"), (3, "c_number"), (5, "c_number"), (7, "c_number"), (12, "c_number"), (13, "c_number")]
    assert {problem.fault["errCode"] for problem in report.problems} == {"cortex.conflict.exists"}
    assert count(platform) == 1

    # Past the cap: reading stops right after the batch that crossed it, as it always has.
    report = import_ndjson(database, org_id, "c_patients", admin, read_lines(path), batch_size=4, jobs=jobs,
                           max_problems=2)
    assert not report.committed and report.more_problems and report.lines == 8
    assert [problem.line for problem in report.problems] == [2, 3]
    assert count(platform) == 1


def test_kept_ids_that_clash_in_one_batch(platform, tmp_path):
    site_ids, _ = load_study(platform, 0)
    first, second, third, fourth = patient_bodies(4, site_ids)
    same = "65f0c0ffee0000000000aa01"
    path = write_ndjson(tmp_path / "ids.ndjson", [{**first, "_id": same}, {**second, "_id": same},
                                                  {**third, "_id": same}, fourth])
    report = import_ndjson(platform.runtime.database, platform.org["id"], "c_patients", viewer_of(platform.admin),
                           read_lines(path), keep_ids=True)
    assert [(problem.line, problem.fault["path"], problem.fault["errCode"]) for problem in report.problems] == [
        (2, "_id", "cortex.conflict.exists"), (3, "_id", "cortex.conflict.exists")]
    assert count(platform) == 0


def test_a_batch_that_breaks_a_unique_index_leaves_only_whole_rows(platform, tmp_path):
    """What the writer leaves in the transaction after conflicts (the import then rolls it back):
    exactly the rows that did not clash, each with every index entry, and nothing of the others."""
    site_ids, _ = load_study(platform, 0)
    database, org_id = platform.runtime.database, platform.org["id"]
    bodies = list(patient_bodies(8, site_ids))
    numbers = ["S-1", "S-2", "S-1", "S-3", "S-2", "S-2", "S-4", "S-1"]
    with pytest.raises(_RolledBack), database.begin() as connection:
        definition = get_object(connection, org_id, "c_patient")
        instances = Instances(connection, database.dialect, org_id, definition, viewer_of(platform.admin))
        rows = _Rows(instances, False, connection.dialect)
        writer = _BatchWriter(connection, org_id, definition, 100)
        for line, (body, number) in enumerate(zip(bodies, numbers, strict=True), 1):
            writer.add(line, rows.make({**body, "c_number": number}))
        assert [problem.line for problem in writer.flush()] == [3, 5, 6, 8]
        stored = connection.execute(sa.select(documents.c.body).where(
            documents.c.org_id == org_id, documents.c.object == "c_patient").order_by(documents.c.id)).scalars().all()
        assert [body["c_number"] for body in stored] == ["S-1", "S-2", "S-3", "S-4"]
        assert [body["c_name"] for body in stored] == [bodies[index]["c_name"] for index in (0, 1, 3, 6)]
        if database.dialect == "sqlite":
            assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        for path in ("c_number", "c_gender", "c_name.c_first"):  # through the expression indexes too
            expression = (f"json_extract(body, '$.{path}')" if database.dialect == "sqlite"
                          else "body #>> '{" + path.replace(".", ",") + "}'")
            found = connection.exec_driver_sql(
                f"SELECT count(*) FROM documents WHERE org_id = '{org_id}' AND object = 'c_patient' "  # noqa: S608
                f"AND {expression} IS NOT NULL").scalar()
            assert found == 4
        raise _RolledBack
    assert count(platform) == 0


class _RolledBack(Exception):
    pass


@pytest.mark.parametrize("jobs", [0, 1])
def test_blank_lines_are_skipped_but_counted_in_line_numbers(platform, jobs):
    site_ids, _ = load_study(platform, 0)
    first, second = (orjson.dumps(body) for body in patient_bodies(2, site_ids))
    data = b"\n".join([b"", first, b"  ", b"\t\r", b"\x0b\x0c", second, b'{"c_gender": "x"}', b" "]) + b"\n"
    report = import_ndjson(platform.runtime.database, platform.org["id"], "c_patients", viewer_of(platform.admin),
                           io.BytesIO(data), jobs=jobs)
    assert report.lines == 3 and [problem.line for problem in report.problems] == [7]
    report = import_ndjson(platform.runtime.database, platform.org["id"], "c_patients", viewer_of(platform.admin),
                           io.BytesIO(data.replace(b'{"c_gender": "x"}', b"")), jobs=jobs)
    assert report.committed and report.imported == 2 and count(platform) == 2


def test_batches_commit_in_short_transactions_that_other_writers_get_between(platform, tmp_path, monkeypatch):
    """The import never holds the database for long: a writer that starts while it runs gets in
    within about a second, every time, and each import transaction is short."""
    monkeypatch.setattr(bulk, "SHARE_LOCK_EVERY_SECONDS", 0.2)  # a small import: share the lock soon
    site_ids, _ = load_study(platform, 0)
    database, org_id = platform.runtime.database, platform.org["id"]
    path = write_ndjson(tmp_path / "patients.ndjson", list(patient_bodies(20_000, site_ids)))
    importing, waits, seen = threading.Event(), [], []

    def other_writer() -> None:
        importing.wait()
        while importing.is_set():
            started = time.perf_counter()
            with database.begin() as connection:  # what an API write or a lease renewal does
                waits.append(time.perf_counter() - started)
                seen.append(connection.execute(sa.select(sa.func.count()).select_from(documents).where(
                    documents.c.org_id == org_id, documents.c.object == "c_patient")).scalar_one())
            time.sleep(0.05)

    thread = threading.Thread(target=other_writer)
    thread.start()

    def progress(read: int) -> None:
        importing.set()

    try:
        report = import_ndjson(database, org_id, "c_patients", viewer_of(platform.admin), read_lines(path),
                               progress=progress)
    finally:
        importing.clear()
        thread.join()
    assert report.committed and report.imported == 20_000 and count(platform) == 20_000
    assert report.transactions > 1 and report.longest_transaction_seconds < 3
    assert len(waits) >= 3 and max(waits) < 5, waits
    assert any(0 < number < 20_000 for number in seen)  # it wrote between the import's transactions


def _import_one_per_transaction(platform, path, **options):
    return import_ndjson(platform.runtime.database, platform.org["id"], "c_patients", viewer_of(platform.admin),
                         read_lines(path), batch_size=3, **options)


def test_a_bad_line_after_committed_batches_leaves_nothing_behind(platform, tmp_path, monkeypatch):
    monkeypatch.setattr(bulk, "TRANSACTION_SECONDS", 0)  # every batch commits on its own
    site_ids, _ = load_study(platform, 0)
    bodies = list(patient_bodies(40, site_ids))
    path = write_ndjson(tmp_path / "late.ndjson", [*bodies[:35], {"c_gender": "x"}, *bodies[35:]])
    report = _import_one_per_transaction(platform, path)
    assert not report.committed and report.imported == 0 and [problem.line for problem in report.problems] == [36]
    assert report.transactions > 12  # the batches before line 36 were committed, then deleted again
    assert count(platform) == 0
    assert _import_one_per_transaction(platform, write_ndjson(tmp_path / "fixed.ndjson", bodies)).committed
    assert count(platform) == 40


def test_the_undo_never_deletes_what_the_import_did_not_write(platform, tmp_path, monkeypatch):
    """A kept _id that clashes with an existing instance is a bad line; deleting what the import
    committed must leave that instance (and everything else already there) alone."""
    monkeypatch.setattr(bulk, "TRANSACTION_SECONDS", 0)
    site_ids, _ = load_study(platform, 0)
    first, *others = list(patient_bodies(12, site_ids))
    existing = write_ndjson(tmp_path / "existing.ndjson", [first])
    assert _import_one_per_transaction(platform, existing).committed
    with platform.runtime.database.connect() as connection:
        taken = connection.execute(sa.select(documents.c.id).where(
            documents.c.org_id == platform.org["id"], documents.c.object == "c_patient")).scalar_one()
    lines = [{**body, "_id": f"{index + 1:024x}"} for index, body in enumerate(others)]
    lines[7]["_id"] = taken
    report = _import_one_per_transaction(platform, write_ndjson(tmp_path / "clash.ndjson", lines), keep_ids=True)
    assert [(problem.line, problem.fault["path"]) for problem in report.problems] == [(8, "_id")]
    with platform.runtime.database.connect() as connection:
        left = connection.execute(sa.select(documents.c.id).where(
            documents.c.org_id == platform.org["id"], documents.c.object == "c_patient")).scalars().all()
    assert left == [taken]


def test_an_import_that_fails_midway_deletes_what_it_committed(platform, tmp_path, monkeypatch):
    monkeypatch.setattr(bulk, "TRANSACTION_SECONDS", 0)
    site_ids, _ = load_study(platform, 0)
    bodies = list(patient_bodies(30, site_ids))

    def lines_then_a_read_error() -> Iterator[bytes]:
        for body in bodies:
            yield orjson.dumps(body)
        raise OSError(5, "Input/output error")  # the file's disk fails midway

    with pytest.raises(OSError, match="Input/output"):
        import_ndjson(platform.runtime.database, platform.org["id"], "c_patients", viewer_of(platform.admin),
                      lines_then_a_read_error(), batch_size=4)
    assert count(platform) == 0


def test_triggers_on_documents_do_not_confuse_which_row_clashed(platform, tmp_path, monkeypatch, request):
    """A trigger that writes elsewhere on every insert (as change tracking may) must not shift
    which line is reported, nor make the undo delete an instance the import did not write.
    (SQLite counts the trigger's rows in changes(); PostgreSQL replays a failed batch row by row.)"""
    monkeypatch.setattr(bulk, "TRANSACTION_SECONDS", 0)
    site_ids, _ = load_study(platform, 0)
    first, *others = list(patient_bodies(10, site_ids))
    assert _import_one_per_transaction(platform, write_ndjson(tmp_path / "existing.ndjson", [first])).committed
    with platform.runtime.database.begin() as connection:
        taken = connection.execute(sa.select(documents.c.id).where(
            documents.c.org_id == platform.org["id"], documents.c.object == "c_patient")).scalar_one()
        _add_echo_trigger(connection)
    request.addfinalizer(lambda: _drop_echo_trigger(platform.runtime.database))
    lines = [{**body, "_id": f"{index + 1:024x}"} for index, body in enumerate(others)]
    lines[4]["_id"] = taken
    report = import_ndjson(platform.runtime.database, platform.org["id"], "c_patients", viewer_of(platform.admin),
                           read_lines(write_ndjson(tmp_path / "clash.ndjson", lines)), keep_ids=True, batch_size=100)
    assert [(problem.line, problem.fault["path"]) for problem in report.problems] == [(5, "_id")]
    with platform.runtime.database.connect() as connection:
        left = connection.execute(sa.select(documents.c.id).where(
            documents.c.org_id == platform.org["id"], documents.c.object == "c_patient")).scalars().all()
    assert left == [taken]


def _add_echo_trigger(connection: sa.Connection) -> None:
    """Two extra rows in another table for every instance written."""
    connection.exec_driver_sql("CREATE TABLE echo (id TEXT)")
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("CREATE TRIGGER echo_insert AFTER INSERT ON documents "
                                   "BEGIN INSERT INTO echo VALUES (NEW.id); INSERT INTO echo VALUES (NEW.id); END")
        return
    connection.exec_driver_sql(
        "CREATE FUNCTION echo_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO echo VALUES (NEW.id); INSERT INTO echo VALUES (NEW.id); RETURN NEW; END $$")
    connection.exec_driver_sql("CREATE TRIGGER echo_insert AFTER INSERT ON documents "
                               "FOR EACH ROW EXECUTE FUNCTION echo_insert()")


def _drop_echo_trigger(database) -> None:
    """PostgreSQL test databases are emptied, not dropped, between tests: take the trigger away."""
    with database.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("DROP TRIGGER IF EXISTS echo_insert")
        else:
            connection.exec_driver_sql("DROP TRIGGER IF EXISTS echo_insert ON documents")
            connection.exec_driver_sql("DROP FUNCTION IF EXISTS echo_insert()")
        connection.exec_driver_sql("DROP TABLE IF EXISTS echo")
