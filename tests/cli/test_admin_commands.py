"""``org``, ``account``, ``app`` and ``token``: list and show, unlock, set-password, expiry; secrets never shown."""

from __future__ import annotations

from datetime import UTC, datetime

import jwt
import pytest
import sqlalchemy as sa

from opencortex.model.accounts import find_account_by_email
from opencortex.model.orgs import find_org
from opencortex.model.passwords import verify_password
from opencortex.store.tables import accounts
from tests.support.platform import CortexClient, assert_fault

PASSWORD = "a long password"


@pytest.fixture
def trial(run, run_json):
    """Org ``trial`` with an administrator, a provider, a session app and a signing app."""
    run("org", "create", "trial", "--name", "Trial One")
    run("org", "create", "other", "--name", "Other Org")
    admin = run_json("account", "create", "--org", "trial", "--email", "boss@trial.test", "--password-stdin",
                     "--role", "administrator", input=PASSWORD + "\n")
    provider = run_json("account", "create", "--org", "trial", "--email", "nurse@trial.test", "--password-stdin",
                        "--role", "provider", "--first-name", "Ann", input=PASSWORD + "\n")
    web = run_json("app", "create", "--org", "trial", "--name", "Web")
    server = run_json("app", "create", "--org", "trial", "--name", "Server", "--signing", "--principal",
                      "boss@trial.test")
    return {"admin": admin, "provider": provider, "web": web, "server": server}


def test_org_list_and_show(run, run_json, trial):
    listed = run_json("org", "list")
    assert listed["object"] == "list" and listed["hasMore"] is False
    assert [(org["code"], org["name"], org["accounts"], org["apps"]) for org in listed["data"]] == [
        ("other", "Other Org", 0, 0), ("trial", "Trial One", 2, 2)]
    assert all(len(org["_id"]) == 24 and org["created"].endswith("Z") for org in listed["data"])
    human = run("org", "list").stdout.splitlines()
    assert human[0].split() == ["CODE", "NAME", "ID", "CREATED", "ACCOUNTS", "APPS"]
    assert "trial" in human[2] and "Trial One" in human[2]

    shown = run_json("org", "show", "trial")
    assert shown == {**next(org for org in listed["data"] if org["code"] == "trial"), "storage": shown["storage"],
                     "configuration": {"queries": {"allowedRestrictedMatchOps": []}}}
    assert shown["storage"]["used"] == 0 and shown["storage"]["limit"] == 10 * 1024 ** 3
    assert shown["storage"]["files"] == 0 and shown["storage"]["available"] == shown["storage"]["limit"]
    text = run("org", "show", "trial").stdout
    assert "accounts:  2" in text and "0 bytes of 10.0 GiB used (0 files)" in text


def test_account_list_pages_and_show_hides_the_hash(run, run_json, trial):
    listed = run_json("account", "list", "--org", "trial")
    assert [account["email"] for account in listed["data"]] == ["nurse@trial.test", "boss@trial.test"]
    assert listed["hasMore"] is False
    first = run_json("account", "list", "--org", "trial", "--limit", "1")
    assert [account["email"] for account in first["data"]] == ["nurse@trial.test"] and first["hasMore"] is True
    rest = run_json("account", "list", "--org", "trial", "--limit", "1", "--starting-after", first["data"][0]["_id"])
    assert [account["email"] for account in rest["data"]] == ["boss@trial.test"] and rest["hasMore"] is False
    assert "More: --starting-after" in run("account", "list", "--org", "trial", "--limit", "1").stdout
    assert run_json("account", "list", "--org", "other")["data"] == []
    bad = run("account", "list", "--org", "trial", "--starting-after", "nurse@trial.test", ok=False)
    assert bad.exit_code == 2 and "Invalid value for '--starting-after'" in bad.stderr

    by_email = run_json("account", "show", "--org", "trial", "Nurse@Trial.test")
    by_id = run_json("account", "show", "--org", "trial", trial["provider"]["_id"])
    assert by_email == by_id
    assert by_email["name"] == {"first": "Ann", "last": ""} and by_email["lockout"] is None
    assert by_email["locked"] is False
    for args in (("--json",), ()):
        output = run("account", "show", "--org", "trial", "nurse@trial.test", *args).output
        assert "argon2" not in output and "password" not in output.lower()
    human = run("account", "show", "--org", "trial", "boss@trial.test").stdout
    assert "roles:       administrator" in human and "last login:  never" in human


def test_an_unknown_account_is_one_line_and_exit_status_1(run, trial):
    result = run("account", "show", "--org", "trial", "nobody@trial.test", ok=False)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == "Error: No account 'nobody@trial.test' in org 'trial'. (account)\n"
    # Accounts of another org are not found through this one.
    other = run("account", "show", "--org", "other", trial["admin"]["_id"], ok=False)
    assert other.exit_code == 1 and "Traceback" not in other.output
    missing_org = run("account", "list", "--org", "nope", ok=False)
    assert missing_org.exit_code == 1 and missing_org.stderr == "Error: No org with code 'nope'. (org)\n"


def test_unlock_lets_a_locked_out_account_log_in_again(run, run_json, platform, http):
    """Locked out through the real login route (wrong passwords), then let in again by the CLI."""
    client = CortexClient(http, platform.code, platform.session_app.key)
    email, threshold = platform.admin["email"], platform.runtime.settings.login_lock_threshold
    for _ in range(threshold):
        assert_fault(client.login(email, "wrong password"), "cortex.accessDenied.invalidCredentials", 403)
    # Locked out: even the right password is refused now.
    assert_fault(client.login(email), "cortex.accessDenied.accountLocked", 403)
    shown = run_json("account", "show", "--org", "acme", email)
    assert shown["lockout"]["failures"] == threshold and shown["lockout"]["lockedUntil"].endswith("Z")

    unlocked = run_json("account", "unlock", "--org", "acme", email)
    assert unlocked["email"] == email and unlocked["locked"] is False
    assert unlocked["cleared"] == {"failures": threshold, "lockedUntil": shown["lockout"]["lockedUntil"],
                                   "locked": False}
    assert client.login(email).status_code == 200
    assert run_json("account", "show", "--org", "acme", email)["lockout"] is None

    # The account's own locked flag is cleared too.
    with platform.runtime.database.begin() as connection:
        connection.execute(sa.update(accounts).where(accounts.c.id == platform.admin["id"]).values(locked=True))
    assert run_json("account", "show", "--org", "acme", email)["locked"] is True
    assert_fault(client.login(email), "cortex.accessDenied.accountLocked", 403)
    text = run("account", "unlock", "--org", "acme", email).stdout
    assert text == f"Unlocked {email}: cleared the account's locked flag.\n"
    assert client.login(email).status_code == 200
    assert run("account", "unlock", "--org", "acme", email).stdout == f"{email} was not locked out; nothing to clear.\n"

    unknown = run("account", "unlock", "--org", "acme", "ghost@acme.test", ok=False)
    assert unknown.exit_code == 1 and unknown.stderr == "Error: No account 'ghost@acme.test' in this org. (email)\n"


def test_a_new_password_is_the_one_that_logs_in(run, platform, http):
    client = CortexClient(http, platform.code, platform.session_app.key)
    email = platform.provider["email"]
    run("account", "set-password", "--org", "acme", email, "--password-stdin", input="a fresh passphrase\n")
    assert_fault(client.login(email), "cortex.accessDenied.invalidCredentials", 403)  # the old one
    assert client.login(email, "a fresh passphrase").status_code == 200


def test_set_password_ends_the_sessions_opened_with_the_old_one(run, platform, http):
    client = CortexClient(http, platform.code, platform.session_app.key)
    email = platform.provider["email"]
    assert client.login(email).status_code == 200
    assert client.get("/accounts/me").status_code == 200
    run("account", "set-password", "--org", "acme", email, "--password-stdin", input="a fresh passphrase\n")
    assert_fault(client.get("/accounts/me"), "cortex.accessDenied.notLoggedIn", 403)


def test_app_create_sign_content_needs_signing_and_shows(run, run_json, trial):
    made = run_json("app", "create", "--org", "trial", "--name", "Strict", "--signing", "--sign-content")
    assert made["signContent"] is True
    assert "sign content:       yes" in run("app", "show", "--org", "trial", made["key"]).output
    refused = run("app", "create", "--org", "trial", "--name", "Loose", "--sign-content", ok=False)
    assert refused.exit_code == 1 and "(signContent)" in refused.stderr


def test_set_password_reads_standard_input_and_keeps_the_rules(run, run_json, runtime, trial):
    done = run_json("account", "set-password", "--org", "trial", "nurse@trial.test", "--password-stdin",
                    input="a brand new password\n")
    assert done == {"_id": trial["provider"]["_id"], "object": "account", "email": "nurse@trial.test",
                    "passwordSet": True}
    with runtime.database.connect() as connection:
        account = find_account_by_email(connection, find_org(connection, "trial")["id"], "nurse@trial.test")
    assert verify_password(account["password_hash"], "a brand new password")
    assert not verify_password(account["password_hash"], PASSWORD)
    assert account["password_hash"].startswith("$argon2id$")

    short = run("account", "set-password", "--org", "trial", "nurse@trial.test", "--password-stdin",
                input="short\n", ok=False)
    assert short.exit_code == 1 and short.stderr == "Error: A password is 8-256 characters. (password)\n"
    without = run("account", "set-password", "--org", "trial", "nurse@trial.test", input="whatever long\n",
                  ok=False)
    assert without.exit_code == 2 and "--password-stdin" in without.stderr
    with runtime.database.connect() as connection:
        unchanged = find_account_by_email(connection, find_org(connection, "trial")["id"], "nurse@trial.test")
    assert verify_password(unchanged["password_hash"], "a brand new password")


def test_account_create_refuses_both_password_sources(run, trial):
    both = run("account", "create", "--org", "trial", "--email", "x@trial.test", "--password", "a long password",
               "--password-stdin", input="another long one\n", ok=False)
    assert both.exit_code == 2 and "not both" in both.stderr


def test_app_list_and_show_never_print_a_secret(run, run_json, trial):
    secret = trial["server"]["secret"]
    assert secret and len(secret) == 64
    listed = run_json("app", "list", "--org", "trial")
    assert [app["name"] for app in listed["data"]] == ["Web", "Server"]
    server = listed["data"][1]
    assert server["signing"] is True and server["sessions"] is False and server["csrf"] is True
    assert server["principal"] == "boss@trial.test" and server["principalOverride"] is False
    assert "secret" not in server and listed["data"][0]["principal"] is None
    shown = run_json("app", "show", "--org", "trial", trial["server"]["key"])
    assert shown == server
    outputs = [run("app", "list", "--org", "trial", *args).output for args in ((), ("--json",))]
    outputs += [run("app", "show", "--org", "trial", trial["server"]["key"], *args).output
                for args in ((), ("--json",))]
    for output in outputs:
        assert secret not in output and "PRIVATE KEY" not in output
    human = outputs[2]
    assert "principal:          boss@trial.test" in human and "signing:            yes" in human

    unknown = run("app", "show", "--org", "trial", "NoSuchKeyNoSuchKeyNoSu", ok=False)
    assert unknown.exit_code == 1 and unknown.stderr == (
        "Error: No app with key 'NoSuchKeyNoSuchKeyNoSu' in org 'trial'. (key)\n")
    elsewhere = run("app", "show", "--org", "other", trial["server"]["key"], ok=False)
    assert elsewhere.exit_code == 1


def test_token_create_shows_when_it_expires(run, run_json, trial):
    made = run_json("token", "create", "--org", "trial", "--app", trial["web"]["key"], "--account",
                    "boss@trial.test", "--expires-in", "600")
    claims = jwt.decode(made["token"], options={"verify_signature": False})
    expected = datetime.fromtimestamp(claims["exp"], UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert made["expiresAt"] == expected and made["expiresIn"] == 600
    assert claims["exp"] - claims["iat"] == 600

    plain = run("token", "create", "--org", "trial", "--app", trial["web"]["key"], "--account", "boss@trial.test")
    token = plain.stdout.strip()
    assert plain.stdout == token + "\n" and token.count(".") == 2  # $(opencortex token create ...) is the token
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 3600
    expires = datetime.fromtimestamp(claims["exp"], UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert plain.stderr == f"expires at {expires}\n"

    nobody = run("token", "create", "--org", "trial", "--app", trial["web"]["key"], "--account", "x@trial.test",
                 ok=False)
    assert nobody.exit_code == 1 and nobody.stderr == "Error: No account 'x@trial.test' in org 'trial'. (account)\n"
