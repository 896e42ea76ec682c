"""Who is calling: the principal a request acts as, and how it authenticated."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from opencortex.ids import ANONYMOUS, expand_roles

AuthMethod = Literal["anonymous", "session", "signature", "token"]


@dataclass(frozen=True)
class Principal:
    org_id: str
    account_id: str
    email: str | None = None
    roles: tuple[str, ...] = ()

    @property
    def is_anonymous(self) -> bool:
        return self.account_id == ANONYMOUS

    @property
    def all_roles(self) -> tuple[str, ...]:
        """The account's roles and every role they include (Administrator includes Developer...)."""
        return self.roles + tuple(expand_roles(list(self.roles)))

    def has_role(self, role_id: str) -> bool:
        return role_id in self.all_roles

    @classmethod
    def anonymous(cls, org_id: str) -> Principal:
        return cls(org_id=org_id, account_id=ANONYMOUS)

    @classmethod
    def from_account(cls, account: dict[str, Any]) -> Principal:
        return cls(
            org_id=account["org_id"],
            account_id=account["id"],
            email=account["email"],
            roles=tuple(account["roles"]),
        )


@dataclass
class Caller:
    """The outcome of authenticating one request."""

    org: dict[str, Any]
    app: dict[str, Any]
    principal: Principal
    method: AuthMethod = "anonymous"
    session_id_hash: str | None = None
    csrf_token: str | None = field(default=None, repr=False)  # echoed in the response header
    # A signed request's verified OpenCortex-Content-SHA256: the body read must hash to it.
    content_sha256: str | None = None
