"""Incremental and scheduled exports: change tracking of ``documents``, tombstones, export schedules.

- ``documents.change_seq`` (indexed with org and object), set by triggers on every insert and
  update: the writing transaction's id on PostgreSQL, a counter (``change_sequence``) bumped by
  each write on SQLite (see ``store/change_triggers.py``, whose SQL this copies). Rows written
  before this migration keep 0: older than any export that records a change mark.
- ``deleted_documents``: one tombstone per deleted instance, written by a trigger in the deleting
  transaction; ``deleted_documents_purged``: up to when an org's tombstones were purged.
- ``exports.changes`` (what an archive was read as of) and ``exports.schedule_id``.
- ``export_schedules``.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-14
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ID = sa.String(24)

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


def upgrade() -> None:
    op.add_column("documents", sa.Column("change_seq", sa.BigInteger, nullable=False, server_default=sa.text("0")))
    op.create_index("ix_documents_change_seq", "documents", ["org_id", "object", "change_seq"])
    op.create_table(
        "deleted_documents",
        sa.Column("org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("object", sa.String(64), primary_key=True),
        sa.Column("id", ID, primary_key=True),
        sa.Column("deleted", sa.DateTime(timezone=True), nullable=False),
        sa.Column("change_seq", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_deleted_documents_change_seq", "deleted_documents", ["org_id", "object", "change_seq"])
    op.create_index("ix_deleted_documents_deleted", "deleted_documents", ["deleted"])
    op.create_table(
        "deleted_documents_purged",
        sa.Column("org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("purged_before", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "change_sequence",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    op.add_column("exports", sa.Column("changes", sa.JSON, nullable=True))
    op.add_column("exports", sa.Column("schedule_id", ID, nullable=True))
    op.create_index("ix_exports_schedule", "exports", ["org_id", "schedule_id", "created"])
    op.create_table(
        "export_schedules",
        sa.Column("id", ID, primary_key=True),
        sa.Column("org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("cron", sa.String(120), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("template", sa.JSON, nullable=False),
        sa.Column("retention", sa.Integer, nullable=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("next_run", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_run", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_export", ID, nullable=True),
        sa.Column("last_fault", sa.JSON, nullable=True),
        sa.Column("creator", ID, nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("org_id", "name", name="uq_export_schedules_name"),
    )
    op.create_index("ix_export_schedules_due", "export_schedules", ["enabled", "next_run"])
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRESQL_TRIGGERS:
            op.execute(statement)
    else:
        op.execute("INSERT INTO change_sequence (id, value) VALUES (1, 0)")
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS tr_documents_deleted" +
               (" ON documents" if op.get_bind().dialect.name == "postgresql" else ""))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS tr_documents_changed ON documents")
        op.execute("DROP FUNCTION IF EXISTS documents_keep_tombstones()")
        op.execute("DROP FUNCTION IF EXISTS documents_stamp_change()")
    else:
        op.execute("DROP TRIGGER IF EXISTS tr_documents_inserted")
        op.execute("DROP TRIGGER IF EXISTS tr_documents_updated")
    op.drop_index("ix_export_schedules_due", table_name="export_schedules")
    op.drop_table("export_schedules")
    op.drop_index("ix_exports_schedule", table_name="exports")
    with op.batch_alter_table("exports") as batch:
        batch.drop_column("schedule_id")
        batch.drop_column("changes")
    op.drop_table("change_sequence")
    op.drop_table("deleted_documents_purged")
    op.drop_index("ix_deleted_documents_deleted", table_name="deleted_documents")
    op.drop_index("ix_deleted_documents_change_seq", table_name="deleted_documents")
    op.drop_table("deleted_documents")
    op.drop_index("ix_documents_change_seq", table_name="documents")
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("change_seq")
