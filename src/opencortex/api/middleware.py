"""ASGI middleware: response headers every reply carries, the request body limit, and the check
of a signed request's body against its ``OpenCortex-Content-SHA256``."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import MutableMapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opencortex import faults
from opencortex.api.responses import fault_response
from opencortex.auth.signatures import CONTENT_SHA256_HEADER, body_mismatch
from opencortex.clock import epoch_ms

log = logging.getLogger("opencortex.api")


class CortexHeaders:
    """Adds ``Medable-Server-Time``, ``medable-request-id`` and the session's CSRF token.

    It is also the last line of defence: an unexpected exception becomes a logged 500 fault
    (with these headers), never a stack trace.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = secrets.token_hex(12)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id

        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                headers.append((b"medable-server-time", str(epoch_ms()).encode()))
                headers.append((b"medable-request-id", request_id.encode()))
                csrf_token = state.get("csrf_token")
                if csrf_token:
                    headers.append((b"medable-csrf-token", csrf_token.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            if not started:
                await fault_response(faults.server_error())(scope, receive, send_with_headers)


class BodyLimit:
    """Refuses bodies over ``max_bytes``: from Content-Length, or while reading.

    The check runs when the body is first read, so after routing: a route that takes larger
    bodies (file uploads) sets ``request.state.body_limit`` to its own limit, or to None when it
    enforces one itself, before it reads the body. Every other route keeps ``max_bytes``.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        declared = dict(scope.get("headers", [])).get(b"content-length")
        declared_bytes = int(declared) if declared is not None and declared.isdigit() else None
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            limit = state.get("body_limit", self.max_bytes)
            if limit is not None and declared_bytes is not None and declared_bytes > limit:
                raise self._fault(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if limit is not None and received > limit:
                    raise self._fault(limit)
            return message

        await self.app(scope, limited_receive, send)

    @staticmethod
    def _fault(limit: int) -> faults.Fault:
        return faults.request_too_large(f"The request body is larger than {limit} bytes.")


_DECLARED = CONTENT_SHA256_HEADER.encode()
_RECEIVED_KEY = "content_sha256_received"
_EXPECTED_KEY = "content_sha256_expected"


class ContentDigest:
    """Hashes the body of every request that declares ``OpenCortex-Content-SHA256``, as it is read.

    Authentication (``get_caller``) verifies the declared hash is signed and records it with
    ``expect_content_sha256``. Whichever comes second, the end of the body or that call, compares
    the two, so a body that differs from the signed hash is refused as soon as its last byte is
    read: before a route acts on it (routes read a body whole before using it, and an upload
    commits only after its end).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not any(name == _DECLARED for name, _ in scope.get("headers", [])):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        digest = hashlib.sha256()

        async def hashing_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request" and _RECEIVED_KEY not in state:
                digest.update(message.get("body", b""))
                if not message.get("more_body", False):
                    state[_RECEIVED_KEY] = digest.hexdigest()
                    _compare(state)
            return message

        await self.app(scope, hashing_receive, send)


def expect_content_sha256(scope: MutableMapping[str, Any], expected: str) -> None:
    """Require the request body to hash to ``expected`` (a verified, signed declaration)."""
    state = scope.setdefault("state", {})
    state[_EXPECTED_KEY] = expected
    _compare(state)


def _compare(state: MutableMapping[str, Any]) -> None:
    received, expected = state.get(_RECEIVED_KEY), state.get(_EXPECTED_KEY)
    if received is not None and expected is not None and received != expected:
        raise body_mismatch()
