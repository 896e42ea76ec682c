"""Uploads into File properties: the Cortex two-stage flow, direct uploads, and every refusal."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest

from opencortex.api.app import create_app
from opencortex.clock import utcnow
from opencortex.ids import ROLE_ADMINISTRATOR, ROLE_PROVIDER
from opencortex.model.objects import update_object
from tests.support.platform import assert_fault

from .conftest import MIB, FilesWorld, upload_token

PNG = b"\x89PNG\r\n\x1a\n" + b"not really a picture"


def write_filename(world: FilesWorld, value: object = "face.png", client=None) -> dict:
    response = (client or world.admin).put(world.base, json={"c_photo": value})
    assert response.status_code == 200, response.text
    return response.json()["c_photo"]


# The two-stage flow


def test_writing_a_filename_gives_a_pending_facet_and_an_upload_target(world):
    value = write_filename(world)
    assert value["state"] == 0 and value["filename"] == "face.png" and value["mime"] == "image/png"
    [entry] = value["uploads"]
    assert entry["name"] == "content" and entry["uploadKey"] == "file" and entry["uploadMethod"] == "POST"
    assert entry["maxFileSize"] == world.runtime.settings.max_upload_bytes and entry["mime"] == "image/png"
    assert entry["uploadUrl"].startswith(f"http://testserver/{world.platform.code}/v2/uploads/")
    assert entry["fields"] == [] and entry["expires"].endswith("Z")

    # Until the bytes arrive, the facet is the 202 kMediaNotReady fault (as JSON or as a stream).
    for accept in ("application/json", "*/*"):
        response = world.admin.get(f"{world.base}/c_photo/content", headers={"Accept": accept})
        assert_fault(response, "cortex.accepted.mediaNotReady", 202, code="kMediaNotReady")
    assert world.admin.get(f"{world.base}/c_photo").json()["data"]["state"] == 0

    # The target needs no other credentials.
    uploaded = world.http.post(entry["uploadUrl"], files={"file": ("face.png", PNG, "image/png")})
    assert uploaded.status_code == 200, uploaded.text
    facet = uploaded.json()
    assert facet["object"] == "facet" and facet["state"] == 2 and facet["size"] == len(PNG)
    assert facet["filename"] == "face.png" and facet["mime"] == "image/png"
    assert facet["path"] == f"/{world.base}/c_photo/content"
    read = world.admin.get(f"{world.base}/c_photo/content", headers={"Accept": "*/*"})
    assert read.status_code == 200 and read.content == PNG
    assert world.usage()["used"] == len(PNG)


def test_the_facet_list_form_and_a_raw_body_to_the_target(world):
    value = write_filename(world, {"content": "notes.txt"})
    [entry] = value["uploads"]
    response = world.http.post(
        entry["uploadUrl"], content=b"plain words", headers={"Content-Type": "text/plain; charset=utf-8"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["mime"] == "text/plain" and response.json()["size"] == 11


def test_a_target_is_single_use(world):
    [entry] = write_filename(world)["uploads"]
    assert (
        world.http.post(entry["uploadUrl"], files={"file": ("face.png", PNG, "image/png")}).status_code == 200
    )
    again = world.http.post(entry["uploadUrl"], files={"file": ("face.png", b"other", "image/png")})
    assert_fault(again, "cortex.conflict.uploadUsed", 409)
    assert world.admin.get(f"{world.base}/c_photo/content", headers={"Accept": "*/*"}).content == PNG


def test_a_target_expires(world, monkeypatch):
    [entry] = write_filename(world)["uploads"]
    later = utcnow() + timedelta(seconds=world.runtime.settings.upload_target_seconds + 1)
    monkeypatch.setattr("opencortex.attachments.targets.utcnow", lambda: later)
    response = world.http.post(entry["uploadUrl"], files={"file": ("face.png", PNG, "image/png")})
    assert_fault(response, "cortex.expired.upload", 410)
    assert world.stored_keys() == []


def test_unknown_and_foreign_tokens(world):
    assert_fault(
        world.http.post(
            f"/{world.platform.code}/v2/uploads/nope", content=b"x", headers={"Content-Type": "image/png"}
        ),
        "cortex.notFound.upload",
        404,
    )
    [entry] = write_filename(world)["uploads"]
    from tests.support.platform import seed_org

    other = seed_org(world.runtime, "beta")
    foreign = f"/{other.code}/v2/uploads/{upload_token(entry['uploadUrl'])}"
    assert_fault(
        world.http.post(foreign, files={"file": ("face.png", PNG, "image/png")}),
        "cortex.notFound.upload",
        404,
    )


def test_writing_the_property_again_supersedes_the_old_target(world):
    [first] = write_filename(world, "first.png")["uploads"]
    [second] = write_filename(world, "second.png")["uploads"]
    stale = world.http.post(first["uploadUrl"], files={"file": ("first.png", PNG, "image/png")})
    assert_fault(stale, "cortex.expired.upload", 410)
    assert world.stored_keys() == []
    assert (
        world.http.post(second["uploadUrl"], files={"file": ("s.png", PNG, "image/png")}).status_code == 200
    )


def test_a_mime_mismatch_is_refused_before_the_target_is_used(world):
    [entry] = write_filename(world)["uploads"]
    wrong = world.http.post(entry["uploadUrl"], files={"file": ("face.png", PNG, "application/pdf")})
    fault = assert_fault(wrong, "cortex.invalidArgument.mimeMismatch", 400)
    assert "application/pdf" in fault["reason"] and "image/png" in fault["reason"]
    assert world.stored_keys() == []
    # Still pending and still usable; octet-stream means "the client does not know".
    fine = world.http.post(entry["uploadUrl"], files={"file": ("face.png", PNG, "application/octet-stream")})
    assert fine.status_code == 200 and fine.json()["mime"] == "image/png"


def test_a_failed_upload_leaves_the_facet_in_error(world):
    world.runtime.settings = world.runtime.settings.with_changes(max_upload_bytes=1000)
    [entry] = write_filename(world)["uploads"]
    too_big = b"x" * 5000

    async def chunked():  # no Content-Length: the limit is found while reading
        for start in range(0, len(too_big), 500):
            yield too_big[start : start + 500]

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(runtime=world.runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.post(
                entry["uploadUrl"], content=chunked(), headers={"Content-Type": "image/png"}
            )

    assert_fault(asyncio.run(send()), "cortex.tooLarge.upload", 413)
    value = world.admin.get(f"{world.base}/c_photo").json()["data"]
    assert value["state"] == 3 and value["fault"]["errCode"] == "cortex.tooLarge.upload"
    assert_fault(world.admin.get(f"{world.base}/c_photo/content"), "cortex.error.facet", 409)
    assert world.stored_keys() == [] and world.usage()["used"] == 0


def test_a_target_acts_as_its_principal_when_the_bytes_arrive(world):
    """The provider may write their own patient; once that access is gone, so is their target."""
    mine = world.new_patient(world.provider)
    response = world.provider.put(f"c_patients/{mine}", json={"c_photo": "me.png"})
    [entry] = response.json()["c_photo"]["uploads"]
    with world.runtime.database.begin() as connection:  # owners may now only read
        update_object(
            connection,
            world.platform.org["id"],
            "c_patient",
            {
                "defaultAcl": [
                    {"type": 3, "target": ROLE_ADMINISTRATOR, "allow": 7},
                    {"type": 3, "target": ROLE_PROVIDER, "allow": 4},
                    {"type": 4, "allow": 4},
                ]
            },
        )
    refused = world.http.post(entry["uploadUrl"], files={"file": ("me.png", PNG, "image/png")})
    assert_fault(refused, "cortex.accessDenied.propertyUpdate", 403)
    assert world.stored_keys() == []


# Direct uploads


def test_direct_multipart_upload_and_replace(world):
    first = world.upload(PNG, method="POST")
    assert first.status_code == 200, first.text
    old_key = f"orgs/{world.platform.org['id']}/files/{first.json()['storageId']}"
    assert world.stored_keys() == [old_key]
    # POST does not overwrite; PUT does, and the old bytes go.
    assert_fault(world.upload(b"new", "new.png", method="POST"), "cortex.conflict.fileExists", 409)
    second = world.upload(b"new bytes", "new.png", method="PUT")
    assert second.status_code == 200 and second.json()["filename"] == "new.png"
    assert old_key not in world.stored_keys() and len(world.stored_keys()) == 1
    assert world.usage()["used"] == len(b"new bytes")
    assert world.admin.get(f"{world.base}/c_photo/content", headers={"Accept": "*/*"}).content == b"new bytes"


def test_direct_raw_upload_names_the_file_in_the_query(world):
    response = world.admin.put(
        f"{world.base}/c_photo?filename=scan.pdf",
        content=b"%PDF-1.4 tiny",
        headers={"Content-Type": "application/pdf"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["mime"] == "application/pdf" and response.json()["filename"] == "scan.pdf"
    unnamed = world.admin.put(
        f"{world.base}/c_photo", content=b"bytes", headers={"Content-Type": "image/png"}
    )
    assert_fault(unnamed, "cortex.invalidArgument.upload", 400)


def test_mime_rules(world):
    assert_fault(world.upload(PNG, "face.png", mime="text/plain"), "cortex.invalidArgument.mimeMismatch", 400)
    raw = world.admin.put(
        f"{world.base}/c_photo?filename=a.png", content=PNG, headers={"Content-Type": "image/jpeg"}
    )
    assert_fault(raw, "cortex.invalidArgument.mimeMismatch", 400)
    # A known alias of the extension's type is fine; the stored type is the extension's.
    assert world.upload(b"jpeg", "photo.jpe", mime="image/jpeg").json()["mime"] == "image/jpeg"
    # The property's processors accept images only.
    assert_fault(
        world.upload(b"text", "notes.txt", mime="text/plain", path=f"{world.base}/c_scan"),
        "cortex.invalidArgument.mimeMismatch",
        400,
    )
    assert world.upload(PNG, "scan.png", path=f"{world.base}/c_scan").status_code == 200
    assert len(world.stored_keys()) == 2


def test_only_file_properties_and_file_bodies(world):
    assert_fault(world.upload(PNG, path=f"{world.base}/c_name"), "cortex.invalidArgument.notAFile", 400)
    assert_fault(world.upload(PNG, path=f"{world.base}/c_nothing"), "cortex.notFound.property", 404)
    assert_fault(
        world.upload(PNG, path="c_patients/6b0b206b660cb1d895e35acc/c_photo"), "cortex.notFound.instance", 404
    )
    # A JSON body to the same path is an ordinary property write...
    response = world.admin.put(f"{world.base}/c_name", json="Grace")
    assert response.status_code == 200 and response.json()["c_name"] == "Grace"
    # ...which, for a File property, starts a two-stage upload.
    response = world.admin.put(f"{world.base}/c_photo", json="face.png")
    assert response.status_code == 200 and response.json()["c_photo"]["uploads"][0]["uploadUrl"]


def test_a_caller_who_cannot_update_cannot_upload(world):
    assert world.provider.get(world.base).status_code == 200  # may read
    assert_fault(world.upload(PNG, client=world.provider), "cortex.accessDenied.propertyUpdate", 403)
    assert_fault(
        world.provider.put(world.base, json={"c_photo": "face.png"}),
        "cortex.accessDenied.propertyUpdate",
        403,
    )
    assert world.stored_keys() == []
    mine = world.new_patient(world.provider)
    assert world.upload(PNG, client=world.provider, path=f"c_patients/{mine}/c_photo").status_code == 200
    anonymous = world.http.put(
        f"/{world.platform.code}/v2/{world.base}/c_photo", content=PNG, headers={"Content-Type": "image/png"}
    )
    assert_fault(anonymous, "cortex.notFound.app", 404)


# Size limits


def test_an_oversized_upload_declared_up_front_is_refused_before_reading(world):
    world.runtime.settings = world.runtime.settings.with_changes(max_upload_bytes=MIB)
    [entry] = write_filename(world)["uploads"]
    response = world.http.post(
        entry["uploadUrl"], content=b"x" * (MIB + 1), headers={"Content-Type": "image/png"}
    )
    assert_fault(response, "cortex.tooLarge.upload", 413)
    assert_fault(world.upload(b"x" * (3 * MIB)), "cortex.tooLarge.upload", 413)
    assert world.stored_keys() == []
    # The target was not used: a file that fits still goes in.
    assert world.http.post(entry["uploadUrl"], files={"file": ("f.png", PNG, "image/png")}).status_code == 200


@pytest.mark.parametrize("multipart", [False, True])
def test_an_oversized_stream_stops_being_read(world, multipart):
    """Without Content-Length, reading stops as soon as the limit is passed, and nothing is kept."""
    limit = 4 * MIB
    world.runtime.settings = world.runtime.settings.with_changes(max_upload_bytes=limit)
    pulled = 0
    boundary = "b0undary"

    async def endless():
        nonlocal pulled
        if multipart:
            yield (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
                "Content-Type: image/png\r\n\r\n"
            ).encode()
        for _ in range(300):  # 300 MiB, if anyone kept reading
            pulled += 1
            yield b"\0" * MIB

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(runtime=world.runtime))
        content_type = f"multipart/form-data; boundary={boundary}" if multipart else "image/png"
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            client.cookies = dict(world.http.cookies)  # the test client's cookies are another httpx's
            return await client.put(
                f"/{world.platform.code}/v2/{world.base}/c_photo?filename=big.png",
                content=endless(),
                headers={
                    "Content-Type": content_type,
                    "Medable-Client-Key": world.platform.session_app.key,
                    "medable-csrf-token": world.admin.csrf_token or "",
                },
            )

    assert_fault(asyncio.run(send()), "cortex.tooLarge.upload", 413)
    assert pulled <= limit // MIB + 3
    assert world.stored_keys() == []
    assert list((world.runtime.settings.data_dir / "files").rglob("*.part")) == []
    assert list(world.runtime.file_store.list_partials()) == []  # on any store (S3: no upload left)


def test_the_general_body_limit_does_not_apply_to_uploads(world):
    world.runtime.settings = world.runtime.settings.with_changes(max_upload_bytes=20 * MIB)
    body = bytes(12 * MIB)  # over the 10 MiB limit of JSON bodies
    response = world.upload(body, "big.bin", mime="application/octet-stream")
    assert response.status_code == 200, response.text
    assert response.json()["size"] == len(body)
    big_json = world.admin.put(
        world.base,
        content=b'{"c_name": "' + b"x" * (11 * MIB) + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert_fault(big_json, "cortex.tooLarge.request", 413)


def test_a_file_inside_a_document(world):
    response = world.admin.put(world.base, json={"c_consent": {"c_signed": "2024-05-01", "c_form": "form.pdf"}})
    assert response.status_code == 200, response.text
    [entry] = response.json()["c_consent"]["c_form"]["uploads"]
    uploaded = world.http.post(entry["uploadUrl"], files={"file": ("form.pdf", b"%PDF", "application/pdf")})
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["path"] == f"/{world.base}/c_consent/c_form/content"
    read = world.admin.get(f"{world.base}/c_consent/c_form/content", headers={"Accept": "*/*"})
    assert read.status_code == 200 and read.content == b"%PDF"
    assert world.admin.get(f"{world.base}/c_consent/c_form").json()["data"]["state"] == 2
    # A direct upload replaces it; the old bytes go.
    replaced = world.upload(b"%PDF-2", "form2.pdf", mime="application/pdf", path=f"{world.base}/c_consent/c_form")
    assert replaced.status_code == 200, replaced.text
    assert len(world.stored_keys()) == 1 and world.usage()["used"] == 6
