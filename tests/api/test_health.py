"""``GET /health``: for load balancers and container health checks. No credentials, nothing about
orgs; 200 ``{"status": "ok"}`` while the database answers, 503 ``{"status": "unavailable"}`` when
it does not."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import create_engine

from opencortex.settings import normalise_database_url
from tests.support.platform import assert_fault

# Nothing listens on port 1: connecting fails at once, as with a database that is down.
UNREACHABLE = normalise_database_url("postgresql://postgres@127.0.0.1:1/opencortex?connect_timeout=2")


def test_healthy_without_credentials_and_without_org_information(platform, http):
    response = http.get("/health")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.content == b'{"status":"ok"}'
    assert "medable-csrf-token" not in response.headers


def test_head_gives_the_status_only(platform, http):
    response = http.head("/health")
    assert response.status_code == 200
    assert response.content == b""


def test_not_under_an_org(platform, http):
    """``/health`` is not an org's route, and an org's URL does not answer for it."""
    response = http.get(f"/{platform.code}/v2/health", headers={"Medable-Client-Key": platform.session_app.key})
    assert response.json().get("status") != "ok"
    assert_fault(http.get("/health/v2", headers={"Medable-Client-Key": platform.session_app.key}),
                 "cortex.notFound.org", 404)


def test_an_argument_is_refused_not_ignored(platform, http):
    fault = assert_fault(http.get("/health", params={"verbose": "1"}), "cortex.invalidArgument.query", 400)
    assert fault["path"] == "verbose"


def test_other_methods_are_refused(platform, http):
    assert_fault(http.post("/health"), "cortex.unsupportedOperation.method", 405)


def test_unavailable_while_the_database_does_not_answer(platform, http, monkeypatch, caplog):
    database = platform.runtime.database
    monkeypatch.setattr(database, "engine", create_engine(UNREACHABLE))
    with caplog.at_level(logging.WARNING, logger="opencortex.api"):
        response = http.get("/health")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/json"
    assert response.content == b'{"status":"unavailable"}'  # why is for the log, not the caller
    assert any("database did not answer" in record.getMessage() for record in caplog.records)
    monkeypatch.undo()
    assert http.get("/health").json() == {"status": "ok"}


@pytest.mark.parametrize("path", ["/health/", "/HEALTH", "/healthz"])
def test_only_the_exact_path(platform, http, path):
    assert http.get(path).json().get("status") != "ok"
