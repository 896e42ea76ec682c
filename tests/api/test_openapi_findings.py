"""What schemathesis found against /openapi.json, each pinned by a focused test."""

from __future__ import annotations

import pytest

from opencortex.api.app import create_app
from opencortex.settings import Settings
from tests.instances.conftest import load_study
from tests.support.platform import CortexClient, assert_fault


@pytest.fixture
def admin(platform, http) -> CortexClient:
    client = CortexClient(http, platform.code, platform.session_app.key)
    client.login(platform.admin["email"])
    return client


@pytest.mark.parametrize("op", [["set"], {"$integer": 1}, 5, None])
def test_an_operation_name_that_is_not_text_is_a_fault_not_a_500(platform, admin, op):
    """PATCH ``[{"op": [...]}]`` answered 500: the name was looked up in a set (unhashable)."""
    _, patient_ids = load_study(platform, 1)
    response = admin.request("PATCH", f"c_patients/{patient_ids[0]}", json=[{"op": op, "path": "c_score"}])
    fault = assert_fault(response, "cortex.invalidArgument.unspecified", 400)
    assert fault["path"] == "[0].op" and fault["index"] == 0
    response = admin.request("PATCH", f"c_patients/{patient_ids[0]}/c_name", json=[{"op": op, "path": "c_first"}])
    assert assert_fault(response, "cortex.invalidArgument.unspecified", 400)["path"] == "[0].op"


@pytest.mark.parametrize("op", [["set"], {"set": True}])
def test_an_export_operation_name_that_is_not_text_is_a_fault_not_a_500(platform, admin, op):
    created = admin.post("exports", json={"label": "x", "objects": "logs"})
    assert created.status_code == 200, created.text
    response = admin.request("PATCH", f"exports/{created.json()['_id']}", json=[{"op": op, "path": "label"}])
    assert assert_fault(response, "cortex.invalidArgument.unspecified", 400)["path"] == "[0].op"


def test_the_schema_allows_what_instances_and_expanded_accounts_really_hold():
    """Two answers broke the first schema, which was wrong about them: an instance never
    updated shows ``updated: null``, and an expanded reference keeps its ``path``."""
    components = create_app(Settings()).openapi()["components"]["schemas"]
    assert {"type": "null"} in components["Instance"]["properties"]["updated"]["anyOf"]
    assert "path" in components["Account"]["properties"]
    # The export's file listing refers to the Facet schema (a module constant once shadowed it).
    listing = create_app(Settings()).openapi()["paths"]["/{org}/v2/exports/{export_id}/files"]["get"]
    items = listing["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["data"]["items"]
    assert items == {"$ref": "#/components/schemas/Facet"}


@pytest.mark.parametrize("script", ["x = \u00b9", "let n = \u00b2\u00b3;", "var a = .\u00b9"])
def test_an_after_script_with_a_superscript_digit_is_a_compile_fault_not_a_500(admin, script):
    """The script scanner took "¹" for the start of a number (``str.isdigit``) that its number
    pattern then did not match, and crashed: POST /exports (and /exportSchedules) answered 500."""
    response = admin.post("exports", json={"label": "x", "objects": "logs", "afterScript": script})
    fault = assert_fault(response, "cortex.invalidArgument.validation", 400)
    [child] = fault["faults"]
    assert child["path"] == "afterScript" and child["errCode"] == "cortex.invalidArgument.scriptCompile", child
