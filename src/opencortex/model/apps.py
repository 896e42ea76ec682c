"""Apps: the API keys of an org. Signing apps also hold a secret; every app holds an RSA key pair.

Keys are 22 and secrets 64 alphanumeric characters, the shapes the official client accepts.
Secrets and private keys are stored sealed under the master key: verifying an HMAC needs the
secret itself, so it cannot be hashed, but it is never stored or shown in plain text.
"""

from __future__ import annotations

import secrets
import string
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import Connection

from opencortex import faults
from opencortex.clock import iso, utcnow
from opencortex.ids import new_object_id
from opencortex.keys import MasterKey
from opencortex.store.tables import apps

KEY_LENGTH = 22
SECRET_LENGTH = 64
_ALPHANUMERIC = string.ascii_letters + string.digits
SECRET_PURPOSE = "app-secret"  # noqa: S105 -- an HKDF purpose label, not a secret
SIGNING_KEY_PURPOSE = "app-signing-key"


def random_alphanumeric(length: int) -> str:
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))


def create_app(
    connection: Connection,
    master_key: MasterKey,
    org_id: str,
    *,
    name: str,
    signing: bool = False,
    sessions: bool | None = None,
    csrf: bool = True,
    principal_override: bool = False,
    principal_id: str | None = None,
    auth_duration: int = 900,
    sign_content: bool = False,
) -> tuple[dict[str, Any], str, str | None]:
    """Create an app; returns (row, key, secret). The secret is shown to the caller once.

    ``sign_content`` makes signed requests also sign their query and body (docs/api.md,
    "Signed content"); it needs a signing app.
    """
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise faults.invalid_argument("An app name is 1-100 characters.", path="name")
    if sign_content and not signing:
        raise faults.invalid_argument(
            "Signed content applies to signed requests: only a signing app can require it.", path="signContent"
        )
    key = random_alphanumeric(KEY_LENGTH)
    secret = random_alphanumeric(SECRET_LENGTH) if signing else None
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    row = {
        "id": new_object_id(),
        "org_id": org_id,
        "name": name.strip(),
        "key": key,
        "secret_sealed": master_key.seal(secret.encode(), SECRET_PURPOSE) if secret else None,
        "signing_key_sealed": master_key.seal(pem, SIGNING_KEY_PURPOSE),
        # Cortex's signing apps have sessions off; plain apps are session apps.
        "sessions": (not signing) if sessions is None else sessions,
        "csrf": csrf,
        "principal_override": principal_override,
        "principal_id": principal_id,
        "enabled": True,
        "auth_duration": auth_duration,
        "sign_content": sign_content,
        "created": utcnow(),
    }
    connection.execute(apps.insert().values(**row))
    return row, key, secret


def find_app_by_key(connection: Connection, org_id: str, key: str) -> dict[str, Any] | None:
    if not isinstance(key, str) or len(key) != KEY_LENGTH:
        return None
    row = connection.execute(
        sa.select(apps).where(apps.c.org_id == org_id, apps.c.key == key)
    ).mappings().first()
    return dict(row) if row else None


def list_apps(connection: Connection, org_id: str) -> list[dict[str, Any]]:
    query = sa.select(apps).where(apps.c.org_id == org_id).order_by(apps.c.id)
    return [dict(row) for row in connection.execute(query).mappings()]


def set_app_enabled(connection: Connection, org_id: str, app_id: str, enabled: bool) -> None:
    connection.execute(apps.update().where(apps.c.org_id == org_id, apps.c.id == app_id).values(enabled=enabled))


# What an app can change in place: its key, secret and key pair stay the same.
_ADJUSTABLE = frozenset({"sessions", "csrf", "principal_override", "principal_id", "enabled", "sign_content"})


def update_app(connection: Connection, org_id: str, app_id: str, **changes: Any) -> None:
    """Change an app's settings (``_ADJUSTABLE``) in place, keeping its key, secret and key pair."""
    unknown = set(changes) - _ADJUSTABLE
    if unknown:
        raise ValueError(f"not an adjustable app setting: {', '.join(sorted(unknown))}")
    if changes:
        connection.execute(apps.update().where(apps.c.org_id == org_id, apps.c.id == app_id).values(**changes))


def issue_app_secret(connection: Connection, master_key: MasterKey, org_id: str, app_id: str) -> str:
    """Give an app a new secret, so that it signs requests from now on; returned to be shown once."""
    secret = random_alphanumeric(SECRET_LENGTH)
    connection.execute(
        apps.update()
        .where(apps.c.org_id == org_id, apps.c.id == app_id)
        .values(secret_sealed=master_key.seal(secret.encode(), SECRET_PURPOSE))
    )
    return secret


def app_secret(master_key: MasterKey, app: dict[str, Any]) -> str | None:
    sealed = app.get("secret_sealed")
    return master_key.open(sealed, SECRET_PURPOSE).decode() if sealed else None


def app_private_key(master_key: MasterKey, app: dict[str, Any]) -> rsa.RSAPrivateKey:
    pem = master_key.open(app["signing_key_sealed"], SIGNING_KEY_PURPOSE)
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def app_json(app: dict[str, Any]) -> dict[str, Any]:
    """The app as administrators see it: never the secret or private key."""
    return {
        "_id": app["id"],
        "object": "app",
        "name": app["name"],
        "key": app["key"],
        "signing": app["secret_sealed"] is not None,
        "sessions": app["sessions"],
        "csrf": app["csrf"],
        "principalOverride": app["principal_override"],
        "principalId": app["principal_id"],
        "enabled": app["enabled"],
        "authDuration": app["auth_duration"],
        "signContent": app["sign_content"],
        "created": iso(app["created"]),
    }
