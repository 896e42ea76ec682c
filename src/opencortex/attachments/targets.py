"""Upload targets: where the bytes of a pending facet may be sent, once, before they expire.

Writing a filename to a File property gives, for each pending facet, a target
``POST /{org}/v2/uploads/{token}``. The token is 256 random bits, shown once in ``uploadUrl``
and stored only as its SHA-256, so a database reader cannot upload. A target acts as the principal
who wrote the filename; it is claimed (``used``) atomically when its bytes start to arrive, so
two requests racing for one target cannot both store.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from opencortex import faults
from opencortex.clock import as_utc, iso, utcnow
from opencortex.store.tables import upload_targets

UPLOAD_FIELD = "file"  # the multipart part that carries the bytes
_KEEP_FINISHED = timedelta(days=1)  # used or expired targets linger this long, then are swept


@dataclass(frozen=True)
class UploadTarget:
    token_hash: str
    org_id: str
    object: str
    instance_id: str
    property: str  # dotted path of the File property
    facet: str
    storage_id: str
    filename: str
    mime: str
    max_size: int
    principal: str
    created: datetime
    expires: datetime
    used: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> UploadTarget:
        values = dict(row)
        for key in ("created", "expires", "used"):
            if values[key] is not None:
                values[key] = as_utc(values[key])
        return cls(**values)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_target(
    connection: Connection,
    *,
    org_id: str,
    object_name: str,
    instance_id: str,
    property_path: str,
    facet: dict[str, Any],
    principal: str,
    max_size: int,
    lifetime_seconds: int,
) -> tuple[str, UploadTarget]:
    """A new target for a pending facet (which has its ``storageId`` already); returns the token."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    target = UploadTarget(
        token_hash=token_hash(token),
        org_id=org_id,
        object=object_name,
        instance_id=instance_id,
        property=property_path,
        facet=facet["name"],
        storage_id=facet["storageId"],
        filename=facet["filename"],
        mime=facet.get("mime") or "application/octet-stream",
        max_size=max_size,
        principal=principal,
        created=now,
        expires=now + timedelta(seconds=lifetime_seconds),
        used=None,
    )
    connection.execute(upload_targets.insert().values(**target.__dict__))
    return token, target


def upload_entry(token: str, target: UploadTarget, base_url: str, org_code: str) -> dict[str, Any]:
    """One ``uploads[]`` entry: the keys of Cortex's upload descriptor, pointing at this server
    (``base_url``: its configured public URL, never the request's ``Host``)."""
    return {
        "name": target.facet,
        "filename": target.filename,
        "state": 0,
        "mime": target.mime,
        "maxFileSize": target.max_size,
        "uploadKey": UPLOAD_FIELD,
        "uploadMethod": "POST",
        "uploadUrl": f"{base_url.rstrip('/')}/{org_code}/v2/uploads/{token}",
        "expires": iso(target.expires),
        "fields": [],
    }


def find_target(connection: Connection, org_id: str, token: str, now: datetime | None = None) -> UploadTarget:
    """The target behind ``token`` in this org, if it can still be used."""
    row = (
        connection.execute(
            sa.select(upload_targets).where(
                upload_targets.c.token_hash == token_hash(token), upload_targets.c.org_id == org_id
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise faults.upload_not_found(path="token")
    target = UploadTarget.from_row(row)
    _check_usable(target, now or utcnow())
    return target


def claim_target(connection: Connection, target: UploadTarget) -> None:
    """Mark the target used, unless another request got there first (or it expired meanwhile)."""
    now = utcnow()
    claimed = connection.execute(
        upload_targets.update()
        .where(
            upload_targets.c.token_hash == target.token_hash,
            upload_targets.c.used.is_(None),
            upload_targets.c.expires > now,
        )
        .values(used=now)
    ).rowcount
    if claimed != 1:
        row = (
            connection.execute(
                sa.select(upload_targets).where(upload_targets.c.token_hash == target.token_hash)
            )
            .mappings()
            .first()
        )
        if row is None:
            raise faults.upload_not_found(path="token")
        _check_usable(UploadTarget.from_row(row), now)
        raise faults.upload_used(path="token")  # pragma: no cover - the update would have matched


def sweep_targets(connection: Connection, org_id: str) -> None:
    """Forget targets of this org that were used or expired more than a day ago."""
    cutoff = utcnow() - _KEEP_FINISHED
    connection.execute(
        upload_targets.delete().where(
            upload_targets.c.org_id == org_id,
            sa.or_(upload_targets.c.expires < cutoff, upload_targets.c.used < cutoff),
        )
    )


def _check_usable(target: UploadTarget, now: datetime) -> None:
    if target.used is not None:
        raise faults.upload_used(
            f"It was used at {iso(target.used)}; write the property again for a new one.", path="token"
        )
    if target.expires <= now:
        raise faults.upload_expired(
            f"It expired at {iso(target.expires)}; write the property again for a new one.", path="token"
        )
