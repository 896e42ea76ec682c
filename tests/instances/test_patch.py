"""PATCH with Cortex's operations array, and POST push at the root: atomic, checked per property."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from opencortex.instances.service import Instances
from opencortex.store.tables import documents
from tests.instances.conftest import Study
from tests.support.platform import CortexClient, assert_fault, open_test_client

MEMOS = {
    "name": "c_memo", "label": "Memo", "defaultAcl": ["owner.delete"],
    "createAcl": ["role.administrator", "role.provider"],
    "properties": [
        {"name": "c_title", "label": "Title", "type": "String", "indexed": True},
        {"name": "c_locked", "label": "Locked", "type": "String", "writeAccess": 7},
        {"name": "c_extra", "label": "Extra", "type": "String", "removable": True},
        {"name": "c_count", "label": "Count", "type": "Number",
         "validators": [{"name": "number", "definition": {"min": 0, "max": 10}}]},
        {"name": "c_tags", "label": "Tags", "type": "String", "array": True, "removable": True},
        {"name": "c_fixed", "label": "Fixed", "type": "String", "array": True, "canPull": False},
        {"name": "c_items", "label": "Items", "type": "Document", "array": True, "properties": [
            {"name": "c_label", "label": "Label", "type": "String"},
            {"name": "c_qty", "label": "Quantity", "type": "Number", "removable": True},
            {"name": "c_sealed", "label": "Sealed", "type": "String", "writeAccess": 7},
        ]},
        {"name": "c_info", "label": "Info", "type": "Document", "properties": [
            {"name": "c_note", "label": "Note", "type": "String", "removable": True},
        ]},
    ],
}


def patch(client: CortexClient, path: str, operations: Any) -> Any:
    return client.request("PATCH", path, json=operations)


@pytest.fixture
def memo(study: Study) -> dict[str, Any]:
    assert study.client.post("objects", json=MEMOS).status_code == 200
    response = study.client.post("c_memos", json={
        "c_title": "first", "c_locked": "l", "c_extra": "e", "c_count": 1, "c_tags": ["a", "b", "a"],
        "c_fixed": ["f"], "c_items": [{"c_label": "one", "c_qty": 1, "c_sealed": "s"}, {"c_label": "two", "c_qty": 2}],
        "c_info": {"c_note": "n"},
    })
    assert response.status_code == 200, response.text
    return dict(response.json())


def stored(study: Study, memo_id: str) -> dict[str, Any]:
    with study.platform.runtime.database.connect() as connection:
        row = connection.execute(sa.select(documents.c.body, documents.c.sequence).where(
            documents.c.org_id == study.platform.org["id"], documents.c.id == memo_id)).one()
    return {"body": row.body, "sequence": row.sequence}


def test_operations_apply_in_order(study: Study, memo: dict[str, Any]) -> None:
    first_item, second_item = (item["_id"] for item in memo["c_items"])
    response = patch(study.client, f"c_memos/{memo['_id']}", [
        {"op": "set", "path": "c_title", "value": "second"},
        {"op": "set", "value": {"c_count": 5}},
        {"op": "push", "path": "c_tags", "value": ["c", "d"]},
        {"op": "pull", "path": "c_tags", "value": "a"},
        {"op": "$set", "path": f"c_items.{second_item}.c_label", "value": "TWO"},
        {"op": "unset", "path": f"c_items.{first_item}.c_qty"},
        {"op": "unset", "path": "c_extra"},
        {"op": "remove", "path": "c_info.c_note"},
        {"op": "push", "path": "c_items", "value": {"c_label": "three"}},
        {"op": "remove", "path": f"c_items.{first_item}"},
    ])
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched["c_title"] == "second" and patched["c_count"] == 5
    assert patched["c_tags"] == ["b", "c", "d"]
    assert "c_extra" not in patched and patched["c_info"] == {}
    assert [(item["_id"] == second_item, item["c_label"], item.get("c_qty")) for item in patched["c_items"]] == [
        (True, "TWO", 2), (False, "three", None)]
    assert study.client.get(f"c_memos/{memo['_id']}").json() == patched
    assert stored(study, memo["_id"])["sequence"] == 1  # one write for all ten operations


def test_one_failing_operation_writes_nothing(study: Study, memo: dict[str, Any]) -> None:
    before = stored(study, memo["_id"])
    response = patch(study.client, f"c_memos/{memo['_id']}", [
        {"op": "set", "path": "c_title", "value": "changed"},
        {"op": "push", "path": "c_tags", "value": "z"},
        {"op": "set", "path": "c_count", "value": 11},  # over the validator's max
    ])
    fault = assert_fault(response, "cortex.invalidArgument.validation", 400)
    assert fault["index"] == 2 and fault["faults"][0]["path"] == "c_count"
    assert stored(study, memo["_id"]) == before


@pytest.mark.parametrize(("operations", "err_code", "status", "path"), [
    ([{"op": "set", "path": "c_nope", "value": 1}], "cortex.invalidArgument.validation", 400, "c_nope"),
    ([{"op": "pull", "path": "c_fixed", "value": "f"}], "cortex.accessDenied.propertyUpdate", 403, "c_fixed"),
    ([{"op": "unset", "path": "c_title"}], "cortex.accessDenied.propertyUpdate", 403, "c_title"),
    ([{"op": "push", "path": "c_title", "value": "x"}], "cortex.invalidArgument.unspecified", 400, "c_title"),
    ([{"op": "set", "path": "c_items.000000000000000000000000.c_label", "value": "x"}],
     "cortex.notFound.property", 404, "c_items.000000000000000000000000"),
    ([{"op": "rename", "path": "c_title"}], "cortex.invalidArgument.unspecified", 400, "[0].op"),
    ([{"op": "set", "path": "c_title", "value": "x", "upsert": True}], "cortex.invalidArgument.unspecified", 400,
     "[0].upsert"),
    ([{"op": "set", "path": "c_title"}], "cortex.invalidArgument.unspecified", 400, "[0]"),
    ([{"op": "unset", "path": "c_extra", "value": 1}], "cortex.invalidArgument.unspecified", 400, "[0]"),
    ([{"op": "set", "value": {"acl": []}}], "cortex.invalidArgument.unspecified", 400, "acl"),
    ({"op": "set", "path": "c_title", "value": "x"}, "cortex.invalidArgument.unspecified", 400, "body"),
])
def test_bad_operations_are_refused(study: Study, memo: dict[str, Any], operations: Any, err_code: str,
                                    status: int, path: str) -> None:
    before = stored(study, memo["_id"])
    fault = assert_fault(patch(study.client, f"c_memos/{memo['_id']}", operations), err_code, status)
    assert fault.get("path", fault.get("faults", [{}])[0].get("path")) == path, fault
    assert stored(study, memo["_id"]) == before


@pytest.fixture
def provider(study: Study) -> Iterator[CortexClient]:
    with open_test_client(study.platform.runtime) as http:
        client = CortexClient(http, study.platform.code, study.platform.session_app.key)
        assert client.login(study.platform.provider["email"]).status_code == 200
        yield client


def test_write_access_is_checked_per_property(study: Study, memo: dict[str, Any], provider: CortexClient) -> None:
    shared = [{"type": 1, "target": study.platform.provider["id"], "allow": 6}]  # Update, below c_locked's 7
    assert study.client.put(f"c_memos/{memo['_id']}", json={"acl": shared}).status_code == 200
    before = stored(study, memo["_id"])
    path = f"c_memos/{memo['_id']}"
    fault = assert_fault(patch(provider, path, [{"op": "set", "path": "c_title", "value": "mine"},
                                                {"op": "set", "path": "c_locked", "value": "mine"}]),
                         "cortex.accessDenied.propertyUpdate", 403)
    assert (fault["path"], fault["index"]) == ("c_locked", 1)
    item = memo["c_items"][0]["_id"]
    fault = assert_fault(patch(provider, path, [{"op": "set", "path": f"c_items.{item}.c_sealed", "value": "x"}]),
                         "cortex.accessDenied.propertyUpdate", 403)
    assert fault["path"] == "c_items.c_sealed"
    assert stored(study, memo["_id"]) == before
    allowed = patch(provider, path, [{"op": "set", "path": "c_title", "value": "mine"}])
    assert allowed.status_code == 200 and allowed.json()["c_title"] == "mine"


def test_an_instance_the_caller_cannot_see_is_not_found(study: Study, memo: dict[str, Any],
                                                       provider: CortexClient) -> None:
    assert_fault(patch(provider, f"c_memos/{memo['_id']}", [{"op": "set", "path": "c_title", "value": "x"}]),
                 "cortex.notFound.instance", 404)
    assert_fault(provider.post(f"c_memos/{memo['_id']}", json={"c_tags": ["x"]}), "cortex.notFound.instance", 404)


def test_patch_below_a_path(study: Study, memo: dict[str, Any]) -> None:
    item = memo["c_items"][1]["_id"]
    response = patch(study.client, f"c_memos/{memo['_id']}/c_items/{item}", [
        {"op": "set", "path": "c_label", "value": "renamed"}, {"op": "unset", "path": "c_qty"},
    ])
    assert response.status_code == 200, response.text
    changed = next(element for element in response.json()["c_items"] if element["_id"] == item)
    assert changed == {"_id": item, "c_label": "renamed"}
    whole = patch(study.client, f"c_memos/{memo['_id']}/c_title", [{"op": "set", "value": "via path"}])
    assert whole.json()["c_title"] == "via path"


def test_an_empty_patch_changes_nothing(study: Study, memo: dict[str, Any]) -> None:
    before = stored(study, memo["_id"])
    for body in ([], None):
        response = study.client.request("PATCH", f"c_memos/{memo['_id']}", json=body)
        assert response.status_code == 200 and response.json()["_id"] == memo["_id"]
    assert stored(study, memo["_id"]) == before


def test_post_on_an_instance_pushes_at_the_root(study: Study, memo: dict[str, Any]) -> None:
    response = study.client.post(f"c_memos/{memo['_id']}", json={"c_tags": ["x", "y"], "c_items": {"c_label": "z"}})
    assert response.status_code == 200, response.text
    pushed = response.json()
    assert pushed["c_tags"] == ["a", "b", "a", "x", "y"] and pushed["c_items"][-1]["c_label"] == "z"
    assert stored(study, memo["_id"])["sequence"] == 1
    fault = assert_fault(study.client.post(f"c_memos/{memo['_id']}", json={"c_tags": ["q"], "c_title": "t"}),
                         "cortex.invalidArgument.unspecified", 400)
    assert fault["path"] == "c_title" and "q" not in study.client.get(f"c_memos/{memo['_id']}").json()["c_tags"]


def test_a_concurrent_write_wins_and_the_patch_writes_nothing(study: Study, memo: dict[str, Any],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The patch's read is older than the stored instance (someone wrote in between): the guarded
    write refuses, as a PUT's does, and nothing of the patch is stored."""
    real = Instances.get_row

    def read_before_another_write(self: Instances, instance_id: str, needed: int = 1) -> dict[str, Any]:
        row = real(self, instance_id, needed)
        return {**row, "sequence": row["sequence"] - 1}

    before = stored(study, memo["_id"])
    monkeypatch.setattr(Instances, "get_row", read_before_another_write)
    assert_fault(patch(study.client, f"c_memos/{memo['_id']}", [{"op": "set", "path": "c_title", "value": "late"}]),
                 "cortex.conflict.sequencing", 409)
    monkeypatch.undo()
    assert stored(study, memo["_id"]) == before
