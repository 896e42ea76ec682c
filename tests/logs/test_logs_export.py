"""``objects: "logs"``: the native Logs object exported, through the Logs API's ACL."""

from __future__ import annotations

import csv
import io
import json

import orjson

from opencortex.logs import LogEntry, write_logs
from opencortex.logs.records import EXPORT, INFO, LOGGER, WARN
from opencortex.store.tables import accounts
from tests.exports_api.conftest import download_zip, run_all
from tests.support.platform import assert_fault


def seed(org, count: int = 12) -> list[str]:
    entries = [LogEntry(src=LOGGER if index % 3 else EXPORT, lvl=WARN if index % 2 else INFO, dat={"n": index},
                        pid=org.fixture.admin["id"]) for index in range(count)]
    with org.fixture.runtime.database.begin() as connection:
        return write_logs(connection, org.id, entries)


def data_entry(org, export, extension="ndjson") -> bytes:
    return download_zip(org.client, export["_id"]).read("export-" + export["created"].replace(":", "_") + "." +
                                                        extension)


def test_the_logs_export_as_get_logs_shows_them(org, worker):
    seed(org)
    everything = org.export(objects="logs")
    assert everything["objects"] == "logs"
    warnings = org.export(objects="log", where=json.dumps({"lvl": 1}), paths=["lvl", "dat.n"], format="text/csv",
                          csv={"dictionary": True})
    run_all(worker)
    listed = org.logs(limit="1000", sort=json.dumps({"_id": 1})).json()["data"]
    exported = [orjson.loads(line) for line in data_entry(org, everything).split(b"\n")]
    assert exported == listed and len(exported) == 12
    assert org.client.get(f"exports/{everything['_id']}/stats/docs/count").json()["data"] == 12

    table = list(csv.reader(io.StringIO(data_entry(org, warnings, "csv").decode())))
    assert table[0] == ["_id", "dat.n", "lvl", "object"]
    assert [row[2] for row in table[1:]] == ["1"] * 6 and [int(row[1]) for row in table[1:]] == [1, 3, 5, 7, 9, 11]
    dictionary = download_zip(org.client, warnings["_id"]).read("dictionary.csv").decode().splitlines()
    assert dictionary[1:] == ["_id,ObjectId,Id", "dat.n,Any,Data: n", "lvl,Number,Level", "object,String,Object"]


def test_logs_exports_are_checked_against_the_logs(org):
    for body, path in [({"paths": ["c_text"]}, "paths[0]"), ({"include": ["nope"]}, "include[0]"),
                       ({"expand": ["pid"]}, "expand[0]"), ({"where": json.dumps({"dat": 1})}, "where"),
                       ({"exportFiles": True}, "exportFiles"),
                       ({"prefix": "0123456789abcdef01234567.c_x", "principal": org.fixture.admin["email"]},
                        "prefix")]:
        response = org.client.post("exports", json={"label": "Logs", "objects": "logs", **body})
        fault = assert_fault(response, "cortex.invalidArgument.validation", 400)
        assert [child["path"] for child in fault["faults"]] == [path], (body, fault)


def test_the_logs_acl_applies_to_whom_the_export_reads_as(org, worker):
    seed(org, 3)
    # A provider may not read the Logs: as principal, the export is refused.
    refused = org.client.post("exports", json={"label": "Logs", "objects": "logs",
                                               "principal": org.fixture.provider["email"]})
    fault = assert_fault(refused, "cortex.invalidArgument.validation", 400)
    assert [(child["path"], child["errCode"]) for child in fault["faults"]] == [
        ("objects", "cortex.accessDenied.unspecified")]
    # A developer may.
    allowed = org.export(objects="logs", principal=org.developer["email"])
    # Without a principal the creator reads them; a creator who lost the role when it runs fails it.
    by_creator = org.export(objects="logs")
    with org.fixture.runtime.database.begin() as connection:
        connection.execute(accounts.update().where(accounts.c.id == org.fixture.admin["id"])
                           .values(roles=["provider"]))
    run_all(worker)
    with org.fixture.runtime.database.begin() as connection:
        connection.execute(accounts.update().where(accounts.c.id == org.fixture.admin["id"])
                           .values(roles=["administrator"]))
    assert org.read_export(allowed["_id"])["state"] == "ready"
    ended = org.read_export(by_creator["_id"])
    assert ended["state"] == "error" and ended["fault"]["errCode"] == "cortex.accessDenied.unspecified"
