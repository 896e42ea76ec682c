"""A trailing slash on an API path is the same path without it: ``/{org}/v2/exports/`` is
``/{org}/v2/exports``. (Only API paths: the console's pages, outside ``/{org}/v2``, are left alone.)

The API never redirects (the official client does not follow redirects, and hands the 3xx body to
its caller as if it were the result), so instead of the framework's 307 to the slash-less path,
the slash is removed before routing and the request is answered as the slash-less one would be,
faults included. The official client strips trailing slashes before it signs a path, so the
signed path and the routed one stay the same.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class TrailingSlashes:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.endswith("/") and _is_api(path):
                stripped = path.rstrip("/") or "/"
                scope = dict(scope, path=stripped)
                raw = scope.get("raw_path")
                if isinstance(raw, bytes | bytearray):
                    scope["raw_path"] = bytes(raw).rstrip(b"/") or b"/"
        await self.app(scope, receive, send)


def _is_api(path: str) -> bool:
    parts = path.split("/")
    return len(parts) > 2 and bool(parts[1]) and parts[2] == "v2"
