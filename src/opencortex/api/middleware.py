"""ASGI middleware: response headers every reply carries, and the request body limit."""

from __future__ import annotations

import logging
import secrets

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opencortex import faults
from opencortex.api.responses import fault_response
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
