"""The database's own record of every change to ``documents``: triggers that stamp each written row
with a change sequence number (``documents.change_seq``) and keep a tombstone
(``deleted_documents``) for each deleted one, in the writing transaction.

They are triggers so that no write path can forget them: API writes, PATCH, uploads' body writes,
the bulk import (``COPY`` and ``executemany`` alike), an object definition's deletion and any
path added later. What the numbers mean, and why they differ by database:

- **PostgreSQL**: the writing transaction's id (``pg_current_xact_id()``, 64 bits, never wraps).
  An export records the snapshot it read as of (``pg_current_snapshot()``); a row changed after
  that snapshot is exactly one whose transaction id the snapshot does not see
  (``pg_visible_in_snapshot``), whatever the order in which transactions committed. Writers
  share no counter, so nothing is serialised.
- **SQLite**: one writer at a time holds the database from its first write to its commit, so a
  counter (``change_sequence``, one row) bumped by each write is in commit order; an export
  records the counter as its read transaction sees it. Rows that arrive with a stamp already
  (``change_seq`` not 0) keep it, so a writer may stamp a whole batch with one number.

``exports.incremental`` turns a recorded mark into "changed after it" (``store.changes``).
The same SQL is in migration 0010; ``tests/instances/test_change_tracking.py`` checks that a
migrated database and one made from ``store.tables`` hold the same triggers.
"""

from __future__ import annotations

from sqlalchemy import DDL, Table, event

# For a SQLite writer that stamps rows itself (the bulk import, a batch at a time): bump the
# counter once, then give each row ``SQLITE_CURRENT_STAMP`` as its ``change_seq``.
SQLITE_BUMP_STAMP = (
    "INSERT INTO change_sequence (id, value) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET value = value + 1"
)
SQLITE_CURRENT_STAMP = "(SELECT value FROM change_sequence WHERE id = 1)"
SQLITE_TRIGGERS = (
    """CREATE TRIGGER tr_documents_inserted AFTER INSERT ON documents WHEN NEW.change_seq = 0
BEGIN
  INSERT INTO change_sequence (id, value) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET value = value + 1;
  UPDATE documents SET change_seq = (SELECT value FROM change_sequence WHERE id = 1) WHERE rowid = NEW.rowid;
END""",
    """CREATE TRIGGER tr_documents_updated
AFTER UPDATE OF org_id, object, id, type, owner, creator, updater, created, updated, sequence, acl, body ON documents
BEGIN
  INSERT INTO change_sequence (id, value) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET value = value + 1;
  UPDATE documents SET change_seq = (SELECT value FROM change_sequence WHERE id = 1) WHERE rowid = NEW.rowid;
END""",
    """CREATE TRIGGER tr_documents_deleted AFTER DELETE ON documents
BEGIN
  INSERT INTO change_sequence (id, value) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET value = value + 1;
  INSERT INTO deleted_documents (org_id, object, id, deleted, change_seq)
  SELECT OLD.org_id, OLD.object, OLD.id, strftime('%Y-%m-%d %H:%M:%f', 'now'), value
  FROM change_sequence WHERE id = 1 AND EXISTS (SELECT 1 FROM orgs WHERE orgs.id = OLD.org_id)
  ON CONFLICT (org_id, object, id) DO UPDATE SET deleted = excluded.deleted, change_seq = excluded.change_seq;
END""",
)
POSTGRESQL_TRIGGERS = (
    """CREATE OR REPLACE FUNCTION documents_stamp_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.change_seq := pg_current_xact_id()::text::bigint;
  RETURN NEW;
END
$$""",
    """CREATE TRIGGER tr_documents_changed BEFORE INSERT OR UPDATE ON documents
FOR EACH ROW EXECUTE FUNCTION documents_stamp_change()""",
    # A statement's deleted rows at once (a transition table): deleting an object's definition
    # deletes its instances in one statement. Rows of an org being deleted leave no tombstone.
    """CREATE OR REPLACE FUNCTION documents_keep_tombstones() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO deleted_documents (org_id, object, id, deleted, change_seq)
  SELECT gone.org_id, gone.object, gone.id, clock_timestamp(), pg_current_xact_id()::text::bigint
  FROM gone WHERE EXISTS (SELECT 1 FROM orgs WHERE orgs.id = gone.org_id)
  ON CONFLICT (org_id, object, id) DO UPDATE SET deleted = EXCLUDED.deleted, change_seq = EXCLUDED.change_seq;
  RETURN NULL;
END
$$""",
    """CREATE TRIGGER tr_documents_deleted AFTER DELETE ON documents
REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION documents_keep_tombstones()""",
)
TRIGGER_NAMES = ("tr_documents_inserted", "tr_documents_updated", "tr_documents_changed", "tr_documents_deleted")


def attach_change_triggers(documents: Table) -> None:
    """Create the triggers whenever ``documents`` is created from the tables module (the
    migrations create them themselves)."""
    for dialect, statements in (("sqlite", SQLITE_TRIGGERS), ("postgresql", POSTGRESQL_TRIGGERS)):
        for statement in statements:
            # ``DDL`` formats its text with ``%`` (a literal one is written twice); the table is
            # named as created (in the schema it was created in).
            text = statement.replace("%", "%%").replace(" ON documents", " ON %(fullname)s")
            event.listen(documents, "after_create", DDL(text).execute_if(dialect=dialect))
