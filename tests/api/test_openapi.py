"""``GET /openapi.json``: what it documents, and that it is built from the routes' own declarations."""

from __future__ import annotations

import re

import pytest
import schemathesis

from opencortex.api.app import create_app
from opencortex.api.openapi import api_routes, is_described, is_documented_path
from opencortex.api.query_arguments import SIGNED_LINK_ARGUMENTS, declared
from opencortex.api.schemas.bodies import EXPORT_CREATE
from opencortex.exports import validation
from opencortex.settings import Settings
from tests.support.platform import assert_fault


@pytest.fixture(scope="module")
def app():
    return create_app(Settings())


def _operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_the_document_is_served_as_json_and_loads_as_openapi_3_1(http):
    response = http.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert "medable-server-time" in response.headers
    document = response.json()
    assert document["openapi"] == "3.1.0"
    schema = schemathesis.openapi.from_dict(document)
    loaded = [result.ok() for result in schema.get_all_operations()]  # each operation resolves
    assert len(loaded) == sum(1 for _ in _operations(document))


def test_the_document_refuses_query_arguments_like_every_route(http):
    assert_fault(http.get("/openapi.json?format=yaml"), "cortex.invalidArgument.query", 400)


def test_it_holds_the_api_and_health_but_not_the_console(app):
    paths = set(app.openapi()["paths"])
    assert {"/health", "/{org}/v2", "/{org}/v2/exports", "/{org}/v2/{plural}/{instance_id}/{path}"} <= paths
    assert not [path for path in paths if "console" in path or path == "/openapi.json"]
    # The signed-link route and the direct uploads are described on the paths they serve.
    assert "/{org}/v2/{path}" not in paths


def test_every_api_route_carries_its_description(app):
    undescribed = [f"{sorted(route.methods)} {route.path}" for route in api_routes(app.routes)
                   if route.include_in_schema and is_documented_path(route.path) and not is_described(route)]
    assert undescribed == []


def test_every_operation_has_a_real_answer_schema_and_answers_faults(app):
    for path, method, operation in _operations(app.openapi()):
        label = f"{method.upper()} {path}"
        assert operation["summary"] and operation["operationId"], label
        assert operation["responses"]["default"]["content"]["application/json"]["schema"] == \
            {"$ref": "#/components/schemas/Fault"}, label
        ok = operation["responses"]["200"]
        if method != "head":
            assert ok["content"] and all(media["schema"] for media in ok["content"].values()), label
        assert {"Medable-Server-Time", "medable-request-id"} <= set(ok["headers"]), label


def test_query_parameters_are_the_routes_own_declarations(app):
    """``accepts(...)`` is the one source: an operation lists exactly what its route takes, plus
    what a route left out of the document takes on the same path and method (a direct upload's
    ``filename``), plus a signed link's arguments where one can point."""
    document = app.openapi()
    routes = api_routes(app.routes)
    hidden = {(route.path, method): set(declared(route) or ()) for route in routes if not route.include_in_schema
              for method in route.methods}
    for route in routes:
        if not route.include_in_schema or not is_documented_path(route.path):
            continue
        for method in route.methods:
            operation = document["paths"][route.path_format][method.lower()]
            listed = {parameter["name"].removesuffix("[]") for parameter in operation["parameters"]
                      if parameter["in"] == "query"}
            expected = set(declared(route) or ()) | hidden.get((route.path, method), set())
            if (route.openapi_extra or {}).get("x-signed-link"):
                expected |= set(SIGNED_LINK_ARGUMENTS)
            assert listed == expected, (method, route.path)
            path_names = {parameter["name"] for parameter in operation["parameters"] if parameter["in"] == "path"}
            assert path_names == set(re.findall(r"{([^}:]+)", route.path)), (method, route.path)


def test_the_export_body_schema_names_every_property_the_server_takes():
    assert set(EXPORT_CREATE["properties"]) == set(validation._PROPERTIES)


def test_requests_without_credentials_are_marked_so(app):
    document = app.openapi()
    assert document["paths"]["/health"]["get"]["security"] == []
    assert document["paths"]["/{org}/v2/uploads/{token}"]["post"]["security"] == []
    assert "security" not in document["paths"]["/{org}/v2/exports"]["get"]
    assert {"clientKey", "session", "signature", "bearer"} == set(document["components"]["securitySchemes"])
