"""Signed download links: a file path plus ``expires``, ``principal`` and ``signature`` parameters.

``https://host/acme/v2/c_patients/<id>/c_photo/content?expires=1767225600&principal=<id>&signature=<hex>``

The signature is HMAC-SHA256, under a key derived from the master key for the purpose
``signed-urls``, over the org's ``_id``, the principal the link was minted for, the expiry (Unix
seconds) and the path after ``/{org}/v2``. The server verifies it itself, in constant time, so the
link needs no other credentials until it expires, and is useless for any other path or org. A
link acts as its principal: the server still checks, at each use, that the principal may read
the file.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from opencortex import faults
from opencortex.clock import iso, utcnow
from opencortex.ids import is_object_id
from opencortex.keys import MasterKey

PURPOSE = "signed-urls"
PARAMETERS = ("expires", "principal", "signature")
_CONTEXT = "opencortex.signed-url.v1"
_SIGNATURE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class SignedLink:
    """A verified link: what it is for, and until when."""

    org_id: str
    path: str  # after /{org}/v2, starting with "/"
    principal: str
    expires: int  # Unix seconds


def now_seconds() -> int:
    return int(utcnow().timestamp())


def signature(master_key: MasterKey, org_id: str, path: str, principal: str, expires: int) -> str:
    message = f"{_CONTEXT}\n{org_id}\n{principal}\n{expires}\n{path}".encode()
    return hmac.new(master_key.derive(PURPOSE), message, hashlib.sha256).hexdigest()


def signed_url(
    master_key: MasterKey,
    *,
    base_url: str,
    org: Mapping[str, str],
    path: str,
    principal: str,
    lifetime_seconds: int,
    now: int | None = None,
) -> str:
    """An absolute link to ``path`` (``/c_patients/<id>/c_photo/content``) that acts as ``principal``.

    ``base_url`` is the server's configured public URL (``Settings.public_base_url``), never one
    taken from the request: its ``Host`` header is the client's to choose, and a link built on it
    would send the next holder of the link (and its signature) wherever the client said.
    """
    if not path.startswith("/"):
        raise ValueError("a signed path starts with '/'")
    expires = (now_seconds() if now is None else now) + lifetime_seconds
    query = urlencode(
        {
            "expires": expires,
            "principal": principal,
            "signature": signature(master_key, org["id"], path, principal, expires),
        }
    )
    return f"{base_url.rstrip('/')}/{org['code']}/v2{quote(path)}?{query}"


def is_signed(query: Mapping[str, str]) -> bool:
    return "signature" in query


def verify(
    master_key: MasterKey, org_id: str, path: str, query: Mapping[str, str], now: int | None = None
) -> SignedLink:
    """The link's principal and expiry, if its signature is right and it has not expired.

    A wrong signature, principal, org or path is ``signed_url_invalid``; a past expiry (checked
    only after the signature, so it cannot be forged) is ``signed_url_expired``.
    """
    given = query.get("signature", "")
    principal = query.get("principal", "")
    expires_text = query.get("expires", "")
    if not (
        _SIGNATURE.match(given)
        and is_object_id(principal)
        and expires_text.isdigit()
        and len(expires_text) <= 12
    ):
        raise faults.signed_url_invalid("The link is malformed: it needs expires, principal and signature.")
    expires = int(expires_text)
    expected = signature(master_key, org_id, path, principal, expires)
    if not hmac.compare_digest(expected, given):
        raise faults.signed_url_invalid("The link's signature does not match this file.")
    if (now_seconds() if now is None else now) >= expires:
        raise faults.signed_url_expired(f"The link expired at {iso(datetime.fromtimestamp(expires, UTC))}.")
    return SignedLink(org_id, path, principal, expires)
