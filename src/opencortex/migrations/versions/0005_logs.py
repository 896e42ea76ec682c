"""Logs: script logger output and background-job errors, in the Cortex Logs object's fields.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.String(24)
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "logs",
        sa.Column("id", ID, primary_key=True),
        sa.Column("org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("req", ID, nullable=True),
        sa.Column("pid", ID, nullable=True),
        sa.Column("oid", ID, nullable=True),
        sa.Column("beg", WHEN, nullable=True),
        sa.Column("end", WHEN, nullable=True),
        sa.Column("src", sa.Integer, nullable=False),
        sa.Column("src_id", ID, nullable=True),
        sa.Column("lvl", sa.Integer, nullable=False),
        sa.Column("sts", sa.Integer, nullable=True),
        sa.Column("dat", sa.JSON, nullable=True),
        sa.Column("err", sa.JSON, nullable=True),
        sa.Column("trc", sa.JSON, nullable=True),
        sa.Column("exp", WHEN, nullable=False),
        sa.Column("created", WHEN, nullable=False),
    )
    op.create_index("ix_logs_org_id", "logs", ["org_id", "id"])
    op.create_index("ix_logs_org_created", "logs", ["org_id", "created", "id"])
    op.create_index("ix_logs_org_source", "logs", ["org_id", "src_id", "id"])
    op.create_index("ix_logs_expiry", "logs", ["exp"])


def downgrade() -> None:
    op.drop_table("logs")
