"""Signed links: no credentials needed until they expire, useless for any other file or org, audited."""

from __future__ import annotations

import logging
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from opencortex.clock import utcnow
from opencortex.store.audit import SIGNED_DOWNLOAD, audit_records
from tests.support.platform import assert_fault, open_test_client, seed_org

from .conftest import FilesWorld


def facet_url(world: FilesWorld, base: str | None = None) -> str:
    response = world.admin.get(
        f"{base or world.base}/c_photo/content", headers={"Accept": "application/json"}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["url"])


def local(url: str) -> str:
    """The path and query of an absolute link, for the in-process client."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


@pytest.fixture
def anonymous(world):
    with open_test_client(world.runtime) as client:  # no cookies, no app key
        yield client


def test_a_signed_link_works_without_credentials(world, anonymous, caplog):
    world.upload(b"signed bytes", "s.txt", mime="text/plain")
    url = facet_url(world)
    query = parse_qs(urlsplit(url).query)
    assert set(query) == {"expires", "principal", "signature"}
    assert query["principal"] == [world.platform.admin["id"]]
    assert int(query["expires"][0]) - utcnow().timestamp() == pytest.approx(300, abs=5)

    with caplog.at_level(logging.INFO, logger="opencortex.files"):
        response = anonymous.get(local(url))
    assert response.status_code == 200 and response.content == b"signed bytes"
    assert response.headers["content-type"] == "text/plain" and response.headers["etag"]
    # Even with the official client's Accept header: a link always gives the bytes.
    again = anonymous.get(
        local(url), headers={"Accept": "application/json, text/plain, */*", "Range": "bytes=7-"}
    )
    assert again.status_code == 206 and again.content == b"bytes"

    [logged, *_] = [record for record in caplog.records if "signed download" in record.getMessage()]
    message = logged.getMessage()
    assert world.platform.admin["id"] in message and world.platform.code in message and world.base in message
    assert query["signature"][0] not in message
    with world.runtime.database.connect() as connection:
        records = audit_records(connection, world.platform.org["id"], SIGNED_DOWNLOAD)
    assert len(records) == 2
    assert records[0]["principal"] == world.platform.admin["id"]
    assert records[0]["resource"] == f"/{world.base}/c_photo/content"
    assert records[0]["details"]["range"] == "bytes=7-" and records[1]["details"]["range"] is None


def test_a_signed_link_expires(world, anonymous, monkeypatch):
    world.upload(b"short-lived", "s.txt", mime="text/plain")
    url = facet_url(world)
    almost = utcnow() + timedelta(seconds=world.runtime.settings.signed_url_seconds - 5)
    monkeypatch.setattr("opencortex.attachments.signed_urls.utcnow", lambda: almost)
    assert anonymous.get(local(url)).status_code == 200
    later = utcnow() + timedelta(seconds=world.runtime.settings.signed_url_seconds + 1)
    monkeypatch.setattr("opencortex.attachments.signed_urls.utcnow", lambda: later)
    assert_fault(anonymous.get(local(url)), "cortex.expired.signedUrl", 403, code="kExpired")


def test_a_tampered_link_is_refused(world, anonymous):
    world.upload(b"target", "s.txt", mime="text/plain")
    url = local(facet_url(world))
    path, query = url.split("?")
    params = parse_qs(query)
    signature = params["signature"][0]
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    expires = int(params["expires"][0])
    principal = params["principal"][0]
    tampered = [
        url.replace(signature, flipped),
        url.replace(f"expires={expires}", f"expires={expires + 3600}"),  # a longer life
        url.replace(principal, world.platform.provider["id"]),  # another principal
        url.replace(f"&signature={signature}", ""),  # no signature: an ordinary request
    ]
    for link in tampered[:3]:
        assert_fault(anonymous.get(link), "cortex.accessDenied.signedUrl", 403)
    # Without a signature it is an ordinary request: the link's arguments are not the route's, and
    # the bare path needs credentials again.
    assert_fault(anonymous.get(tampered[3]), "cortex.invalidArgument.query", 400)
    assert_fault(anonymous.get(path), "cortex.notFound.app", 404)
    malformed = f"{path}?expires=soon&principal=me&signature=zz"
    assert_fault(anonymous.get(malformed), "cortex.accessDenied.signedUrl", 403)


def test_a_link_is_useless_for_another_file_or_org(world, anonymous):
    world.upload(b"mine", "a.txt", mime="text/plain")
    url = local(facet_url(world))
    other_patient = world.new_patient()
    world.upload(b"theirs", "b.txt", mime="text/plain", path=f"c_patients/{other_patient}/c_photo")
    world.upload(b"scan", "c.png", path=f"{world.base}/c_scan")
    path, query = url.split("?")
    for other_path in (path.replace(world.patient_id, other_patient), path.replace("c_photo", "c_scan")):
        assert_fault(anonymous.get(f"{other_path}?{query}"), "cortex.accessDenied.signedUrl", 403)
    beta = seed_org(world.runtime, "beta")
    assert_fault(
        anonymous.get(url.replace(f"/{world.platform.code}/", f"/{beta.code}/")),
        "cortex.accessDenied.signedUrl",
        403,
    )


def test_a_link_acts_as_its_principal(world, anonymous):
    """The principal's access is checked at each use: a link outlives nobody's permissions."""
    world.upload(b"gone soon", "a.txt", mime="text/plain")
    url = local(facet_url(world))
    assert world.admin.delete(world.base).json()["data"] is True
    assert_fault(anonymous.get(url), "cortex.notFound.instance", 404)


def test_pending_facets_give_202_through_links_too(world, anonymous):
    world.upload(b"first", "a.txt", mime="text/plain")
    url = local(facet_url(world))
    world.admin.put(world.base, json={"c_photo": "next.png"})
    assert_fault(anonymous.get(url), "cortex.accepted.mediaNotReady", 202)
