"""The schema, as SQLAlchemy Core tables. Alembic migrations create and change it.

Every org-owned table has an ``org_id`` column, and every query on it is scoped by org.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.expression import false

from opencortex.store.change_triggers import attach_change_triggers

metadata = MetaData()

# Instance bodies are JSON: JSONB on PostgreSQL (indexable), JSON text on SQLite.
DOCUMENT_JSON = JSON().with_variant(JSONB(), "postgresql")

ID = String(24)

orgs = Table(
    "orgs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("code", String(40), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("state", String(20), nullable=False, default="enabled"),
    Column("settings", JSON, nullable=False, default=dict),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("updated", DateTime(timezone=True), nullable=True),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("org_id", ID, ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("email", String(254), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("name_first", String(100), nullable=False, default=""),
    Column("name_last", String(100), nullable=False, default=""),
    Column("roles", JSON, nullable=False, default=list),
    Column("state", String(20), nullable=False, default="verified"),
    Column("locked", Boolean, nullable=False, default=False),
    Column("last_login", DateTime(timezone=True), nullable=True),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("updated", DateTime(timezone=True), nullable=True),
    UniqueConstraint("org_id", "email", name="uq_accounts_org_email"),
)

apps = Table(
    "apps",
    metadata,
    Column("id", ID, primary_key=True),
    Column("org_id", ID, ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("key", String(22), nullable=False, unique=True),
    Column("secret_sealed", LargeBinary, nullable=True),
    Column("signing_key_sealed", LargeBinary, nullable=False),  # RSA private key (PEM) for JWTs
    Column("sessions", Boolean, nullable=False, default=True),
    Column("csrf", Boolean, nullable=False, default=True),
    Column("principal_override", Boolean, nullable=False, default=False),
    Column("principal_id", ID, nullable=True),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("auth_duration", Integer, nullable=False, default=900),
    Column("created", DateTime(timezone=True), nullable=False),
    # Signed requests must also sign their query and body (docs/api.md, "Signed content").
    Column("sign_content", Boolean, nullable=False, default=False, server_default=false()),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),  # sha256 of the cookie value
    Column("org_id", ID, ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("account_id", ID, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("app_id", ID, ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", String(64), nullable=True),
    Column("fingerprint", String(64), nullable=True),
    Column("auth_duration", Integer, nullable=False),
    Column("expires", DateTime(timezone=True), nullable=False),
    Column("ended", String(20), nullable=True),  # why it ended: logout | elsewhere
    Column("created", DateTime(timezone=True), nullable=False),
)

request_nonces = Table(
    "request_nonces",
    metadata,
    Column("app_id", ID, ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True),
    Column("nonce", String(16), primary_key=True),
    Column("seen_at", DateTime(timezone=True), nullable=False, index=True),
)

# Failed logins are counted per (org, email) whether or not the account exists, so that a
# wrong email and a wrong password behave the same, lockout included.
login_throttle = Table(
    "login_throttle",
    metadata,
    Column("org_id", ID, ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True),
    Column("email", String(254), primary_key=True),
    Column("failures", Integer, nullable=False, default=0),
    Column("locked_until", DateTime(timezone=True), nullable=True),
)

# One row: a fingerprint of the master key the database's sealed secrets were made with, so that
# a process started with another key (a wrong data folder) stops before writing anything.
master_key_check = Table(
    "master_key_check",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1
    Column("key_id", String(64), nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
)

object_definitions = Table(
    "object_definitions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("org_id", ID, ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("plural_name", String(64), nullable=False),
    Column("definition", JSON, nullable=False),  # the whole definition document
    Column("created", DateTime(timezone=True), nullable=False),
    Column("updated", DateTime(timezone=True), nullable=True),
    UniqueConstraint("org_id", "name", name="uq_object_definitions_name"),
    UniqueConstraint("org_id", "plural_name", name="uq_object_definitions_plural"),
)

# Every instance of every custom object. System properties the queries touch are columns;
# the rest of the instance is the JSON body. (org_id, object, id) is the keyset for paging.
documents = Table(
    "documents",
    metadata,
    Column("org_id", ID, ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True),
    Column("object", String(64), primary_key=True),
    Column("id", ID, primary_key=True),
    Column("type", String(64), nullable=True),
    Column("owner", ID, nullable=True),
    Column("creator", ID, nullable=True),
    Column("updater", ID, nullable=True),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("updated", DateTime(timezone=True), nullable=True),
    Column("sequence", BigInteger, nullable=False, default=0),
    Column("acl", JSON, nullable=False, default=list),
    Column("body", DOCUMENT_JSON, nullable=False),
    # Set by the database on every insert and update (store/change_triggers.py, migration 0010):
    # what "changed since an export" means for incremental exports.
    Column("change_seq", BigInteger, nullable=False, server_default=text("0")),
    Index("ix_documents_owner", "org_id", "object", "owner"),
    Index("ix_documents_change_seq", "org_id", "object", "change_seq"),
)
attach_change_triggers(documents)

# A tombstone per deleted instance (the latest deletion of each ``_id``), written by the
# database in the deleting transaction; an incremental export lists those deleted since its base
# (``deleted.ndjson``). Purged after ``OPENCORTEX_TOMBSTONE_DAYS``, never while an export that
# could be a base needs them; ``deleted_documents_purged`` says up to when an org's are gone.
deleted_documents = Table(
    "deleted_documents",
    metadata,
    Column("org_id", ID, ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True),
    Column("object", String(64), primary_key=True),
    Column("id", ID, primary_key=True),
    Column("deleted", DateTime(timezone=True), nullable=False),
    Column("change_seq", BigInteger, nullable=False),
    Index("ix_deleted_documents_change_seq", "org_id", "object", "change_seq"),
    Index("ix_deleted_documents_deleted", "deleted"),
)

deleted_documents_purged = Table(
    "deleted_documents_purged",
    metadata,
    Column("org_id", ID, ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True),
    Column("purged_before", DateTime(timezone=True), nullable=False),  # tombstones deleted before it are gone
)

# SQLite only (one row, id 1): the change counter its triggers bump. PostgreSQL stamps rows with
# transaction ids instead and leaves this table empty.
change_sequence = Table(
    "change_sequence",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("value", BigInteger, nullable=False),
)

# Export jobs. The record is the job: its state is what the API shows, and the lease columns
# are how a worker holds it (a job whose lease runs out is taken again from the start).
exports = Table(
    "exports",
    metadata,
    Column("id", ID, primary_key=True),
    Column("org_id", ID, ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
    Column("state", String(16), nullable=False),  # pending | running | ready | error
    Column("label", String(100), nullable=False),
    Column("description", String(255), nullable=True),
    Column("params", JSON, nullable=False),  # what to export: objects, format, paths, where, ...
    Column("creator", ID, nullable=False),
    Column("owner", ID, nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("updated", DateTime(timezone=True), nullable=True),
    Column("started", DateTime(timezone=True), nullable=True),
    Column("completed", DateTime(timezone=True), nullable=True),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("stats", JSON, nullable=False),
    Column("progress", JSON, nullable=True),
    Column("events", JSON, nullable=False),
    Column("fault", JSON, nullable=True),
    Column("data_file", JSON, nullable=True),  # the archive's facet
    Column("files", JSON, nullable=True),  # facets of files stored beside the archive
    Column("sha256", String(64), nullable=True),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_expires", DateTime(timezone=True), nullable=True),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("sequence", Integer, nullable=False, default=0),
    # What the archive was read as of (exports.incremental): the change mark, time and object
    # definition an incremental export with ``since`` = this export starts from (migration 0010).
    Column("changes", JSON, nullable=True),
    Column("schedule_id", ID, nullable=True),  # the export schedule that created it
    Index("ix_exports_queue", "org_id", "state", "created"),
    Index("ix_exports_schedule", "org_id", "schedule_id", "created"),
    Index("ix_exports_state", "state", "lease_expires"),
    Index("ix_exports_expiry", "expires_at"),
    # One running export per org, held by the database itself (migration 0006).
    Index("ux_exports_one_running", "org_id", unique=True,
          sqlite_where=text("state = 'running'"), postgresql_where=text("state = 'running'")),
)

# Export schedules (migration 0010): an export template run at the ticks of a cron expression,
# once per tick whatever the number of workers (the run moves ``next_run`` on, compare-and-set).
export_schedules = Table(
    "export_schedules",
    metadata,
    Column("id", ID, primary_key=True),
    Column("org_id", ID, ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("cron", String(120), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("template", JSON, nullable=False),  # a POST /exports body
    Column("retention", Integer, nullable=True),  # ready exports of the schedule to keep; None: all
    Column("enabled", Boolean, nullable=False),
    Column("next_run", DateTime(timezone=True), nullable=True),  # None while disabled
    Column("last_run", DateTime(timezone=True), nullable=True),
    Column("last_export", ID, nullable=True),
    Column("last_fault", JSON, nullable=True),  # why the last tick created no export
    Column("creator", ID, nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("updated", DateTime(timezone=True), nullable=True),
    UniqueConstraint("org_id", "name", name="uq_export_schedules_name"),
    Index("ix_export_schedules_due", "enabled", "next_run"),
)

# Files (migration 0003). Every byte an org stores (uploads, export archives) has one row in
# ``stored_files``; the org's usage is the exact sum of ``size`` (plaintext bytes). ``owner_*``
# name what the bytes belong to, so deleting that thing releases them.
stored_files = Table(
    "stored_files",
    metadata,
    Column("org_id", ID, ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(1024), primary_key=True),  # the file store key
    Column("size", BigInteger, nullable=False),
    Column("kind", String(20), nullable=False),  # upload | export
    Column("created", DateTime(timezone=True), nullable=False),
    Column("owner_object", String(64), nullable=True),
    Column("owner_id", ID, nullable=True),  # the instance (or export) _id
    Column("owner_property", String(200), nullable=True),
    Column("owner_facet", String(64), nullable=True),
    Index("ix_stored_files_owner", "org_id", "owner_object", "owner_id"),
)

# Upload targets handed out in ``uploads[]``: single use, expiring, the token kept only hashed.
upload_targets = Table(
    "upload_targets",
    metadata,
    Column("token_hash", String(64), primary_key=True),  # sha256 hex of the token
    Column("org_id", ID, ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("object", String(64), nullable=False),
    Column("instance_id", ID, nullable=False),
    Column("property", String(200), nullable=False),
    Column("facet", String(64), nullable=False),
    Column("storage_id", ID, nullable=False),  # the pending facet's storageId
    Column("filename", String(255), nullable=False),
    Column("mime", String(255), nullable=False),
    Column("max_size", BigInteger, nullable=False),
    Column("principal", ID, nullable=False),  # who wrote the filename; the upload acts as them
    Column("created", DateTime(timezone=True), nullable=False),
    Column("expires", DateTime(timezone=True), nullable=False),
    Column("used", DateTime(timezone=True), nullable=True),
)

# A generic audit trail: who did what to which resource, when.
audit = Table(
    "audit",
    metadata,
    Column("id", ID, primary_key=True),
    Column("org_id", ID, ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
    Column("time", DateTime(timezone=True), nullable=False),
    Column("principal", ID, nullable=True),
    Column("action", String(64), nullable=False),  # e.g. file.download.signed
    Column("resource", String(1024), nullable=False),  # e.g. /c_patients/<id>/c_photo/content
    Column("details", JSON, nullable=True),
    Index("ix_audit_org_time", "org_id", "time"),
)

# Logs (migration 0005): what scripts log, and what went wrong in background jobs, in the Cortex
# Logs object's short field names (cortex-api.md section 4.4). ``exp`` is when a record is purged.
logs = Table(
    "logs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("org_id", ID, ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
    Column("req", ID, nullable=True),  # request id
    Column("pid", ID, nullable=True),  # principal
    Column("oid", ID, nullable=True),  # original principal
    Column("beg", DateTime(timezone=True), nullable=True),
    Column("end", DateTime(timezone=True), nullable=True),
    # 0 logger, 1 api, 2 script, 3 request, 4 audit, 5 deployment, 6 export
    Column("src", Integer, nullable=False),
    Column("src_id", ID, nullable=True),  # what the source is, e.g. the export's _id
    Column("lvl", Integer, nullable=False),  # 0 error, 1 warn, 2 info, 3 debug, 4 trace
    Column("sts", Integer, nullable=True),  # HTTP status (of the fault, for errors)
    Column("dat", JSON, nullable=True),  # JSON, not JSONB: PostgreSQL's JSONB refuses "\u0000"
    Column("err", JSON, nullable=True),
    Column("trc", JSON, nullable=True),
    Column("exp", DateTime(timezone=True), nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Index("ix_logs_org_id", "org_id", "id"),
    Index("ix_logs_org_created", "org_id", "created", "id"),
    Index("ix_logs_org_source", "org_id", "src_id", "id"),
    Index("ix_logs_expiry", "exp"),
)

# De-identification profiles (migration 0009): named per org, applied by exports that name them
# (``deidentify``). ``settings`` holds the rules, the date-shift range and the hash length;
# ``key_sealed`` the profile's HMAC key sealed with the master key, which no route returns.
# ``version`` is bumped by every change.
deidentification_profiles = Table(
    "deidentification_profiles",
    metadata,
    Column("id", ID, primary_key=True),
    Column("org_id", ID, ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("description", String(255), nullable=True),
    Column("version", Integer, nullable=False),
    Column("settings", JSON, nullable=False),
    Column("key_sealed", LargeBinary, nullable=False),
    Column("creator", ID, nullable=True),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("updated", DateTime(timezone=True), nullable=True),
    UniqueConstraint("org_id", "name", name="uq_deidentification_profiles_org_name"),
)
