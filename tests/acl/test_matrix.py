"""Who may do what: every principal against every operation, on SQLite and PostgreSQL.

One scenario per database, built through the API by the org's administrator:

- ``c_vault``: defaultAcl ``[owner.delete]``: only an instance's owner sees it (the restricted
  target of references).
- ``c_record``: defaultAcl ``[owner.delete, role.administrator.read, role.provider.update]``,
  createAcl ``[account.public]``, with ``c_title`` (ordinary), ``c_restricted`` (readAccess 6,
  indexed), ``c_locked`` (writeAccess 7), ``c_vault`` (an expandable Reference to ``c_vault``)
  and ``c_vault_granted`` (the same, with ``grant: 4`` and ``paths: [c_label]``).
- The record ``R`` and the vault ``V`` are created by the owner; ``R.acl`` shares Share (5)
  access with the grantee.

Principals and the access each has to ``R``:

==============  ==========================================================  ======
owner           a Provider who created R                                     7
provider        another Provider: ``role.provider.update``                   6
administrator   an Administrator: ``role.administrator.read``, no bypass     4
grantee         an account without roles, named in ``R.acl`` (allow 5)      5
other           an account without roles: no entry grants it anything       0
anonymous       no principal (a session app called without a session)       0
==============  ==========================================================  ======

(The "other" account has no role so that it differs from the provider, whose access comes
from a role entry.)
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from opencortex.acl.levels import Access
from opencortex.acl.viewer import Viewer, as_principal
from opencortex.faults import Fault
from opencortex.ids import ANONYMOUS, PUBLIC, ROLE_DEVELOPER, ROLE_SUPPORT, SYSTEM
from opencortex.instances.selection import Selection
from opencortex.instances.service import Instances, ListQuery
from opencortex.model.objects import find_object
from opencortex.model.orgs import set_allowed_restricted_operators
from opencortex.store.tables import documents
from tests.acl import DATABASES, logged_in, scenario_runtime, table_rows
from tests.support.platform import (
    PASSWORD,
    CortexClient,
    OrgFixture,
    assert_fault,
    open_test_client,
    seed_org,
)

PRINCIPALS = ("owner", "provider", "administrator", "grantee", "other", "anonymous")
RESTRICTED_VALUE = "the-secret-of-R"
NOT_FOUND = "404 cortex.notFound.instance"
CREATE_DENIED = "403 cortex.accessDenied.instanceCreate"
INSTANCE_DENIED = "403 cortex.accessDenied.instance"
QUERY_FAULT = "400 cortex.invalidArgument.query"
SELECTION_FAULT = "400 cortex.invalidArgument.unspecified"
TITLE_DENIED = "403 cortex.accessDenied.propertyUpdate c_title"
LOCKED_DENIED = "403 cortex.accessDenied.propertyUpdate c_locked"

# operation -> the outcome for each principal, in the order of PRINCIPALS. Faults are
# "<status> <errCode>", with the path for property updates.
MATRIX: dict[str, tuple[str, str, str, str, str, str]] = {
    # owner              provider         administrator    grantee          other            anonymous
    "create": (
        "200",           "200",           "200",           "200",           "200",           CREATE_DENIED),
    "read": (
        "200 access=7",  "200 access=6",  "200 access=4",  "200 access=5",  NOT_FOUND,       NOT_FOUND),
    "list": (
        "listed",        "listed",        "listed",        "listed",        "not listed",    "not listed"),
    "update": (
        "200",           "200",           TITLE_DENIED,    TITLE_DENIED,    NOT_FOUND,       NOT_FOUND),
    "update_locked": (
        "200",           LOCKED_DENIED,   LOCKED_DENIED,   LOCKED_DENIED,   NOT_FOUND,       NOT_FOUND),
    "delete": (
        "200",           INSTANCE_DENIED, INSTANCE_DENIED, INSTANCE_DENIED, NOT_FOUND,       NOT_FOUND),
    "read_restricted": (
        "present",       "present",       "absent",        "absent",        NOT_FOUND,       NOT_FOUND),
    # A query may name c_restricted when the caller could read it somewhere (owner entries count),
    # but it only ever matches, or orders, instances where the caller can read it.
    "where_restricted": (
        "matched",       "matched",       "not matched",   "not matched",   "not matched",   QUERY_FAULT),
    "sort_restricted": (
        "listed",        "listed",        "not listed",    "not listed",    "not listed",    QUERY_FAULT),
    "paths_restricted": (
        "present",       "present",       "absent",        "absent",        "not listed",    SELECTION_FAULT),
    "expand_vault": (
        "expanded",      "unexpanded",    "unexpanded",    "unexpanded",    NOT_FOUND,       NOT_FOUND),
}


class Caller:
    """One principal's view of the API: a client of the org with its own session (or none)."""

    def __init__(self, client: CortexClient) -> None:
        self.client = client

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, params=params or None)

    def post(self, path: str, body: Any) -> Any:
        return self.client.post(path, json=body)

    def put(self, path: str, body: Any) -> Any:
        return self.client.put(path, json=body)

    def delete(self, path: str) -> Any:
        return self.client.delete(path)

    def listed(self, path: str, **params: Any) -> list[dict[str, Any]]:
        response = self.get(path, limit=1000, **params)
        assert response.status_code == 200, response.text
        return list(response.json()["data"])


@dataclass
class Scenario:
    fixture: OrgFixture
    http: TestClient
    accounts: dict[str, dict[str, Any]]
    callers: dict[str, Caller]
    record: str
    vault: str
    serial: Iterator[int] = field(default_factory=itertools.count)

    def fresh_record(self, **extra: Any) -> str:
        """A new record like R (owned by the owner, shared with the grantee), for writes."""
        grantee = self.accounts["grantee"]["id"]
        body = {"c_title": f"fresh {next(self.serial)}", "c_restricted": "fresh-secret", "c_locked": "locked",
                "c_vault": self.vault, "acl": [{"type": 1, "target": grantee, "allow": 5}], **extra}
        response = self.callers["owner"].post("c_records", body)
        assert response.status_code == 200, response.text
        return str(response.json()["_id"])

    def stored(self, object_name: str, instance_id: str) -> dict[str, Any] | None:
        rows = table_rows(self.fixture.runtime, documents, org_id=self.fixture.org["id"], object=object_name,
                          id=instance_id)
        return rows[0] if rows else None


def build_scenario(fixture: OrgFixture, http: TestClient, stack: ExitStack) -> Scenario:
    admin = Caller(logged_in(stack, fixture, fixture.admin["email"]))
    accounts = {"owner": fixture.provider, "administrator": fixture.admin}
    for name, roles in (("provider", ["provider"]), ("grantee", []), ("other", [])):
        email = f"{name}.acl@acme.test"
        response = admin.post("accounts", {"email": email, "password": PASSWORD, "roles": roles})
        assert response.status_code == 200, response.text
        accounts[name] = {"id": response.json()["_id"], "email": email}
    callers = {name: Caller(logged_in(stack, fixture, account["email"])) for name, account in accounts.items()
               if name != "administrator"}
    callers["administrator"] = admin
    callers["anonymous"] = Caller(CortexClient(http, fixture.code, fixture.session_app.key))

    for definition in (
        {"name": "c_vault", "label": "Vault", "defaultAcl": ["owner.delete"], "createAcl": ["account.public"],
         "properties": [{"name": "c_label", "label": "Label", "type": "String", "indexed": True},
                        {"name": "c_code", "label": "Code", "type": "String"}]},
        {"name": "c_record", "label": "Record",
         "defaultAcl": ["owner.delete", "role.administrator.read", "role.provider.update"],
         "createAcl": ["account.public"],
         "properties": [
             {"name": "c_title", "label": "Title", "type": "String", "indexed": True},
             {"name": "c_restricted", "label": "Restricted", "type": "String", "indexed": True,
              "readAccess": 6},
             {"name": "c_locked", "label": "Locked", "type": "String", "writeAccess": 7},
             {"name": "c_vault", "label": "Vault", "type": "Reference", "sourceObject": "c_vault",
              "expandable": True},
             {"name": "c_vault_granted", "label": "Vault (granted)", "type": "Reference",
              "sourceObject": "c_vault", "expandable": True, "grant": 4, "paths": ["c_label"]},
             {"name": "c_tags", "label": "Tags", "type": "String", "array": True, "readAccess": 6},
             {"name": "c_history", "label": "History", "type": "Document", "array": True, "readAccess": 6,
              "properties": [{"name": "c_what", "label": "What", "type": "String"}]},
             {"name": "c_profile", "label": "Profile", "type": "Document",
              "properties": [{"name": "c_nick", "label": "Nick", "type": "String"},
                             {"name": "c_level", "label": "Level", "type": "String", "writeAccess": 7}]},
         ]},
        {"name": "c_kind", "label": "Kind", "defaultAcl": ["owner.delete", "role.provider.update"],
         "createAcl": ["account.public"],
         "properties": [{"name": "c_name", "label": "Name", "type": "String", "indexed": True}],
         "objectTypes": [{"name": "c_typed", "label": "Typed", "properties": [
             {"name": "c_locked", "label": "Locked", "type": "String", "writeAccess": 7, "indexed": True},
             {"name": "c_hidden", "label": "Hidden", "type": "String", "readAccess": 7, "indexed": True}]}]},
        {"name": "c_note", "label": "Note", "defaultAcl": ["owner.share"], "createAcl": ["account.public"],
         "properties": [{"name": "c_text", "label": "Text", "type": "String", "writeAccess": 5},
                        {"name": "c_pinned", "label": "Pinned", "type": "Boolean"}]},
    ):
        response = admin.post("objects", definition)
        assert response.status_code == 200, response.text

    owner = callers["owner"]
    vault = owner.post("c_vaults", {"c_label": "owner's vault", "c_code": "1234"}).json()["_id"]
    response = owner.post("c_records", {
        "c_title": "R", "c_restricted": RESTRICTED_VALUE, "c_locked": "locked",
        "c_vault": vault, "c_vault_granted": vault, "c_tags": ["alpha"], "c_history": [{"c_what": "created"}],
        "c_profile": {"c_nick": "r", "c_level": "low"},
        "acl": [{"type": 1, "target": accounts["grantee"]["id"], "allow": 5}],
    })
    assert response.status_code == 200, response.text
    return Scenario(fixture, http, accounts, callers, response.json()["_id"], vault)


@pytest.fixture(scope="module", params=DATABASES)
def scenario(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sqlite_template: Any,
             postgres_run: Any) -> Iterator[Scenario]:
    folder = tmp_path_factory.mktemp(f"acl-matrix-{request.param}")
    with scenario_runtime(request.param, folder, sqlite_template, postgres_run) as runtime:
        fixture = seed_org(runtime)
        with runtime.database.begin() as connection:  # the queries below use $ne, restricted by default
            set_allowed_restricted_operators(connection, fixture.code, ["$ne"])
        with ExitStack() as stack:
            http = stack.enter_context(open_test_client(runtime))
            yield build_scenario(fixture, http, stack)


# The operations: each returns the observed outcome as the matrix writes it.


def fault_outcome(response: Any) -> str | None:
    body = response.json()
    if not isinstance(body, dict) or body.get("object") != "fault":
        return None
    assert_fault(response, body["errCode"], response.status_code)
    outcome = f"{response.status_code} {body['errCode']}"
    return f"{outcome} {body['path']}" if body["errCode"] == "cortex.accessDenied.propertyUpdate" else outcome


def listing_outcome(scenario: Scenario, response: Any, key: str | None = None) -> str:
    fault = fault_outcome(response)
    if fault:
        return fault
    assert response.status_code == 200
    found = [doc for doc in response.json()["data"] if doc["_id"] == scenario.record]
    if not found:
        return "not listed"
    if key is None:
        return "listed"
    assert set(found[0]) <= {"_id", "object", key}, found[0]  # paths[] limits the document
    return "present" if key in found[0] else "absent"


def op_create(scenario: Scenario, caller: Caller) -> str:
    response = caller.post("c_records", {"c_title": "made here"})
    if fault := fault_outcome(response):
        return fault
    assert response.json()["c_title"] == "made here"
    return str(response.status_code)


def op_read(scenario: Scenario, caller: Caller) -> str:
    response = caller.get(f"c_records/{scenario.record}")
    return fault_outcome(response) or f"{response.status_code} access={response.json()['access']}"


def op_list(scenario: Scenario, caller: Caller) -> str:
    return listing_outcome(scenario, caller.get("c_records", limit=1000))


def op_update(scenario: Scenario, caller: Caller) -> str:
    instance = scenario.fresh_record()
    response = caller.put(f"c_records/{instance}", {"c_title": "changed"})
    stored = scenario.stored("c_record", instance)
    assert stored is not None
    if fault := fault_outcome(response):
        assert stored["body"]["c_title"] != "changed" and stored["sequence"] == 0
        return fault
    assert response.json()["c_title"] == stored["body"]["c_title"] == "changed"
    return str(response.status_code)


def op_update_locked(scenario: Scenario, caller: Caller) -> str:
    instance = scenario.fresh_record()
    response = caller.put(f"c_records/{instance}", {"c_locked": "unlocked"})
    stored = scenario.stored("c_record", instance)
    assert stored is not None
    if fault := fault_outcome(response):
        assert stored["body"]["c_locked"] == "locked"
        return fault
    assert stored["body"]["c_locked"] == "unlocked"
    return str(response.status_code)


def op_delete(scenario: Scenario, caller: Caller) -> str:
    instance = scenario.fresh_record()
    response = caller.delete(f"c_records/{instance}")
    stored = scenario.stored("c_record", instance)
    if fault := fault_outcome(response):
        assert stored is not None
        return fault
    assert stored is None and response.json() == {"object": "result", "data": True}
    return str(response.status_code)


def op_read_restricted(scenario: Scenario, caller: Caller) -> str:
    response = caller.get(f"c_records/{scenario.record}")
    if fault := fault_outcome(response):
        return fault
    document = response.json()
    assert document["c_title"] == "R"
    if "c_restricted" in document:
        assert document["c_restricted"] == RESTRICTED_VALUE
        return "present"
    return "absent"


def op_where_restricted(scenario: Scenario, caller: Caller) -> str:
    response = caller.get("c_records", where=json.dumps({"c_restricted": RESTRICTED_VALUE}))
    outcome = listing_outcome(scenario, response)
    return {"listed": "matched", "not listed": "not matched"}.get(outcome, outcome)


def op_sort_restricted(scenario: Scenario, caller: Caller) -> str:
    response = caller.get("c_records", sort=json.dumps({"c_restricted": 1}), limit=1000)
    return listing_outcome(scenario, response)


def op_paths_restricted(scenario: Scenario, caller: Caller) -> str:
    response = caller.get("c_records", **{"paths[]": "c_restricted", "limit": 1000})
    return listing_outcome(scenario, response, "c_restricted")


def op_expand_vault(scenario: Scenario, caller: Caller) -> str:
    response = caller.get(f"c_records/{scenario.record}", **{"expand[]": "c_vault"})
    if fault := fault_outcome(response):
        return fault
    vault = response.json()["c_vault"]
    if vault == {"_id": scenario.vault, "object": "c_vault"}:
        return "unexpanded"
    assert vault["_id"] == scenario.vault and vault["c_label"] == "owner's vault", vault
    return "expanded"


OPERATIONS = {
    "create": op_create, "read": op_read, "list": op_list, "update": op_update,
    "update_locked": op_update_locked,
    "delete": op_delete, "read_restricted": op_read_restricted, "where_restricted": op_where_restricted,
    "sort_restricted": op_sort_restricted, "paths_restricted": op_paths_restricted,
    "expand_vault": op_expand_vault,
}
CELLS = [
    pytest.param(operation, principal, expected, id=f"{operation}-{principal}")
    for operation, row in MATRIX.items()
    for principal, expected in zip(PRINCIPALS, row, strict=True)
]


def test_every_operation_has_a_row() -> None:
    assert set(MATRIX) == set(OPERATIONS)


@pytest.mark.parametrize(("operation", "principal", "expected"), CELLS)
def test_matrix(scenario: Scenario, operation: str, principal: str, expected: str) -> None:
    assert OPERATIONS[operation](scenario, scenario.callers[principal]) == expected


# Beyond the matrix.


def test_administrators_have_no_bypass(scenario: Scenario) -> None:
    """An Administrator sees what ACL entries grant it, and nothing more: not another
    account's vault, not a property above its level, not a write above it."""
    admin = scenario.callers["administrator"]
    assert_fault(admin.get(f"c_vaults/{scenario.vault}"), "cortex.notFound.instance", 404)
    assert_fault(admin.put(f"c_vaults/{scenario.vault}", {"c_label": "x"}), "cortex.notFound.instance", 404)
    assert_fault(admin.delete(f"c_vaults/{scenario.vault}"), "cortex.notFound.instance", 404)
    assert_fault(admin.get(f"c_vaults/{scenario.vault}/c_label"), "cortex.notFound.instance", 404)
    assert scenario.vault not in [doc["_id"] for doc in admin.listed("c_vaults")]
    assert scenario.stored("c_vault", scenario.vault)["body"]["c_label"] == "owner's vault"  # type: ignore[index]
    record = admin.get(f"c_records/{scenario.record}", **{"include[]": "c_restricted"})
    assert record.status_code == 200 and record.json()["access"] == Access.READ
    assert "c_restricted" not in record.json()
    # The same account through a signing app whose principal is the administrator: no difference.
    fixture = scenario.fixture
    signed = CortexClient(scenario.http, fixture.code, fixture.signing_app.key, fixture.signing_app.secret)
    assert_fault(signed.get(f"c_vaults/{scenario.vault}", signed=True), "cortex.notFound.instance", 404)


def test_anonymous_signed_requests_are_anonymous(scenario: Scenario) -> None:
    """A signed request through an app without a principal acts as nobody in particular."""
    fixture = scenario.fixture
    client = CortexClient(scenario.http, fixture.code, fixture.override_app.key, fixture.override_app.secret)
    assert_fault(client.get(f"c_records/{scenario.record}", signed=True), "cortex.notFound.instance", 404)
    listed = client.get("c_records", signed=True)
    assert listed.status_code == 200 and scenario.record not in [doc["_id"] for doc in listed.json()["data"]]
    assert_fault(client.post("c_records", json={"c_title": "x"}, signed=True),
                 "cortex.accessDenied.instanceCreate", 403)


def test_hidden_properties_look_like_unknown_ones(scenario: Scenario) -> None:
    """For a caller who can never read c_restricted (anonymous here), naming it anywhere gets the
    very fault an unknown property gets, apart from the name."""
    anonymous = scenario.callers["anonymous"]

    def same_fault(hidden: dict[str, str], unknown: dict[str, str], name: str) -> None:
        first, second = anonymous.get("c_records", **hidden), anonymous.get("c_records", **unknown)
        assert first.status_code == second.status_code == 400, (first.text, second.text)
        assert first.json() == json.loads(second.text.replace("c_nope", name))

    same_fault({"paths[]": "c_restricted"}, {"paths[]": "c_nope"}, "c_restricted")
    same_fault({"include[]": "c_restricted"}, {"include[]": "c_nope"}, "c_restricted")
    same_fault({"expand[]": "c_vault"}, {"expand[]": "c_nope"}, "c_vault")
    same_fault({"where": '{"c_restricted": "x"}'}, {"where": '{"c_nope": "x"}'}, "c_restricted")
    same_fault({"sort": '{"c_restricted": 1}'}, {"sort": '{"c_nope": 1}'}, "c_restricted")


def test_queries_on_a_hidden_property_reveal_nothing(scenario: Scenario) -> None:
    """The administrator may name c_restricted (it could own a record) but cannot read it on the
    owner's records: no where or sort on it can tell those records' values apart."""
    first, second = scenario.fresh_record(c_restricted="aaa"), scenario.fresh_record(c_restricted="zzz")
    admin, owner = scenario.callers["administrator"], scenario.callers["owner"]
    for where in ({"c_restricted": "aaa"}, {"c_restricted": {"$gt": "m"}}, {"c_restricted": {"$ne": "aaa"}},
                  {"$nor": [{"c_restricted": "aaa"}]}, {"c_restricted": {"$exists": True}}):
        ids = {doc["_id"] for doc in admin.listed("c_records", where=json.dumps(where))}
        assert not ids & {first, second}, where
    for direction in (1, -1):
        ids = [doc["_id"] for doc in admin.listed("c_records", sort=json.dumps({"c_restricted": direction}))]
        assert not set(ids) & {first, second}
    # The owner, who can read it, gets real answers.
    matched = owner.listed("c_records", where=json.dumps({"c_restricted": "aaa"}))
    assert [doc["_id"] for doc in matched] == [first]
    ascending = [doc["_id"] for doc in owner.listed("c_records", sort=json.dumps({"c_restricted": 1}))]
    assert ascending.index(first) < ascending.index(second)
    # The record stays listed for the administrator when the query does not name c_restricted.
    listed = admin.listed("c_records", where=json.dumps({"c_title": {"$exists": True}}))
    assert first in [doc["_id"] for doc in listed]


def test_reference_grant_and_paths(scenario: Scenario) -> None:
    """``grant`` lets an expansion show a target the caller could not read on its own, and the
    Reference's ``paths`` limit what it shows."""
    response = scenario.callers["administrator"].get(f"c_records/{scenario.record}",
                                                      **{"expand[]": ["c_vault", "c_vault_granted"]})
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["c_vault"] == {"_id": scenario.vault, "object": "c_vault"}
    assert document["c_vault_granted"] == {"_id": scenario.vault, "object": "c_vault",
                                           "c_label": "owner's vault"}
    response = scenario.callers["owner"].get(f"c_records/{scenario.record}", **{"expand[]": "c_vault"})
    owner_view = response.json()
    assert owner_view["c_vault"]["c_code"] == "1234" and owner_view["c_vault"]["access"] == Access.DELETE


def test_sharing_needs_share_access(scenario: Scenario) -> None:
    """An ``acl`` in an update from a caller below Share is refused, and nothing is written."""
    instance = scenario.fresh_record()
    other = scenario.accounts["other"]["id"]
    response = scenario.callers["administrator"].put(
        f"c_records/{instance}", {"acl": [{"type": 1, "target": other, "allow": 4}]}
    )
    assert assert_fault(response, "cortex.accessDenied.instance", 403)["path"] == "acl"
    assert_fault(scenario.callers["other"].get(f"c_records/{instance}"), "cortex.notFound.instance", 404)
    # The grantee has Share: it may pass on Read.
    grantee = scenario.accounts["grantee"]["id"]
    shared = [{"type": 1, "target": grantee, "allow": 5}, {"type": 1, "target": other, "allow": 4}]
    response = scenario.callers["grantee"].put(f"c_records/{instance}", {"acl": shared})
    assert response.status_code == 200, response.text
    assert scenario.callers["other"].get(f"c_records/{instance}").json()["access"] == Access.READ


def test_sharing_cannot_grant_more_than_the_sharer_has(scenario: Scenario) -> None:
    """A sharer cannot hand out (to itself or anyone) more access than its own, nor take away a
    grant above its own level."""
    instance = scenario.fresh_record()
    grantee, other = scenario.accounts["grantee"]["id"], scenario.accounts["other"]["id"]
    before = scenario.stored("c_record", instance)
    for acl in ([{"type": 1, "target": grantee, "allow": 7}],
                [{"type": 1, "target": grantee, "allow": 5}, {"type": 1, "target": other, "allow": 6}],
                [{"type": 3, "target": ROLE_SUPPORT, "allow": 6}]):
        response = scenario.callers["grantee"].put(f"c_records/{instance}", {"acl": acl})
        assert assert_fault(response, "cortex.accessDenied.instance", 403)["path"] == "acl", acl
    assert scenario.stored("c_record", instance) == before
    # The owner (Delete) shares Delete with the provider; the grantee (Share) may not revoke it.
    provider = scenario.accounts["provider"]["id"]
    shared = [{"type": 1, "target": grantee, "allow": 5}, {"type": 1, "target": provider, "allow": 7}]
    assert scenario.callers["owner"].put(f"c_records/{instance}", {"acl": shared}).status_code == 200
    response = scenario.callers["grantee"].put(f"c_records/{instance}", {"acl": shared[:1]})
    assert_fault(response, "cortex.accessDenied.instance", 403)
    more = [*shared, {"type": 1, "target": other, "allow": 2}]
    response = scenario.callers["grantee"].put(f"c_records/{instance}", {"acl": more})
    assert response.status_code == 200, response.text
    assert scenario.callers["provider"].delete(f"c_records/{instance}").status_code == 200


def test_a_creator_cannot_grant_itself_more_than_the_object_allows(scenario: Scenario) -> None:
    """c_note gives an owner Share (5). Its creator writes with that access only, whatever the
    new instance's own ``acl`` says, and cannot share more than Share."""
    caller, me = scenario.callers["other"], scenario.accounts["other"]["id"]
    before = len(table_rows(scenario.fixture.runtime, documents, object="c_note"))
    self_grant = [{"type": 1, "target": me, "allow": 6}]
    response = caller.post("c_notes", {"c_text": "hi", "c_pinned": True, "acl": self_grant})
    assert assert_fault(response, "cortex.accessDenied.propertyUpdate", 403)["path"] == "c_pinned"
    response = caller.post("c_notes", {"c_text": "hi", "acl": [{"type": 1, "target": me, "allow": 7}]})
    assert assert_fault(response, "cortex.accessDenied.instance", 403)["path"] == "acl"
    assert len(table_rows(scenario.fixture.runtime, documents, object="c_note")) == before
    grantee = scenario.accounts["grantee"]["id"]
    response = caller.post("c_notes", {"c_text": "hi", "acl": [{"type": 1, "target": grantee, "allow": 4}]})
    assert response.status_code == 200 and response.json()["access"] == Access.SHARE, response.text
    assert scenario.callers["grantee"].get(f"c_notes/{response.json()['_id']}").json()["c_text"] == "hi"


def test_anonymous_and_public_account_entries(scenario: Scenario) -> None:
    """``…01`` (anonymous) in an instance acl means everyone, anonymous callers included;
    ``…03`` (public) means every account of the org, and no anonymous caller."""
    for_everyone = scenario.fresh_record(acl=[{"type": 1, "target": ANONYMOUS, "allow": 1}])
    for_accounts = scenario.fresh_record(acl=[{"type": 1, "target": PUBLIC, "allow": 4}])
    anonymous, other = scenario.callers["anonymous"], scenario.callers["other"]
    document = anonymous.get(f"c_records/{for_everyone}").json()
    assert document["access"] == Access.PUBLIC and "c_title" not in document  # identity only
    assert other.get(f"c_records/{for_everyone}").json()["access"] == Access.PUBLIC
    assert_fault(anonymous.get(f"c_records/{for_accounts}"), "cortex.notFound.instance", 404)
    assert other.get(f"c_records/{for_accounts}").json()["c_title"].startswith("fresh")
    assert for_everyone in [doc["_id"] for doc in anonymous.listed("c_records")]
    assert for_accounts not in [doc["_id"] for doc in anonymous.listed("c_records")]
    assert {for_everyone, for_accounts} <= {doc["_id"] for doc in other.listed("c_records")}


def test_hidden_values_cannot_be_probed_through_writes(scenario: Scenario) -> None:
    """Pulling a value from, or setting an element of, a property the caller can neither read
    nor write is refused before the stored value is looked at: the answer must not depend on it."""
    admin = scenario.callers["administrator"]
    element = scenario.callers["owner"].get(f"c_records/{scenario.record}").json()["c_history"][0]["_id"]
    before = scenario.stored("c_record", scenario.record)
    for present, absent in (("c_tags/alpha", "c_tags/beta"),
                            (f"c_history/{element}", "c_history/000000000000000000000000")):
        first, second = admin.delete(f"c_records/{scenario.record}/{present}"), \
            admin.delete(f"c_records/{scenario.record}/{absent}")
        assert_fault(first, "cortex.accessDenied.propertyUpdate", 403)
        assert first.json() == second.json()
    first = admin.put(f"c_records/{scenario.record}/c_history/{element}/c_what", "x")
    second = admin.put(f"c_records/{scenario.record}/c_history/000000000000000000000000/c_what", "x")
    assert_fault(first, "cortex.accessDenied.propertyUpdate", 403)
    assert first.json() == second.json()
    assert scenario.stored("c_record", scenario.record) == before


def test_document_properties_keep_their_own_write_access(scenario: Scenario) -> None:
    """A Document's sub-property with writeAccess 7 cannot be written with Update access,
    neither in a body nor through its URL path."""
    instance = scenario.fresh_record(c_profile={"c_nick": "n", "c_level": "low"})
    provider = scenario.callers["provider"]
    response = provider.put(f"c_records/{instance}", {"c_profile": {"c_level": "high"}})
    assert assert_fault(response, "cortex.accessDenied.propertyUpdate", 403)["path"] == "c_profile.c_level"
    response = provider.put(f"c_records/{instance}/c_profile/c_level", "high")
    assert assert_fault(response, "cortex.accessDenied.propertyUpdate", 403)["path"] == "c_profile.c_level"
    assert scenario.stored("c_record", instance)["body"]["c_profile"]["c_level"] == "low"  # type: ignore[index]
    response = provider.put(f"c_records/{instance}", {"c_profile": {"c_nick": "m"}})
    assert response.status_code == 200 and response.json()["c_profile"] == {"c_nick": "m", "c_level": "low"}


def test_properties_of_object_types_keep_their_access(scenario: Scenario) -> None:
    """A property defined in an object type (not the base object) keeps its writeAccess and
    readAccess, in writes and in queries, like any other."""
    owner, provider = scenario.callers["owner"], scenario.callers["provider"]
    response = owner.post("c_kinds", {"type": "c_typed", "c_name": "k", "c_locked": "l", "c_hidden": "h"})
    assert response.status_code == 200, response.text
    kind = response.json()["_id"]
    response = provider.put(f"c_kinds/{kind}", {"c_locked": "opened"})
    assert assert_fault(response, "cortex.accessDenied.propertyUpdate", 403)["path"] == "c_locked"
    response = provider.post("c_kinds", {"type": "c_typed", "c_name": "p", "c_locked": "mine"})
    assert response.status_code == 200, response.text  # its own instance: the owner has Delete
    assert [doc["_id"] for doc in provider.listed("c_kinds", where=json.dumps({"c_locked": "l"}))] == [kind]
    assert provider.listed("c_kinds", where=json.dumps({"c_hidden": "h"})) == []
    assert [doc["_id"] for doc in owner.listed("c_kinds", where=json.dumps({"c_hidden": "h"}))] == [kind]
    assert "c_hidden" not in provider.get(f"c_kinds/{kind}").json()


def test_exports_read_as_their_principal(scenario: Scenario) -> None:
    """``as_principal`` gives an export the viewer the API would: the account's roles (with the
    ones they include), and no more access. ``Viewer.system()`` sees everything."""
    runtime, org_id = scenario.fixture.runtime, scenario.fixture.org["id"]
    with runtime.database.connect() as connection:
        definition = find_object(connection, org_id, "c_record")
        assert definition is not None
        dialect = runtime.database.dialect
        viewer = as_principal(connection, org_id, scenario.fixture.admin["email"])
        assert viewer == as_principal(connection, org_id, scenario.fixture.admin["id"])
        assert {ROLE_DEVELOPER, ROLE_SUPPORT} <= viewer.roles and not viewer.full_access
        as_admin = Instances(connection, dialect, org_id, definition, viewer)
        document = as_admin.get(scenario.record)
        assert document["access"] == Access.READ and "c_restricted" not in document
        matched, _ = as_admin.list_page(ListQuery(where={"c_restricted": RESTRICTED_VALUE}))
        assert matched == []
        system = Instances(connection, dialect, org_id, definition, Viewer.system(org_id))
        document = system.get(scenario.record, Selection(include=frozenset({"c_restricted"})))
        assert document["c_restricted"] == RESTRICTED_VALUE and document["access"] >= Access.DELETE
        matched, _ = system.list_page(ListQuery(where={"c_restricted": RESTRICTED_VALUE}))
        assert [doc["_id"] for doc in matched] == [scenario.record]
        anonymous = as_principal(connection, org_id, ANONYMOUS)
        assert anonymous.anonymous and not anonymous.roles
        for refused in (SYSTEM, PUBLIC, "administrator", "nobody@acme.test"):
            with pytest.raises(Fault) as fault:
                as_principal(connection, org_id, refused)
            assert fault.value.to_json()["errCode"] == "cortex.accessDenied.principal"
