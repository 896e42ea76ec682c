"""Every request needs the key of an enabled app of the org in the URL."""

from __future__ import annotations

from opencortex.model.apps import create_app, set_app_enabled
from opencortex.model.orgs import create_org
from tests.support.platform import CortexClient, assert_fault


def test_missing_key(platform, http):
    assert_fault(http.get(f"/{platform.code}/v2"), "cortex.notFound.app", 404)


def test_unknown_key(platform, http):
    client = CortexClient(http, platform.code, "A" * 22)
    assert_fault(client.get(""), "cortex.notFound.app", 404)


def test_key_of_another_org_is_unknown_here(platform, http):
    with platform.runtime.database.begin() as connection:
        other = create_org(connection, "globex", "Globex")
        _row, other_key, _ = create_app(connection, platform.runtime.master_key, other["id"], name="Other")
    assert_fault(CortexClient(http, platform.code, other_key).get(""), "cortex.notFound.app", 404)
    assert CortexClient(http, "globex", other_key).get("").status_code == 200


def test_disabled_app(platform, http):
    with platform.runtime.database.begin() as connection:
        set_app_enabled(connection, platform.org["id"], platform.session_app.row["id"], False)
    client = CortexClient(http, platform.code, platform.session_app.key)
    assert_fault(client.get(""), "cortex.accessDenied.appDisabled", 403)


def test_keys_and_secrets_have_the_shapes_the_official_client_accepts(platform):
    import re

    assert re.fullmatch(r"[0-9A-Za-z]{22}", platform.signing_app.key)
    assert re.fullmatch(r"[0-9A-Za-z]{64}", platform.signing_app.secret or "")
    assert platform.session_app.secret is None


def test_secret_is_stored_sealed_not_in_plain_text(platform):
    import sqlalchemy as sa

    from opencortex.store.tables import apps

    with platform.runtime.database.connect() as connection:
        sealed = connection.execute(
            sa.select(apps.c.secret_sealed).where(apps.c.id == platform.signing_app.row["id"])
        ).scalar_one()
    assert platform.signing_app.secret.encode() not in sealed
