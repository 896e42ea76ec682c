"""Bearer tokens: RS256 JWTs signed with the app's key pair (``iss`` = app key, ``sub`` = account)."""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from opencortex import faults

EMAIL_CLAIM = "cortex/eml"
SCOPE_CLAIM = "cortex/scp"


def issue_token(
    private_key: rsa.RSAPrivateKey, *, app_key: str, account_id: str, email: str, expires_in: int
) -> str:
    now = int(time.time())
    claims = {
        "iss": app_key,
        "sub": account_id,
        "iat": now,
        "nbf": now,
        "exp": now + expires_in,
        "jti": secrets.token_hex(12),
        EMAIL_CLAIM: email,
        SCOPE_CLAIM: ["*"],
    }
    return jwt.encode(claims, private_key, algorithm="RS256", headers={"kid": app_key})


def unverified_issuer(token: str) -> str | None:
    """The ``iss`` claim, read without verification: it names the app whose key verifies it."""
    try:
        issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError:
        return None
    return issuer if isinstance(issuer, str) else None


def verify_token(token: str, public_key: rsa.RSAPublicKey, *, app_key: str) -> dict[str, Any]:
    try:
        return jwt.decode(
            token,
            public_key,
            algorithms=["RS256"],
            issuer=app_key,
            options={"require": ["exp", "iss", "sub"], "verify_aud": False},
            leeway=5,
        )
    except jwt.ExpiredSignatureError:
        raise faults.token_expired() from None
    except jwt.PyJWTError as error:
        raise faults.invalid_token(str(error)) from None


def public_jwk(public_key: rsa.RSAPublicKey, kid: str) -> dict[str, str]:
    numbers = public_key.public_numbers()
    return {
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
        "kid": kid,
        "n": _b64(numbers.n),
        "e": _b64(numbers.e),
    }


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
