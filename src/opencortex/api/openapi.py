"""The OpenAPI document, served at ``GET /openapi.json``: every ``/{org}/v2`` route and ``/health``
with its parameters, request bodies, responses and content types.

The routes parse their own requests (so that nothing is ever ignored and every bad input is a
Cortex fault), which leaves the framework nothing to describe them from. So each route carries
its description in ``openapi_extra``, built with ``described(...)`` from the schemas in
``api.schemas``; the query parameters come from the route's own ``accepts(...)`` declaration, the
same list that refuses any other argument; path parameters from its path. Every operation also
answers faults (``default``). The console's pages (HTML, at ``/{org}/console``) are not part of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.routing import APIRoute

from opencortex import __version__
from opencortex.api.query_arguments import SIGNED_LINK_ARGUMENTS, declared, refuse_unknown
from opencortex.api.responses import JSONBody
from opencortex.api.schemas import bodies, deidentification, documents, envelopes
from opencortex.api.schemas.envelopes import ANY_JSON, OBJECT_ID, Schema, list_of, ref, result_of
from opencortex.exports.jobs import ExportState

OPENAPI_PATH = "/openapi.json"
_QUERY_KEY = "x-query"  # a route's overrides of query parameter schemas; consumed, not published
_PATH_KEY = "x-path"  # the same for path parameters
_SIGNED_KEY = "x-signed-link"  # the route's path is one a signed link can point at
_DOWNLOAD_KEY = "x-download"  # the route serves stored bytes
_ALSO_KEY = "x-also-accepts"  # query arguments of a route of the same path and method, left out
JSON = "application/json"
NDJSON = "application/x-ndjson"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
BINARY: Schema = {"type": "string", "format": "binary"}

# Query parameters by the name routes declare in ``accepts`` (their schema, and how they are sent).
_ARRAY = {"type": "array", "items": {"type": "string"}}
QUERY_PARAMETERS: dict[str, dict[str, Any]] = {
    "where": {"schema": {"type": "string"}, "description": "A where document, as JSON (docs/api.md, Queries)."},
    "sort": {"schema": {"type": "string"}, "description": "A sort document, as JSON: {\"created\": -1}."},
    "skip": {"schema": {"type": "integer", "minimum": 0, "maximum": 500_000}, "description": "Items to skip."},
    "limit": {"schema": {"type": "integer", "minimum": 1, "maximum": 1000},
              "description": "Page size (100 by default). A streamed (NDJSON) list takes any positive number."},
    "startingAfter": {"schema": OBJECT_ID, "description": "Keyset paging: items after this _id."},
    "endingBefore": {"schema": OBJECT_ID, "description": "Keyset paging: items before this _id."},
    "paths": {"name": "paths[]", "schema": _ARRAY, "description": "Only these properties (_id, object stay)."},
    "include": {"name": "include[]", "schema": _ARRAY, "description": "Optional properties to add."},
    "expand": {"name": "expand[]", "schema": _ARRAY, "description": "References to replace by their documents."},
    "total": {"schema": {"type": "boolean"}, "description": "Add total: the items over every page."},
    "pipeline": {"schema": {"type": "string"}, "description": "An aggregation pipeline, as a JSON array."},
    "state": {"schema": {"enum": [state.value for state in ExportState]}, "description": "Only exports in it."},
    "expires": {"schema": {"type": "integer", "minimum": 0}, "description": "A signed link's expiry (Unix s)."},
    "principal": {"schema": OBJECT_ID, "description": "A signed link's principal."},
    "signature": {"schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                  "description": "A signed link's signature: with expires and principal, the link is the only "
                                 "credential needed."},
    "filename": {"schema": {"type": "string"}, "description": "A raw upload body's file name."},
}
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "org": {"schema": {"type": "string"}, "description": "The org's code."},
    "plural": {"schema": {"type": "string"}, "description": "An object's plural name: c_patients."},
    "instance_id": {"schema": OBJECT_ID, "description": "An instance's _id."},
    "export_id": {"schema": OBJECT_ID, "description": "An export's _id."},
    "account_id": {"schema": OBJECT_ID, "description": "An account's _id."},
    "name": {"schema": {"type": "string"}, "description": "An object's name or plural name."},
    "path": {"schema": {"type": "string"}, "description": "A property path, its parts separated by /."},
    "number": {"schema": {"type": "string", "pattern": "^[0-9]{10}$"}, "description": "A stored file's number."},
    "token": {"schema": {"type": "string"}, "description": "The upload target's token (the credential)."},
    "schedule_id": {"schema": OBJECT_ID, "description": "An export schedule's _id."},
}
DOWNLOAD_HEADERS: list[dict[str, Any]] = [
    {"name": "Range", "in": "header", "required": False, "schema": {"type": "string"},
     "description": "One range: bytes=0-99, bytes=-500, bytes=1000-. Others are ignored (the whole file)."},
    {"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"},
     "description": "The ETag: 304 when it has not changed."},
    {"name": "If-Range", "in": "header", "required": False, "schema": {"type": "string"}},
]
_SERVER_HEADERS = {
    "Medable-Server-Time": {"description": "The server's clock, epoch milliseconds.",
                            "schema": {"type": "string", "pattern": "^[0-9]+$"}},
    "medable-request-id": {"description": "This request's id.", "schema": {"type": "string"}},
}
SECURITY_SCHEMES: dict[str, Any] = {
    "clientKey": {"type": "apiKey", "in": "header", "name": "Medable-Client-Key",
                  "description": "An enabled app's key: every request of the org's API needs one (or a bearer "
                                 "token, whose iss names the app)."},
    "session": {"type": "apiKey", "in": "cookie", "name": "md.sid",
                "description": "A password session (POST /accounts/login). POST, PUT, PATCH and DELETE also send "
                               "the medable-csrf-token header the last response carried."},
    "signature": {"type": "apiKey", "in": "header", "name": "Medable-Client-Signature",
                  "description": "A signed request, with Medable-Client-Timestamp and Medable-Client-Nonce "
                                 "(docs/api.md, Authentication)."},
    "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
}
API_SECURITY: list[dict[str, list[str]]] = [
    {"clientKey": [], "session": []}, {"clientKey": [], "signature": []}, {"bearer": []}, {"clientKey": []},
]


# Describing a route


def json_response(schema: Schema, description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def described(summary: str, ok: Schema | None = None, *, responses: Mapping[int, Any] | None = None,
              body: Mapping[str, Any] | None = None, query: Mapping[str, Schema] | None = None,
              path: Mapping[str, Mapping[str, Any]] | None = None,
              also_accepts: Iterable[str] = (), download: bool = False, signed_link: bool = False,
              credentials: bool = True) -> dict[str, Any]:
    """A route's ``openapi_extra``. ``ok``: the schema of its 200 JSON answer; ``responses``: others
    by status (``json_response``, ``download_responses``); ``body``: its request body
    (``json_body``, ``file_body``); ``query``: schemas of declared query arguments that differ from
    the usual ones (``QUERY_PARAMETERS``); ``path``: path parameters (schema and description)
    that differ from ``PATH_PARAMETERS``; ``also_accepts``: arguments that another route of the
    same path and method, left out of the document, declares (a direct upload's ``filename``);
    ``download``: it serves stored bytes (``Range``, ``If-None-Match``); ``signed_link``: a signed
    link can point at it (its three arguments); ``credentials=False``: it needs no app key (the
    credential is in the URL)."""
    by_status: dict[int, Any] = {200: json_response(ok)} if ok is not None else {}
    by_status.update(responses or {})
    extra: dict[str, Any] = {"summary": summary, "responses": {str(code): value for code, value in by_status.items()}}
    if body is not None:
        extra["requestBody"] = dict(body)
    if query:
        extra[_QUERY_KEY] = dict(query)
    if path:
        extra[_PATH_KEY] = {name: dict(parameter) for name, parameter in path.items()}
    if download:
        extra[_DOWNLOAD_KEY] = True
    if signed_link:
        extra[_SIGNED_KEY] = True
    if also_accepts:
        extra[_ALSO_KEY] = sorted(also_accepts)
    if not credentials:
        extra["security"] = []
    return extra


def json_body(schema: Schema, *, form: bool = False, required: bool = False) -> dict[str, Any]:
    """A JSON request body (and the same as a form, where the route takes forms)."""
    content: dict[str, Any] = {JSON: {"schema": schema}}
    if form:
        content[FORM] = {"schema": schema}
    return {"required": required, "content": content}


def file_body(*, json_schema: Schema | None = None) -> dict[str, Any]:
    """A file, as multipart (part ``file``) or as the raw body; and, on a path that also takes JSON
    writes, the JSON value."""
    content: dict[str, Any] = {}
    if json_schema is not None:
        content[JSON] = {"schema": json_schema}
    content[MULTIPART] = {"schema": bodies.FILE_UPLOAD_MULTIPART}
    content["application/octet-stream"] = {"schema": bodies.RAW_FILE}
    return {"required": json_schema is None, "content": content}


def download_responses(json_schema: Schema, description: str) -> dict[int, Any]:
    """A stored file: its bytes (200, or 206 for a Range), 304 for a matching If-None-Match, or
    with ``Accept: application/json`` its facet (``json_schema``)."""
    return {
        200: {"description": description, "content": {"*/*": {"schema": BINARY}, JSON: {"schema": json_schema}}},
        206: {"description": "The bytes of the Range asked for (Content-Range says which).",
              "content": {"*/*": {"schema": BINARY}}},
        304: {"description": "Not modified (If-None-Match matched the ETag): no body."},
    }


ACCOUNT = ref("Account")
INSTANCE = ref("Instance")
EXPORT = ref("Export")
FACET_SCHEMA = ref("Facet")
TRUE_RESULT = result_of({"const": True})
PROPERTY_VALUE = {"anyOf": [ref("Result"), ref("List")],
                  "description": "One property: a result envelope, or a list envelope for an array."}
LIST_WITH_NDJSON = {200: {
    "description": "A page of the list; with Accept: application/x-ndjson, every item, one JSON document a "
                   "line (a failure after the first line ends the body with a fault line).",
    "content": {JSON: {"schema": list_of(documents.LIST_ITEM)}, NDJSON: {"schema": {"type": "string"}}},
}}
PROPERTY_READ = download_responses(
    {"anyOf": [ref("Result"), ref("List"), FACET_SCHEMA]},
    "A property in a result envelope (a list envelope for an array or a List property); a file facet's bytes, or "
    "with Accept: application/json its facet.")
PROPERTY_READ[200]["content"][NDJSON] = {"schema": {"type": "string"}}


# The document


def openapi_document(routes: Iterable[Any]) -> dict[str, Any]:
    """The document of ``routes`` (an app's): the API's, not the console's."""
    paths: dict[str, dict[str, Any]] = {}
    operation_ids: set[str] = set()
    for route in api_routes(routes):
        if not route.include_in_schema or not is_documented_path(route.path):
            continue
        for method in sorted(route.methods or ()):
            if method.lower() in paths.get(route.path_format, {}):
                raise ValueError(f"two routes describe {method} {route.path_format}: leave one out of the schema")
            operation = _operation(route, method)
            if operation["operationId"] in operation_ids:
                raise ValueError(f"two routes have the operationId {operation['operationId']!r}")
            operation_ids.add(operation["operationId"])
            paths.setdefault(route.path_format, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "OpenCortex", "version": __version__,
                 "description": "The Medable Cortex v2 API as OpenCortex implements it (docs/api.md)."},
        "paths": paths,
        "components": {
            "schemas": {**envelopes.COMPONENTS, **documents.COMPONENTS, **bodies.COMPONENTS,
                        **deidentification.COMPONENTS},
            "securitySchemes": SECURITY_SCHEMES,
        },
        "security": API_SECURITY,
    }


def api_routes(routes: Iterable[Any]) -> list[APIRoute]:
    """The API routes among an app's routes, those of included routers too."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before included routers became lazy: the routes are in the list
        return [route for route in routes if isinstance(route, APIRoute)]
    return [context.original_route for context in iter_route_contexts(list(routes))
            if isinstance(context.original_route, APIRoute)]


def is_documented_path(path: str) -> bool:
    return path == "/health" or path == "/{org}/v2" or path.startswith("/{org}/v2/")


def is_described(route: APIRoute) -> bool:
    """Whether the route carries its description (``described``): every documented one must."""
    return bool(route.openapi_extra and "responses" in route.openapi_extra and "summary" in route.openapi_extra)


def _operation(route: APIRoute, method: str) -> dict[str, Any]:
    extra = dict(route.openapi_extra or {})
    query_overrides = extra.pop(_QUERY_KEY, {})
    path_overrides = extra.pop(_PATH_KEY, {})
    signed = extra.pop(_SIGNED_KEY, False)
    download = extra.pop(_DOWNLOAD_KEY, False)
    also = extra.pop(_ALSO_KEY, [])
    responses = extra.pop("responses", None) or {"200": json_response(ANY_JSON)}
    if method == "HEAD":  # the same statuses, without bodies
        responses = {code: {"description": response["description"]} for code, response in responses.items()}
    operation: dict[str, Any] = {
        "operationId": route.name if len(route.methods or ()) == 1 else f"{route.name}_{method.lower()}",
        "tags": [route.endpoint.__module__.rsplit(".", 1)[-1]],
        "summary": extra.pop("summary", route.name.replace("_", " ")),
        "parameters": _parameters(route, query_overrides, path_overrides, also, signed=signed, download=download),
        "responses": {**{code: _with_server_headers(response) for code, response in responses.items()},
                      "default": _with_server_headers(json_response(ref("Fault"), "A Cortex fault."))},
        **extra,
    }
    if route.description:
        operation["description"] = re.sub(r"``([^`]+)``", r"`\1`", route.description)
    if method in ("GET", "HEAD", "DELETE"):
        operation.pop("requestBody", None)
    return operation


def _parameters(route: APIRoute, overrides: Mapping[str, Schema], path_overrides: Mapping[str, Any],
                also: Iterable[str], *, signed: bool, download: bool) -> list[dict[str, Any]]:
    parameters = [
        {"name": name, "in": "path", "required": True,
         **(path_overrides.get(name) or PATH_PARAMETERS.get(name, {"schema": {"type": "string"}}))}
        for name in re.findall(r"{([^}:]+)", route.path)
    ]
    names = sorted(declared(route) or ())
    names += [name for name in also if name not in names]
    if signed:
        names += [name for name in SIGNED_LINK_ARGUMENTS if name not in names]
    for name in names:
        known = QUERY_PARAMETERS.get(name, {"schema": {"type": "string"}})
        parameter = {"in": "query", "required": False, "name": name, **known}
        if name in overrides:
            parameter["schema"] = overrides[name]
        if parameter["schema"].get("type") == "array":
            parameter.update(style="form", explode=True)
        parameters.append(parameter)
    if download:
        parameters += DOWNLOAD_HEADERS
    return parameters


def _with_server_headers(response: Mapping[str, Any]) -> dict[str, Any]:
    return {**response, "headers": {**_SERVER_HEADERS, **response.get("headers", {})}}


# Serving it


router = APIRouter()


@router.get(OPENAPI_PATH, include_in_schema=False)
def openapi_json(request: Request) -> JSONBody:
    """The document, built once per app."""
    refuse_unknown(request.query_params.keys(), frozenset())
    return JSONBody(request.app.openapi())


def install_openapi(app: FastAPI) -> None:
    """``app.openapi()`` returns this document (cached), and ``GET /openapi.json`` serves it."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_document(app.routes)
        return app.openapi_schema

    app.openapi = build  # type: ignore[method-assign]
    app.include_router(router)
