"""Platform foundation: orgs, accounts, apps, sessions, login throttle, request nonces.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.String(24)
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "orgs",
        sa.Column("id", ID, primary_key=True),
        sa.Column("code", sa.String(40), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("created", WHEN, nullable=False),
        sa.Column("updated", WHEN, nullable=True),
    )
    op.create_table(
        "accounts",
        sa.Column("id", ID, primary_key=True),
        sa.Column("org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("name_first", sa.String(100), nullable=False),
        sa.Column("name_last", sa.String(100), nullable=False),
        sa.Column("roles", sa.JSON, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("locked", sa.Boolean, nullable=False),
        sa.Column("last_login", WHEN, nullable=True),
        sa.Column("created", WHEN, nullable=False),
        sa.Column("updated", WHEN, nullable=True),
        sa.UniqueConstraint("org_id", "email", name="uq_accounts_org_email"),
    )
    op.create_table(
        "apps",
        sa.Column("id", ID, primary_key=True),
        sa.Column("org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("key", sa.String(22), nullable=False, unique=True),
        sa.Column("secret_sealed", sa.LargeBinary, nullable=True),
        sa.Column("signing_key_sealed", sa.LargeBinary, nullable=False),
        sa.Column("sessions", sa.Boolean, nullable=False),
        sa.Column("csrf", sa.Boolean, nullable=False),
        sa.Column("principal_override", sa.Boolean, nullable=False),
        sa.Column("principal_id", ID, nullable=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("auth_duration", sa.Integer, nullable=False),
        sa.Column("created", WHEN, nullable=False),
    )
    op.create_table(
        "sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("account_id", ID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("app_id", ID, sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=True),
        sa.Column("fingerprint", sa.String(64), nullable=True),
        sa.Column("auth_duration", sa.Integer, nullable=False),
        sa.Column("expires", WHEN, nullable=False),
        sa.Column("ended", sa.String(20), nullable=True),
        sa.Column("created", WHEN, nullable=False),
    )
    op.create_table(
        "login_throttle",
        sa.Column("org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("email", sa.String(254), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("locked_until", WHEN, nullable=True),
    )
    op.create_table(
        "request_nonces",
        sa.Column("app_id", ID, sa.ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("nonce", sa.String(16), primary_key=True),
        sa.Column("seen_at", WHEN, nullable=False, index=True),
    )


def downgrade() -> None:
    for table in ("request_nonces", "login_throttle", "sessions", "apps", "accounts", "orgs"):
        op.drop_table(table)
