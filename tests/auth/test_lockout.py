"""Login lockout under parallel guesses, the unlock time it states, and the bound on password checks."""

from __future__ import annotations

import asyncio
import re
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from opencortex import faults
from opencortex.auth.lockout import record_failure
from opencortex.auth.sessions import finish_login, start_login
from opencortex.clock import utcnow
from opencortex.model import passwords
from opencortex.model.apps import find_app_by_key
from opencortex.store.tables import accounts, login_throttle
from tests.support.platform import PASSWORD, CortexClient, assert_fault, make_runtime, open_test_client, seed_org

LOCKED = "cortex.accessDenied.accountLocked"
INVALID = "cortex.accessDenied.invalidCredentials"
THROTTLED = "cortex.throttled.login"


def _failures(platform, email: str) -> int:
    with platform.runtime.database.connect() as connection:
        count = connection.execute(sa.select(login_throttle.c.failures).where(
            login_throttle.c.org_id == platform.org["id"], login_throttle.c.email == email)).scalar()
    return int(count or 0)


def _login(http, platform, email: str, password: str):
    """A login from a fresh browser: the explicit (empty) Cookie header keeps the client's cookie
    jar, where earlier successful logins left a session cookie, out of it."""
    return http.post(f"/{platform.code}/v2/accounts/login", json={"email": email, "password": password},
                     headers={"Medable-Client-Key": platform.session_app.key, "Cookie": ""})


def test_parallel_wrong_guesses_lock_after_exactly_the_threshold(platform, http):
    email = platform.admin["email"]
    threshold = platform.runtime.settings.login_lock_threshold
    start = threading.Barrier(40)

    def guess_twice(_number: int) -> list[tuple[int, str]]:
        start.wait()
        outcomes = []
        for _ in range(2):
            response = _login(http, platform, email, "not the password")
            body = response.json()
            outcomes.append((response.status_code, body.get("errCode", body.get("object"))))
        return outcomes

    with ThreadPoolExecutor(40) as pool:
        outcomes = [outcome for batch in pool.map(guess_twice, range(40)) for outcome in batch]

    assert len(outcomes) == 80
    assert set(outcomes) <= {(403, INVALID), (403, LOCKED), (429, THROTTLED)}, set(outcomes)
    counted = outcomes.count((403, INVALID))
    assert counted == threshold, outcomes
    assert _failures(platform, email) == counted
    # The next guess, with the right password, is refused as locked.
    assert_fault(_login(http, platform, email, PASSWORD), LOCKED, 403, code="kAccountLocked")
    assert _failures(platform, email) == threshold


def test_the_lockout_fault_says_when_the_account_unlocks(platform, http):
    email = platform.admin["email"]
    settings = platform.runtime.settings
    for _ in range(settings.login_lock_threshold):
        assert_fault(_login(http, platform, email, "not the password"), INVALID, 403)
    before = utcnow()
    response = _login(http, platform, email, PASSWORD)
    body = assert_fault(response, LOCKED, 403, code="kAccountLocked")
    assert body["path"] == "email"
    found = re.search(r"unlocks at (\S+Z) \(in (\d+) s\)", body["message"])
    assert found, body["message"]
    unlocks_at = datetime.fromisoformat(found.group(1).replace("Z", "+00:00"))
    seconds = int(found.group(2))
    assert 0 < seconds <= settings.login_lock_base_seconds
    assert abs((unlocks_at - before) - timedelta(seconds=settings.login_lock_base_seconds)) < timedelta(seconds=5)
    assert response.headers["retry-after"] == str(seconds)


def test_a_lock_recorded_while_the_password_is_checked_still_wins(platform):
    runtime, org = platform.runtime, platform.org
    email = platform.provider["email"]
    with runtime.database.connect() as connection:
        app = find_app_by_key(connection, org["id"], platform.session_app.key)
        attempt = start_login(connection, org=org, app=app, email=email, password=PASSWORD)
    # Other requests lock the address while this one's (right) password is being hashed.
    with runtime.database.begin() as connection:
        for _ in range(runtime.settings.login_lock_threshold):
            record_failure(connection, runtime.settings, org["id"], email, utcnow())
    with pytest.raises(faults.Fault) as refused, runtime.database.begin_keeping_faults() as connection:
        finish_login(connection, runtime.settings, attempt, True, None)
    assert refused.value.err_code == LOCKED
    with runtime.database.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(accounts).where(
            accounts.c.id == platform.provider["id"], accounts.c.last_login.is_not(None))).scalar() == 0


def test_a_wrong_guess_that_finds_the_lock_is_not_counted(platform):
    runtime, org = platform.runtime, platform.org
    email = platform.provider["email"]
    with runtime.database.connect() as connection:
        app = find_app_by_key(connection, org["id"], platform.session_app.key)
        attempt = start_login(connection, org=org, app=app, email=email, password="not the password")
    with runtime.database.begin() as connection:
        for _ in range(runtime.settings.login_lock_threshold):
            record_failure(connection, runtime.settings, org["id"], email, utcnow())
    with pytest.raises(faults.Fault) as refused, runtime.database.begin_keeping_faults() as connection:
        finish_login(connection, runtime.settings, attempt, False, None)
    assert refused.value.err_code == LOCKED
    assert _failures(platform, email) == runtime.settings.login_lock_threshold


@pytest.fixture
def one_slot(database_url, tmp_path):
    """An org whose server checks one password at a time and waits at most a second for it."""
    runtime = make_runtime(database_url, tmp_path / "var", login_concurrency=1, login_wait_seconds=1)
    platform = seed_org(runtime)
    with open_test_client(runtime) as http:
        yield platform, http
    runtime.close()


def test_a_login_that_gets_no_password_check_slot_is_throttled_not_counted(one_slot):
    platform, http = one_slot
    slots = platform.runtime.login_slots
    assert asyncio.run(slots.acquire(0))  # someone else's password check holds the only slot
    try:
        response = _login(http, platform, platform.admin["email"], "not the password")
        body = assert_fault(response, THROTTLED, 429, code="kThrottled")
        assert "nothing was counted" in body["reason"]
        assert response.headers["retry-after"] == "1"
        assert _failures(platform, platform.admin["email"]) == 0
    finally:
        slots.release()
    assert CortexClient(http, platform.code, platform.session_app.key).login(platform.admin["email"]).status_code == 200


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_login_flood_on_sqlite_answers_no_500_and_does_not_stall_another_org(platform, http, monkeypatch):
    # This test only: argon2 at its production cost, as an attacker's flood would meet it.
    real = PasswordHasher()
    monkeypatch.setattr(passwords, "_hasher", real)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", real.hash("opencortex-dummy-password"))
    with platform.runtime.database.begin() as connection:
        connection.execute(accounts.update().where(accounts.c.id == platform.admin["id"])
                           .values(password_hash=real.hash(PASSWORD)))
    other = seed_org(platform.runtime, "globex")
    other_client = CortexClient(http, other.code, other.session_app.key)
    assert other_client.get("accounts/status").status_code == 200

    flooding = threading.Event()
    latencies: list[float] = []
    other_statuses: list[int] = []

    def measure_other_org() -> None:
        while not flooding.is_set():
            time.sleep(0.01)
        while flooding.is_set():
            started = time.perf_counter()
            response = other_client.get("accounts/status")
            latencies.append(time.perf_counter() - started)
            other_statuses.append(response.status_code)
            time.sleep(0.05)

    def flood(number: int):
        # Half right passwords, half unknown addresses (each still costs a hash, and none locks).
        if number % 2:
            return _login(http, platform, platform.admin["email"], PASSWORD)
        return _login(http, platform, f"nobody{number}@acme.test", "not the password")

    measurer = threading.Thread(target=measure_other_org)
    measurer.start()
    try:
        with ThreadPoolExecutor(24) as pool:
            flooding.set()
            responses = list(pool.map(flood, range(24)))
    finally:
        flooding.clear()
        measurer.join()

    outcomes = {(response.status_code, response.json().get("errCode")) for response in responses}
    assert outcomes <= {(200, None), (403, INVALID), (429, THROTTLED)}, outcomes
    assert any(response.status_code == 200 for response in responses)
    assert len(latencies) >= 3 and set(other_statuses) == {200}
    # Generous: with the write lock held through each hash, another org waited seconds (issue 14).
    assert statistics.median(latencies) < 1.0, latencies
