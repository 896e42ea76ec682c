"""Export jobs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.String(24)
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "exports",
        sa.Column("id", ID, primary_key=True),
        sa.Column("org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("description", sa.String(255), nullable=True),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("creator", ID, nullable=False),
        sa.Column("owner", ID, nullable=False),
        sa.Column("created", WHEN, nullable=False),
        sa.Column("updated", WHEN, nullable=True),
        sa.Column("started", WHEN, nullable=True),
        sa.Column("completed", WHEN, nullable=True),
        sa.Column("expires_at", WHEN, nullable=True),
        sa.Column("stats", sa.JSON, nullable=False),
        sa.Column("progress", sa.JSON, nullable=True),
        sa.Column("events", sa.JSON, nullable=False),
        sa.Column("fault", sa.JSON, nullable=True),
        sa.Column("data_file", sa.JSON, nullable=True),
        sa.Column("files", sa.JSON, nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_expires", WHEN, nullable=True),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
    )
    op.create_index("ix_exports_queue", "exports", ["org_id", "state", "created"])
    op.create_index("ix_exports_state", "exports", ["state", "lease_expires"])
    op.create_index("ix_exports_expiry", "exports", ["expires_at"])


def downgrade() -> None:
    op.drop_table("exports")
