"""The queue against the database: one running export per org is the database's own rule
(``ux_exports_one_running``), and the claim copes when the database refuses it."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from opencortex.clock import utcnow
from opencortex.exports import queue
from opencortex.exports.formats import DEFAULT_FORMAT
from opencortex.exports.jobs import ExportJob, ExportParameters, ExportState
from opencortex.store.tables import exports
from tests.support.platform import seed_org

PARAMETERS = ExportParameters(objects="c_things", object="c_thing", format=DEFAULT_FORMAT)


def queued(platform, org_id: str, label: str) -> ExportJob:
    with platform.runtime.database.begin() as connection:
        return queue.create_export(connection, org_id, platform.admin["id"], label=label, description=None,
                                   parameters=PARAMETERS, ttl=None)


def states(platform) -> dict[str, str]:
    with platform.runtime.database.connect() as connection:
        return dict(connection.execute(sa.select(exports.c.id, exports.c.state)).all())


def set_state(connection, export_id: str, state: str) -> None:
    connection.execute(exports.update().where(exports.c.id == export_id).values(state=state))


def test_the_database_refuses_a_second_running_export_of_an_org(platform):
    first, second = queued(platform, platform.org["id"], "first"), queued(platform, platform.org["id"], "second")
    other_org = seed_org(platform.runtime, "other")
    elsewhere = queued(platform, other_org.org["id"], "elsewhere")
    database = platform.runtime.database
    with database.begin() as connection:
        set_state(connection, first.id, "running")
        set_state(connection, elsewhere.id, "running")  # another org runs at the same time
    with pytest.raises(IntegrityError), database.begin() as connection:
        set_state(connection, second.id, "running")
    assert states(platform) == {first.id: "running", second.id: "pending", elsewhere.id: "running"}
    # Only running exports count: any number of an org may be ready or failed.
    with database.begin() as connection:
        set_state(connection, first.id, "ready")
        set_state(connection, second.id, "running")
        set_state(connection, second.id, "error")
    assert states(platform) == {first.id: "ready", second.id: "error", elsewhere.id: "running"}


def test_the_claim_runs_one_export_per_org_in_order(platform):
    org_id = platform.org["id"]
    first, second = queued(platform, org_id, "first"), queued(platform, org_id, "second")
    other = queued(platform, seed_org(platform.runtime, "other").org["id"], "other")
    database = platform.runtime.database
    claimed = []
    with database.begin() as connection:
        while (job := queue.claim_next_export(connection, database.dialect, "worker-a", 30)) is not None:
            claimed.append(job)
    assert sorted(job.id for job in claimed) == sorted([first.id, other.id])
    started = next(job for job in claimed if job.org_id == org_id)
    assert started.state is ExportState.RUNNING and started.attempts == 1 and started.lease_owner == "worker-a"
    assert started.lease_expires is not None and started.lease_expires > utcnow()
    assert started.parameters == PARAMETERS
    with database.begin() as connection:
        assert queue.fail_export(connection, first.id, "worker-a", fault={"errCode": "x"}, new_events=[])
        job = queue.claim_next_export(connection, database.dialect, "worker-b", 30)
    assert job is not None and job.id == second.id and job.lease_owner == "worker-b"


def test_a_claim_the_database_refuses_claims_nothing_and_keeps_the_transaction(platform, monkeypatch):
    """Two workers that both saw an org with nothing running: the second one's start is refused
    by the index; the claim returns None and what its transaction did before still commits."""
    org_id = platform.org["id"]
    first, second = queued(platform, org_id, "first"), queued(platform, org_id, "second")
    database = platform.runtime.database
    with database.begin() as connection:
        assert queue.claim_next_export(connection, database.dialect, "worker-a", 30).id == first.id
    # The second worker's reads happened before the first one's start: it sees the org idle.
    monkeypatch.setattr(queue, "_orgs_with_waiting_exports", lambda connection, dialect: [org_id])
    stale = {"id": second.id, "attempts": 0, "events": second.events, "sequence": 0}
    monkeypatch.setattr(queue, "_next_candidate", lambda connection, candidate_org: stale)
    with database.begin() as connection:
        connection.execute(exports.update().where(exports.c.id == first.id)
                           .values(lease_expires=utcnow() + timedelta(minutes=5)))
        assert queue.claim_next_export(connection, database.dialect, "worker-b", 30) is None
        renewed = queue.renew_lease(connection, first.id, "worker-a", 60)  # the transaction goes on
    assert renewed
    assert states(platform) == {first.id: "running", second.id: "pending"}
    with database.connect() as connection:
        assert queue.get_export(connection, org_id, first.id).lease_owner == "worker-a"


def test_expiry_waits_for_a_running_export(platform):
    from opencortex.exports.reaper import reap_expired_exports

    org_id = platform.org["id"]
    running, waiting, fresh = queued(platform, org_id, "running"), queued(platform, org_id, "waiting"), queued(
        platform, org_id, "fresh")
    database = platform.runtime.database
    with database.begin() as connection:
        assert queue.claim_next_export(connection, database.dialect, "worker-a", 30).id == running.id
        connection.execute(exports.update().where(exports.c.id.in_([running.id, waiting.id]))
                           .values(expires_at=utcnow() - timedelta(minutes=1)))
    assert reap_expired_exports(platform.runtime) == 1
    assert states(platform) == {running.id: "running", fresh.id: "pending"}
    with database.begin() as connection:
        assert queue.finish_export(connection, running.id, "worker-a", stats={}, data_file={}, sha256="", files=None,
                                   progress={}, new_events=[])
    assert reap_expired_exports(platform.runtime) == 1
    assert states(platform) == {fresh.id: "pending"}
