"""Export operations leave the audit trail the docs promise: create, cancel, every download (also
through a signed URL), delete and expiry, each with principal, time and export."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa

from opencortex.clock import utcnow
from opencortex.exports.reaper import reap_expired_exports
from opencortex.store.tables import audit, exports
from tests.exports_api.conftest import download_zip, run_all


def trail(platform) -> list[tuple[str, str, str | None, dict | None]]:
    with platform.runtime.database.connect() as connection:
        rows = connection.execute(
            sa.select(audit.c.action, audit.c.resource, audit.c.principal, audit.c.details)
            .where(audit.c.org_id == platform.org["id"], audit.c.action.like("export.%"))
            .order_by(audit.c.time, audit.c.id)
        ).all()
    return [tuple(row) for row in rows]


def test_operations_are_audited(study, worker, platform, http):
    admin = platform.admin["id"]
    created = study.client.post("exports", json={"label": "Audited", "objects": "c_patients"}).json()
    cancelled = study.client.post("exports", json={"label": "Cancelled", "objects": "c_patients"}).json()
    study.client.post(f"exports/{cancelled['_id']}/cancel", json={})
    run_all(worker)
    download_zip(study.client, created["_id"])
    facet = study.client.get(f"exports/{created['_id']}/dataFile/content",
                             headers={"Accept": "application/json"}).json()  # no download: not recorded
    parts = urlsplit(facet["url"])
    assert http.get(f"{parts.path}?{parts.query}", headers={"Cookie": ""}).status_code == 200
    assert study.client.delete(f"exports/{cancelled['_id']}").status_code == 200
    with platform.runtime.database.begin() as connection:
        connection.execute(exports.update().where(exports.c.id == created["_id"])
                           .values(expires_at=utcnow() - timedelta(minutes=1)))
    assert reap_expired_exports(platform.runtime) == 1

    content = f"/exports/{created['_id']}/dataFile/content"
    assert trail(platform) == [
        ("export.create", f"/exports/{created['_id']}", admin, {"objects": "c_patients"}),
        ("export.create", f"/exports/{cancelled['_id']}", admin, {"objects": "c_patients"}),
        ("export.cancel", f"/exports/{cancelled['_id']}", admin, None),
        ("export.download", content, admin, {"via": "session"}),
        ("export.download", content, admin, {"via": "signed-url"}),
        ("export.delete", f"/exports/{cancelled['_id']}", admin, None),
        ("export.expire", f"/exports/{created['_id']}", None, None),
    ]


def test_a_change_is_audited_and_an_empty_one_is_not(study, platform):
    admin = platform.admin["id"]
    created = study.client.post("exports", json={"label": "Audited", "objects": "c_patients"}).json()
    assert study.client.put(f"exports/{created['_id']}", json={}).status_code == 200
    assert study.client.put(f"exports/{created['_id']}", json={"description": "d", "label": "L"}).status_code == 200
    assert trail(platform)[1:] == [
        ("export.update", f"/exports/{created['_id']}", admin, {"changed": ["description", "label"]})]
