"""The ``opencortex`` command, driven in-process through click's runner."""

from __future__ import annotations

import json

import jwt

from opencortex.model.passwords import verify_password


def as_json(result):
    return json.loads(result.stdout)


def test_init_creates_data_folder_and_master_key(run, tmp_path):
    data = as_json(run("init", "--json"))
    assert (tmp_path / "var" / "master.key").exists()
    assert oct((tmp_path / "var" / "master.key").stat().st_mode & 0o777) == "0o600"
    assert data["database"] in ("sqlite", "postgresql")
    run("init")  # safe to repeat


def test_org_account_app_token_flow(run):
    org = as_json(run("org", "create", "trial", "--name", "Trial One", "--json"))
    assert org["code"] == "trial" and org["object"] == "org"
    account = as_json(run("account", "create", "--org", "trial", "--email", "Boss@Trial.test", "--password",
                          "a long password", "--role", "administrator", "--json"))
    assert account["object"] == "account" and len(account["_id"]) == 24 and account["email"] == "boss@trial.test"
    piped = as_json(run("account", "create", "--org", "trial", "--email", "p@trial.test", "--password-stdin",
                        "--role", "provider", "--json", input="from standard input\n"))
    assert piped["roles"] == ["000000000000000000000005"]

    signing = as_json(run("app", "create", "--org", "trial", "--name", "Server", "--signing",
                          "--principal", "boss@trial.test", "--principal-override", "--json"))
    assert len(signing["key"]) == 22 and len(signing["secret"]) == 64
    assert signing["sessions"] is False and signing["principalOverride"] is True
    assert signing["principalId"] == account["_id"]
    plain = as_json(run("app", "create", "--org", "trial", "--name", "Web", "--no-csrf", "--json"))
    assert plain["secret"] is None and plain["csrf"] is False and plain["sessions"] is True

    human = run("app", "create", "--org", "trial", "--name", "Other", "--signing").output
    assert "API secret:" in human and "not shown again" in human

    token = as_json(run("token", "create", "--org", "trial", "--app", plain["key"], "--account",
                        "boss@trial.test", "--expires-in", "120", "--json"))
    claims = jwt.decode(token["token"], options={"verify_signature": False})
    assert claims["iss"] == plain["key"] and claims["sub"] == account["_id"]
    assert claims["exp"] - claims["iat"] == 120 and claims["cortex/eml"] == "boss@trial.test"


def test_errors_are_messages_not_tracebacks(run):
    run("org", "create", "trial", "--name", "Trial")
    duplicate = run("org", "create", "trial", "--name", "Again", ok=False)
    assert duplicate.exit_code != 0 and "already exists" in duplicate.output
    bad = run("org", "create", "Not Valid!", "--name", "X", ok=False)
    assert bad.exit_code != 0 and "Traceback" not in bad.output
    missing = run("account", "create", "--org", "nope", "--email", "a@b.test", "--password", "long enough",
                  ok=False)
    assert "No org" in missing.output
    short = run("account", "create", "--org", "trial", "--email", "a@b.test", "--password", "short", ok=False)
    assert "password" in short.output


def test_demo_is_idempotent_and_its_credentials_work(run, tmp_path, database_url):
    first = as_json(run("demo", "--json"))
    second = as_json(run("demo", "--json"))
    assert first == second
    assert len(first["apiKey"]) == 22 and len(first["apiSecret"]) == 64

    from opencortex.model.accounts import find_account_by_email
    from opencortex.model.orgs import find_org
    from opencortex.runtime import Runtime
    from opencortex.settings import Settings

    runtime = Runtime.open(Settings(data_dir=tmp_path / "var", database_url=database_url))
    try:
        with runtime.database.connect() as connection:
            org = find_org(connection, "demo")
            account = find_account_by_email(connection, org["id"], first["email"])
        assert verify_password(account["password_hash"], first["password"])
        # The demo study model is loaded once, with real images in the patients' File property.
        import sqlalchemy as sa

        from opencortex.store.tables import documents

        with runtime.database.connect() as connection:
            bodies = connection.execute(sa.select(documents.c.body).where(
                documents.c.org_id == org["id"], documents.c.object == "c_patient")).scalars().all()
        assert len(bodies) == 3000
        photos = [body["c_photo"] for body in bodies if isinstance(body.get("c_photo"), dict)]
        assert photos and all(photo["state"] == 2 and photo["mime"] == "image/png" for photo in photos)
    finally:
        runtime.close()

    # Losing the stored credentials file still ends with working, freshly printed credentials.
    (tmp_path / "var" / "demo-credentials.json").unlink()
    third = as_json(run("demo", "--json"))
    assert third["password"] != first["password"] and third["apiKey"] == first["apiKey"]


def test_demo_unlocks_its_administrator_so_the_printed_credentials_work(run, tmp_path, database_url):
    credentials = as_json(run("demo", "--json"))

    from opencortex.auth.lockout import record_failure
    from opencortex.clock import utcnow
    from opencortex.model.accounts import find_login_lockout
    from opencortex.model.orgs import find_org
    from opencortex.runtime import Runtime
    from opencortex.settings import Settings

    settings = Settings(data_dir=tmp_path / "var", database_url=database_url)
    runtime = Runtime.open(settings)
    try:
        with runtime.database.begin() as connection:
            org = find_org(connection, "demo")
            for _ in range(settings.login_lock_threshold):
                record_failure(connection, settings, org["id"], credentials["email"], utcnow())
            assert find_login_lockout(connection, org["id"], credentials["email"]).locked_until is not None
        again = run("demo")
        assert "Unlocked " + credentials["email"] in again.stderr
        with runtime.database.connect() as connection:
            assert find_login_lockout(connection, org["id"], credentials["email"]) is None
    finally:
        runtime.close()
