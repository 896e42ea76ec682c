"""The database's change record (``store.change_triggers``, ``store.changes``): every write path
stamps ``change_seq``, every delete path leaves a tombstone, in the writing transaction, and a
change mark taken by a reader splits "already seen" from "changed after" exactly, even for a write
that commits after the mark was taken (where a timestamp would say "before").
"""

from __future__ import annotations

import re
import uuid

import sqlalchemy as sa

from opencortex.acl.viewer import Viewer
from opencortex.ids import ROLE_ADMINISTRATOR
from opencortex.instances import bulk
from opencortex.instances.bulk import import_ndjson
from opencortex.instances.service import Instances
from opencortex.model.objects import create_object, delete_object, get_object
from opencortex.store.changes import changed_after, current_change_mark
from opencortex.store.tables import deleted_documents, documents, metadata
from tests.support.platform import seed_org

THING = {"name": "c_thing", "label": "Thing", "createAcl": [{"type": 3, "target": ROLE_ADMINISTRATOR}],
         "defaultAcl": [{"type": 3, "target": ROLE_ADMINISTRATOR, "allow": 7}], "properties": [
    {"name": "c_name", "label": "Name", "type": "String", "indexed": True},
]}


def _admin(platform) -> Viewer:
    return Viewer(platform.org["id"], platform.admin["id"], frozenset(platform.admin["roles"]))


def _instances(platform, connection) -> Instances:
    definition = get_object(connection, platform.org["id"], "c_thing")
    return Instances(connection, platform.runtime.database.dialect, platform.org["id"], definition, _admin(platform))


def _mark(platform) -> str:
    database = platform.runtime.database
    with database.connect() as connection, connection.begin():
        return current_change_mark(connection, database.dialect)


def _changed_after(platform, mark: str) -> set[str]:
    database = platform.runtime.database
    with database.connect() as connection:
        return {row[0] for row in connection.execute(sa.select(documents.c.id).where(
            documents.c.org_id == platform.org["id"], changed_after(documents.c.change_seq, mark, database.dialect)))}


def _deleted_after(platform, mark: str) -> set[str]:
    database = platform.runtime.database
    with database.connect() as connection:
        return {row[0] for row in connection.execute(sa.select(deleted_documents.c.id).where(
            deleted_documents.c.org_id == platform.org["id"],
            changed_after(deleted_documents.c.change_seq, mark, database.dialect)))}


def test_creates_updates_and_deletes_are_after_the_mark_taken_before_them(platform):
    database = platform.runtime.database
    with database.begin() as connection:
        create_object(connection, platform.org["id"], THING)
        things = _instances(platform, connection)
        kept, changed, removed = (things.create({"c_name": name})["_id"] for name in ("kept", "changed", "removed"))
    mark = _mark(platform)
    assert _changed_after(platform, mark) == set() and _deleted_after(platform, mark) == set()
    with database.begin() as connection:
        things = _instances(platform, connection)
        things.update(changed, {"c_name": "changed again"})
        things.delete(removed)
        added = things.create({"c_name": "added"})["_id"]
    assert _changed_after(platform, mark) == {changed, added}
    assert _deleted_after(platform, mark) == {removed}
    later = _mark(platform)
    assert _changed_after(platform, later) == set() and _deleted_after(platform, later) == set()
    with database.connect() as connection:
        assert kept in {row[0] for row in connection.execute(sa.select(documents.c.id))}


def test_a_write_that_commits_after_the_mark_is_after_it_even_if_it_started_before(platform):
    """The race a ``since`` by time gets wrong: the write's ``updated`` is before the reader's
    moment, but it was not committed yet when the reader looked."""
    database = platform.runtime.database
    with database.begin() as connection:
        create_object(connection, platform.org["id"], THING)
        things = _instances(platform, connection)
        late, gone = things.create({"c_name": "late"})["_id"], things.create({"c_name": "gone"})["_id"]
    with database.engine.connect() as writer:
        transaction = writer.begin()
        things = _instances(platform, writer)
        things.update(late, {"c_name": "written before the mark, committed after"})
        things.delete(gone)
        mark = _mark(platform)  # a reader meanwhile: it sees neither change
        assert late not in _changed_after(platform, mark) and gone not in _deleted_after(platform, mark)
        transaction.commit()
    assert _changed_after(platform, mark) == {late}
    assert _deleted_after(platform, mark) == {gone}


def test_every_delete_path_leaves_a_tombstone_and_the_latest_deletion_wins(platform, monkeypatch):
    monkeypatch.setattr(bulk, "TRANSACTION_SECONDS", 0)  # every batch commits at once
    database = platform.runtime.database
    org_id = platform.org["id"]
    with database.begin() as connection:
        create_object(connection, org_id, THING)
        ids = [_instances(platform, connection).create({"c_name": f"n{number}"})["_id"] for number in range(3)]
    before = _mark(platform)
    # A bulk import that fails deletes what it had committed: those leave tombstones too.
    lines = [b'{"c_name": "imported"}', b'{"c_name": "imported too"}', b'{"c_name": 5}']
    report = import_ndjson(database, org_id, "c_thing", _admin(platform), lines, batch_size=1)
    assert not report.committed
    with database.connect() as connection:
        tombstones = dict(connection.execute(sa.select(deleted_documents.c.id, deleted_documents.c.change_seq)).all())
    assert len(tombstones) == 2
    # Re-importing an _id that was deleted, then deleting it again, keeps one tombstone, newer.
    lines = [f'{{"_id": "{ids[0]}", "c_name": "back"}}'.encode()]
    with database.begin() as connection:
        _instances(platform, connection).delete(ids[0])
    first = _mark(platform)
    assert import_ndjson(database, org_id, "c_thing", _admin(platform), lines, keep_ids=True).committed
    assert ids[0] in _changed_after(platform, first)
    with database.begin() as connection:
        _instances(platform, connection).delete(ids[0])
    assert ids[0] in _deleted_after(platform, first)
    # Deleting the object's definition deletes its instances: a tombstone each.
    with database.begin() as connection:
        delete_object(connection, org_id, "c_thing")
    assert _deleted_after(platform, before) >= set(ids)
    with database.connect() as connection:
        counted = connection.execute(sa.select(sa.func.count()).select_from(deleted_documents).where(
            deleted_documents.c.id == ids[0])).scalar_one()
    assert counted == 1


def test_tombstones_are_scoped_by_org(platform):
    database = platform.runtime.database
    other = seed_org(platform.runtime, "other")
    with database.begin() as connection:
        create_object(connection, platform.org["id"], THING)
        create_object(connection, other.org["id"], THING)
        mine = _instances(platform, connection).create({"c_name": "mine"})["_id"]
        definition = get_object(connection, other.org["id"], "c_thing")
        admin = Viewer(other.org["id"], other.admin["id"], frozenset(other.admin["roles"]))
        theirs = Instances(connection, database.dialect, other.org["id"], definition, admin).create({"c_name": "x"})
        Instances(connection, database.dialect, other.org["id"], definition, admin).delete(theirs["_id"])
    with database.connect() as connection:
        rows = connection.execute(sa.select(deleted_documents.c.org_id, deleted_documents.c.id)).all()
    assert [tuple(row) for row in rows] == [(other.org["id"], theirs["_id"])]
    assert mine not in _deleted_after(platform, "0" if database.dialect == "sqlite" else "1:1:")


def test_the_tables_module_makes_the_same_triggers_as_the_migrations(database, tmp_path):
    """Triggers are not compared by Alembic: each one's definition as the database states it."""
    with database.connect() as connection:
        migrated = _triggers(connection, None)
    assert migrated, "the migrated database has no triggers"
    if database.dialect == "sqlite":
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'from-tables.db'}")
        try:
            metadata.create_all(engine)
            with engine.connect() as connection:
                assert _triggers(connection, None) == migrated
        finally:
            engine.dispose()
        return
    schema = f"from_tables_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(database.url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
            try:
                metadata.create_all(connection.execution_options(schema_translate_map={None: schema}))
                assert _triggers(connection, schema) == migrated
            finally:
                connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        engine.dispose()


def _triggers(connection: sa.Connection, schema: str | None) -> dict[str, str]:
    if connection.dialect.name == "sqlite":
        rows = connection.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").all()
        return {str(name): re.sub(r"\s+", " ", str(sql).replace('"', "")).strip() for name, sql in rows}
    rows = connection.execute(sa.text(
        "SELECT t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT t.tgisinternal AND n.nspname = :schema"),
        {"schema": schema or "public"}).all()
    return {str(name): str(definition).replace(f" ON {schema}.", " ON ").replace(" ON public.", " ON ")
            for name, definition in rows}
