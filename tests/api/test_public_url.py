"""Absolute links (signed download links, upload URLs) are built on OPENCORTEX_PUBLIC_URL, never on
the request's Host header, which the client chooses."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from opencortex.cli.main import cli
from opencortex.exports import operations
from opencortex.exports.worker import ExportWorker
from opencortex.settings import Settings
from tests.instances.conftest import load_study
from tests.support.platform import CortexClient, make_runtime, open_test_client, seed_org

PUBLIC = "https://cortex.example.org/api"
EVIL = {"Host": "evil.example", "X-Forwarded-Host": "evil.example", "Forwarded": "host=evil.example"}


@pytest.fixture
def deployed(database_url, tmp_path):
    """An org on a runtime whose public URL has a path prefix (a reverse proxy strips it)."""
    runtime = make_runtime(database_url, tmp_path / "var", public_url=PUBLIC + "/")
    org = seed_org(runtime)
    with open_test_client(runtime) as http:
        client = CortexClient(http, org.code, org.session_app.key)
        assert client.login(org.admin["email"]).status_code == 200
        yield org, client, http
    runtime.close()


def _local(url: str) -> str:
    """The path and query a link names, as the proxy in front of the server forwards them."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}".startswith(PUBLIC + "/"), url
    return parts.path.removeprefix(urlsplit(PUBLIC).path) + (f"?{parts.query}" if parts.query else "")


def test_links_point_at_the_public_url_whatever_the_host_header_says(deployed):
    org, client, http = deployed
    _, patient_ids = load_study(org, 2)
    patient = f"c_patients/{patient_ids[0]}"

    written = client.put(patient, json={"c_photo": "face.png"}, headers=EVIL)
    assert written.status_code == 200, written.text
    upload_url = written.json()["c_photo"]["uploads"][0]["uploadUrl"]
    assert upload_url.startswith(f"{PUBLIC}/{org.code}/v2/uploads/")

    uploaded = http.post(_local(upload_url), files={"file": ("face.png", b"png bytes", "image/png")}, headers=EVIL)
    assert uploaded.status_code == 200, uploaded.text
    facet_link = uploaded.json()["url"]
    assert facet_link.startswith(f"{PUBLIC}/{org.code}/v2/{patient}/c_photo/content?")

    read = client.get(f"{patient}/c_photo", headers=EVIL).json()["data"]["url"]
    as_json = client.get(f"{patient}/c_photo/content", headers={**EVIL, "Accept": "application/json"}).json()["url"]
    direct = client.put(f"c_patients/{patient_ids[1]}/c_photo", files={"file": ("b.png", b"other", "image/png")},
                        headers=EVIL).json()["url"]
    for link in (facet_link, read, as_json, direct):
        assert "evil.example" not in link and link.startswith(PUBLIC + "/"), link
    # Followed as the proxy forwards it, the link works: its signature covers the path after /{org}/v2.
    downloaded = http.get(_local(read))
    assert downloaded.status_code == 200 and downloaded.content == b"png bytes"

    job = operations.create(org.runtime, org.org, org.admin["id"], {"label": "x", "objects": "c_sites"})
    ExportWorker(org.runtime, concurrency=1).run_once()
    for response in (client.get(f"exports/{job.id}", headers=EVIL),
                     client.get(f"exports/{job.id}/dataFile/content", headers={**EVIL, "Accept": "application/json"}),
                     client.get(f"exports/{job.id}/dataFile", headers=EVIL)):
        body = response.json()
        url = (body.get("dataFile") or body)["url"]
        assert url.startswith(f"{PUBLIC}/{org.code}/v2/exports/{job.id}/dataFile/content?"), url
    archive = http.get(_local(url))
    assert archive.status_code == 200 and archive.content[:2] == b"PK"


def test_without_a_public_url_links_use_the_serve_address(database_url, tmp_path):
    runtime = make_runtime(database_url, tmp_path / "var", public_url="", host="10.1.2.3", port=9090)
    org = seed_org(runtime)
    _, patient_ids = load_study(org, 1)
    with open_test_client(runtime) as http:
        client = CortexClient(http, org.code, org.session_app.key)
        client.login(org.admin["email"])
        written = client.put(f"c_patients/{patient_ids[0]}", json={"c_photo": "face.png"}, headers=EVIL)
    runtime.close()
    assert written.json()["c_photo"]["uploads"][0]["uploadUrl"].startswith(f"http://10.1.2.3:9090/{org.code}/v2/")


@pytest.mark.parametrize(("host", "port", "expected"), [
    ("127.0.0.1", 8080, "http://127.0.0.1:8080"),
    ("0.0.0.0", 80, "http://0.0.0.0:80"),  # noqa: S104 (a serve address, not a binding)
    ("::1", 8443, "http://[::1]:8443"),
])
def test_the_default_public_url_is_the_serve_address(host, port, expected):
    assert Settings(host=host, port=port).public_base_url == expected


def test_the_public_url_is_read_from_the_environment_and_kept_without_its_trailing_slash():
    settings = Settings.from_env({"OPENCORTEX_PUBLIC_URL": "https://cortex.example.org/"})
    assert settings.public_base_url == "https://cortex.example.org"


@pytest.mark.parametrize(("url", "problem"), [
    ("ftp://cortex.example.org", "its scheme must be http or https"),
    ("cortex.example.org", "its scheme must be http or https"),
    ("https://", "it names no host"),
    ("https://user:secret@cortex.example.org", "it may not hold a user name or password"),
    ("https://cortex.example.org/?a=1", "it may not have a query"),
    ("https://cortex.example.org/#top", "it may not have a fragment"),
    ("https://cortex.example.org:99999", "Port out of range"),
])
def test_a_bad_public_url_is_refused_at_start(url, problem):
    with pytest.raises(ValueError, match="OPENCORTEX_PUBLIC_URL") as refused:
        Settings(public_url=url)
    assert problem in str(refused.value)
    result = CliRunner().invoke(cli, ["org", "list"], env={"OPENCORTEX_PUBLIC_URL": url})
    assert result.exit_code == 1 and "OPENCORTEX_PUBLIC_URL" in result.stderr and "secret" not in result.stderr
