"""Reading files back: round trips, headers, Range, ETag/304, JSON facets, and damaged storage."""

from __future__ import annotations

import hashlib
from urllib.parse import quote

import httpx
import pytest

from opencortex.files.crypto import SEGMENT_BYTES
from tests.files.conftest import pseudo_random_bytes
from tests.support.platform import assert_fault, open_test_client

from .conftest import MIB, FilesWorld

STREAM = {"Accept": "*/*"}


def content_path(world: FilesWorld) -> str:
    return f"{world.base}/c_photo/content"


@pytest.mark.parametrize("size", [0, 1, MIB], ids=["0B", "1B", "1MiB"])
def test_round_trip(world, size):
    data = pseudo_random_bytes(size, seed=size)
    uploaded = world.upload(data, "data.bin", mime="application/octet-stream")
    assert uploaded.status_code == 200, uploaded.text
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert uploaded.json()["size"] == size and uploaded.json()["ETag"] == md5
    assert uploaded.json()["sha256"] == hashlib.sha256(data).hexdigest()

    response = world.admin.get(content_path(world), headers=STREAM)
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-length"] == str(size)
    assert response.headers["etag"] == f'"{md5}"'
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-disposition"] == 'attachment; filename="data.bin"'
    assert world.usage()["used"] == size


def test_streamed_download_of_a_larger_file(world):
    data = pseudo_random_bytes(3 * MIB + 5, seed=3)
    world.upload(data, "three.bin", mime="application/octet-stream")
    received = bytearray()
    with world.http.stream(
        "GET",
        world.admin.url(content_path(world)),
        headers={**STREAM, "Medable-Client-Key": world.platform.session_app.key},
    ) as response:
        assert response.status_code == 200
        for chunk in response.iter_bytes():
            received += chunk
    assert bytes(received) == data


def test_ranges(world):
    data = pseudo_random_bytes(2 * MIB + 123, seed=9)
    world.upload(data, "r.bin", mime="application/octet-stream")
    size = len(data)

    def ranged(spec: str, **headers: str):
        return world.admin.get(content_path(world), headers={**STREAM, "Range": spec, **headers})

    cases = {
        "bytes=0-9": (0, 9),  # the first bytes
        f"bytes={MIB - 5}-{MIB + 4}": (MIB - 5, MIB + 4),  # the middle, across a segment boundary
        "bytes=-10": (size - 10, size - 1),  # a suffix
        f"bytes={size - 100}-": (size - 100, size - 1),  # open-ended
        f"bytes=5-{size * 2}": (5, size - 1),  # an end past the file is clamped
        f"bytes=-{size * 3}": (0, size - 1),  # so is a suffix longer than the file
    }
    for spec, (start, end) in cases.items():
        response = ranged(spec)
        assert response.status_code == 206, (spec, response.text)
        assert response.content == data[start : end + 1], spec
        assert response.headers["content-range"] == f"bytes {start}-{end}/{size}"
        assert response.headers["content-length"] == str(end - start + 1)
        assert response.headers["etag"]

    for spec in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=-0"):
        fault = assert_fault(ranged(spec), "cortex.invalidArgument.rangeNotSatisfiable", 416)
        assert fault["path"] == "range"
        assert ranged(spec).headers["content-range"] == f"bytes */{size}"

    # Ignored, as RFC 9110 allows: several ranges, other units, nonsense, a stale If-Range.
    for spec, extra in (
        ("bytes=0-1,5-6", {}),
        ("items=0-1", {}),
        ("bytes=9-2", {}),
        ("bytes=abc", {}),
        ("bytes=0-9", {"If-Range": '"not-the-etag"'}),
    ):
        response = ranged(spec, **extra)
        assert response.status_code == 200 and response.content == data, spec
    etag = world.admin.get(content_path(world), headers=STREAM).headers["etag"]
    assert ranged("bytes=0-9", **{"If-Range": etag}).status_code == 206


def test_an_empty_file_has_no_satisfiable_range(world):
    world.upload(b"", "empty.txt", mime="text/plain")
    response = world.admin.get(content_path(world), headers={**STREAM, "Range": "bytes=0-"})
    assert_fault(response, "cortex.invalidArgument.rangeNotSatisfiable", 416)
    assert response.headers["content-range"] == "bytes */0"


def test_etag_and_not_modified(world):
    world.upload(b"cache me", "c.txt", mime="text/plain")
    first = world.admin.get(content_path(world), headers=STREAM)
    etag = first.headers["etag"]
    assert first.headers["content-type"] == "text/plain"  # no charset is invented for stored text
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        cached = world.admin.get(content_path(world), headers={**STREAM, "If-None-Match": header})
        assert cached.status_code == 304, header
        assert cached.content == b""
        assert cached.headers["etag"] == etag
        assert cached.headers["content-type"] == "text/plain"  # the official client needs one
        assert "content-length" not in cached.headers
    changed = world.admin.get(content_path(world), headers={**STREAM, "If-None-Match": '"stale"'})
    assert changed.status_code == 200 and changed.content == b"cache me"


def test_non_ascii_filenames(world):
    name = "Zoë «scan» 😀.png"
    world.upload(b"img", name)
    disposition = world.admin.get(content_path(world), headers=STREAM).headers["content-disposition"]
    assert disposition == f"attachment; filename=\"Zoe scan .png\"; filename*=UTF-8''{quote(name, safe='')}"
    quoted = 'say "hi".txt'  # raw: multipart clients send a quote in a filename as %22
    response = world.admin.put(
        f"{world.base}/c_photo",
        params={"filename": quoted},
        content=b"x",
        headers={"Content-Type": "text/plain"},
    )
    assert response.json()["filename"] == quoted
    disposition = world.admin.get(content_path(world), headers=STREAM).headers["content-disposition"]
    assert disposition.startswith(
        "attachment; filename=\"say _hi_.txt\"; filename*=UTF-8''say%20%22hi%22.txt"
    )


def test_json_reads_show_facets_with_urls(world):
    world.upload(b"json please", "doc.txt", mime="text/plain")
    # The official client's default Accept starts with application/json: the facet, not the bytes.
    facet = world.admin.get(content_path(world), headers={"Accept": "application/json, text/plain, */*"})
    assert facet.status_code == 200
    body = facet.json()
    assert body["object"] == "facet" and body["name"] == "content" and body["state"] == 2
    assert body["size"] == 11 and body["mime"] == "text/plain" and body["filename"] == "doc.txt"
    assert body["path"] == f"/{world.base}/c_photo/content"
    assert body["url"].startswith(f"http://testserver/{world.platform.code}/v2/{world.base}/c_photo/content?")
    prop = world.admin.get(f"{world.base}/c_photo").json()
    assert prop["object"] == "result"
    assert prop["data"]["name"] == "content" and prop["data"]["facets"] == [] and prop["data"]["url"]
    assert_fault(world.admin.get(f"{world.base}/c_photo/thumbnail"), "cortex.notFound.facet", 404)
    assert_fault(world.admin.get(f"{world.base}/c_photo/content/more"), "cortex.notFound.facet", 404)
    # Never a redirect.
    assert world.admin.get(content_path(world), headers={"Accept": "text/html"}).status_code == 200


def test_a_property_without_a_file(world):
    assert_fault(world.admin.get(f"{world.base}/c_photo"), "cortex.notFound.property", 404)
    assert_fault(world.admin.get(f"{world.base}/c_photo/content"), "cortex.notFound.property", 404)


def test_a_caller_who_cannot_read_gets_nothing(world):
    world.upload(b"private", "p.txt", mime="text/plain")
    assert world.provider.get(content_path(world), headers=STREAM).content == b"private"  # may read
    with open_test_client(world.runtime) as fresh:  # no session cookie: anonymous
        anonymous = fresh.get(
            f"/{world.platform.code}/v2/{content_path(world)}",
            headers={"Medable-Client-Key": world.platform.session_app.key},
        )
    assert_fault(anonymous, "cortex.notFound.instance", 404)


# Damaged storage: a fault or an aborted stream, never wrong bytes


def _stored_file(world: FilesWorld):
    [key] = world.stored_keys()
    return world.stored_path(key)


def _flip(path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_tampering_in_the_first_segment_is_a_fault(world):
    world.upload(pseudo_random_bytes(5000), "t.bin", mime="application/octet-stream")
    _flip(_stored_file(world), 100)
    response = world.admin.get(content_path(world), headers=STREAM)
    assert_fault(response, "cortex.error.fileIntegrity", 500)


def test_a_large_file_cut_to_a_length_no_file_has_is_a_fault_before_any_byte(world):
    world.upload(pseudo_random_bytes(3 * MIB, seed=11), "d.bin", mime="application/octet-stream")
    path = _stored_file(world)
    path.write_bytes(path.read_bytes()[:-100])  # a last segment of 4 bytes: shorter than its tag
    assert_fault(world.admin.get(content_path(world), headers=STREAM), "cortex.error.fileIntegrity", 500)


def test_truncation_of_a_small_file_is_a_fault(world):
    world.upload(pseudo_random_bytes(5000), "t.bin", mime="application/octet-stream")
    path = _stored_file(world)
    path.write_bytes(path.read_bytes()[:-10])
    assert_fault(world.admin.get(content_path(world), headers=STREAM), "cortex.error.fileIntegrity", 500)


def _read_until_it_breaks(url: str, headers: dict[str, str]) -> tuple[int, bytes, Exception | None]:
    received = bytearray()
    declared = -1
    try:
        with httpx.stream("GET", url, headers=headers, timeout=30) as response:
            assert response.status_code == 200
            declared = int(response.headers["content-length"])
            for chunk in response.iter_bytes():
                received += chunk
    except (httpx.RemoteProtocolError, httpx.ReadError) as error:
        return declared, bytes(received), error
    return declared, bytes(received), None


@pytest.mark.parametrize("damage", ["tamper", "truncate", "truncate-at-segment"])
def test_damage_later_in_the_file_aborts_the_connection(world, live, damage):
    data = pseudo_random_bytes(3 * MIB, seed=11)
    world.upload(data, "d.bin", mime="application/octet-stream")
    path = _stored_file(world)
    if damage == "tamper":
        _flip(path, 2 * SEGMENT_BYTES + 500)
    elif damage == "truncate":  # inside the last segment (104 bytes of ciphertext): 94 are left
        path.write_bytes(path.read_bytes()[:-10])
    else:
        path.write_bytes(path.read_bytes()[: 2 * SEGMENT_BYTES])
    token = world.platform.token_for(world.platform.admin)
    headers = {
        **STREAM,
        "Authorization": f"Bearer {token}",
        "Medable-Client-Key": world.platform.session_app.key,
    }
    declared, received, error = _read_until_it_breaks(
        f"{live.url}/{world.platform.code}/v2/{content_path(world)}", headers
    )
    assert error is not None, "the response ended cleanly"
    assert declared == len(data)
    assert len(received) < len(data)
    assert received == data[: len(received)]  # what did arrive had authenticated
