"""Streaming a stored file over HTTP: Range, ETag, Content-Disposition, and integrity to the end.

``download_response(request, download)`` answers a GET for any stored file (a facet, an export
archive) from the encrypted store without holding it in memory:

- ``ETag`` is the quoted MD5 of the plaintext; ``If-None-Match`` that matches gives ``304`` (with
  ``ETag`` and ``Content-Type`` but no body: the official client fails on responses without a
  Content-Type, so even a 304 carries one).
- ``Range: bytes=a-b``, ``a-`` and ``-n`` give ``206`` with ``Content-Range``; a range past the
  end gives ``416`` with ``Content-Range: bytes */size`` and a fault body. Several ranges, other
  units and malformed ranges are ignored (a 200 with the whole file), as RFC 9110 allows, and so
  is a Range whose ``If-Range`` names another ETag.
- Integrity: the first chunk is decrypted before the response starts, so damage there is a
  ``cortex.error.fileIntegrity`` fault response. Damage further in raises inside the body
  iterator, which aborts the connection mid-body: the client sees a response shorter than its
  ``Content-Length``, never a clean end, and never a byte that failed authentication.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import Request
from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse

from opencortex import faults
from opencortex.acl.viewer import Viewer
from opencortex.api.responses import fault_response
from opencortex.files import EncryptedFileStore
from opencortex.runtime import Runtime


@dataclass(frozen=True)
class Download:
    """A stored file as a download: where its bytes are and what the client is told about them."""

    store: EncryptedFileStore
    key: str
    size: int
    md5: str
    mime: str
    filename: str

    @property
    def etag(self) -> str:
        return f'"{self.md5}"'


# Signed links to paths other than instance facets (``/exports/<id>/dataFile/content``) are
# resolved by the owner of that first path segment: ``register_signed_source("exports", resolve)``
# with ``resolve(runtime, org, parts, viewer) -> Download`` (``parts`` is the path split on "/",
# ``viewer`` the principal the link was minted for). It raises faults as any read would.
SignedSource = Callable[[Runtime, dict[str, Any], list[str], Viewer], Download]
SIGNED_SOURCES: dict[str, SignedSource] = {}


def register_signed_source(segment: str, resolve: SignedSource) -> None:
    SIGNED_SOURCES[segment] = resolve


def download_response(request: Request, download: Download) -> Response:
    headers = {
        "ETag": download.etag,
        "Accept-Ranges": "bytes",
        "Content-Type": download.mime,
        "Content-Disposition": content_disposition(download.filename),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-cache",
    }
    if etag_matches(request.headers.get("if-none-match"), download.etag):
        return Response(status_code=304, headers=headers)
    wanted = requested_range(request.headers.get("range"), request.headers.get("if-range"), download)
    if wanted == "unsatisfiable":
        response = fault_response(
            faults.range_not_satisfiable(
                f"The file has {download.size} bytes; {request.headers.get('range')} is outside it.",
                path="range",
            )
        )
        response.headers["Content-Range"] = f"bytes */{download.size}"
        return response
    status = 200
    start, end = 0, download.size - 1
    if isinstance(wanted, tuple):
        start, end = wanted
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{download.size}"
    length = end - start + 1
    headers["Content-Length"] = str(length)
    if length == 0:
        return Response(status_code=status, headers=headers)
    reader = download.store.open_reader(download.key, start, end)
    try:
        first = next(reader, b"")  # damage in the first segment is still a fault response
    except BaseException:
        reader.close()
        raise
    return StreamingResponse(
        _checked_body(first, reader, length, download.key),
        status_code=status,
        headers=headers,
        background=BackgroundTask(reader.close),
    )


def _checked_body(first: bytes, rest: Any, length: int, key: str) -> Iterator[bytes]:
    """The decrypted bytes; raising (so the server aborts the connection) if they run short."""
    sent = 0
    try:
        for chunk in _chain(first, rest):
            sent += len(chunk)
            yield chunk
        if sent != length:
            raise faults.file_corrupt(f"{key!r} ended after {sent} of {length} bytes")
    finally:
        rest.close()


def _chain(first: bytes, rest: Any) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def etag_matches(header: str | None, etag: str) -> bool:
    """``If-None-Match``: ``*``, or a list of (possibly weak) entity tags; weak comparison."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    return any(candidate.strip().removeprefix("W/") == etag for candidate in header.split(","))


def requested_range(
    header: str | None, if_range: str | None, download: Download
) -> tuple[int, int] | str | None:
    """The one byte range to send (inclusive), None for the whole file, or "unsatisfiable"."""
    if not header or (if_range is not None and if_range.strip() != download.etag):
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    first, last = first.strip(), last.strip()
    size = download.size
    if not dash:
        return None
    if not first:  # suffix: the last N bytes
        if not last.isdigit():
            return None
        count = int(last)
        if count == 0 or size == 0:
            return "unsatisfiable"
        return max(size - count, 0), size - 1
    if not first.isdigit() or (last and not last.isdigit()):
        return None
    start = int(first)
    if last and int(last) < start:
        return None  # an invalid range-spec is ignored
    if start >= size:
        return "unsatisfiable"
    return start, min(int(last), size - 1) if last else size - 1


def content_disposition(filename: str) -> str:
    """``attachment; filename="..."``, plus ``filename*`` (RFC 5987/6266) when the name is not
    plain ASCII: clients that know ``filename*`` use it, older ones get the ASCII fallback."""
    fallback = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode("ascii")
    fallback = "".join(
        "_" if char in '"\\' or ord(char) < 32 or ord(char) == 127 else char for char in fallback
    )
    fallback = fallback.strip() or "download"
    value = f'attachment; filename="{fallback}"'
    if fallback != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value


def wants_json(request: Request) -> bool:
    """Cortex's rule: an ``Accept`` that starts with ``application/json`` gets the facet as JSON."""
    return request.headers.get("accept", "").strip().lower().startswith("application/json")
