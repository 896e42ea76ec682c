"""An in-process browser stand-in for the console: follows its forms' CSRF and login tokens."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.support.platform import PASSWORD

_HIDDEN = re.compile(r'name="(_csrf|_login)" value="([^"]*)"')


class ConsoleClient:
    def __init__(self, http: TestClient, org_code: str) -> None:
        self.http = http
        self.base = f"/{org_code}/console"
        self.tokens: dict[str, str] = {}

    def get(self, path: str, **kwargs: Any) -> Any:
        response = self.http.get(self.base + path, **kwargs)
        self._remember(response)
        return response

    def post(self, path: str, data: dict[str, Any] | None = None, *, csrf: str | None = "page",
             **kwargs: Any) -> Any:
        """POST a form; ``csrf`` is the token the last page carried, or the given one (None: none)."""
        fields = dict(data or {})
        if csrf == "page":
            fields["_csrf"] = self.tokens.get("_csrf", "")
        elif csrf is not None:
            fields["_csrf"] = csrf
        response = self.http.post(self.base + path, data=fields, follow_redirects=False, **kwargs)
        self._remember(response)
        return response

    def login(self, email: str, password: str = PASSWORD) -> Any:
        self.get("/login")
        response = self.http.post(self.base + "/login", data={
            "email": email, "password": password, "_login": self.tokens.get("_login", "")}, follow_redirects=False)
        if response.status_code == 303:
            self.get("/exports")  # the page's CSRF token, for the forms that follow
        else:
            self._remember(response)
        return response

    def _remember(self, response: Any) -> None:
        if response.headers.get("content-type", "").startswith("text/html"):
            self.tokens.update(dict(_HIDDEN.findall(response.text)))
