"""The schema, as SQLAlchemy Core tables. Alembic migrations create and change it.

Every org-owned table has an ``org_id`` column, and every query on it is scoped by org.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Index,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

from sqlalchemy.dialects.postgresql import JSONB

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
    Index("ix_documents_owner", "org_id", "object", "owner"),
)
