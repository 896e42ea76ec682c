"""De-identification profiles: the ``deidentification_profiles`` table.

An org's named profiles, which exports apply by name (``deidentify``). Each holds its rules and
settings as JSON, a version bumped by every change, and its HMAC key sealed with the master key.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-20
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ID = sa.String(24)
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "deidentification_profiles",
        sa.Column("id", ID, primary_key=True),
        sa.Column("org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("description", sa.String(255), nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("key_sealed", sa.LargeBinary, nullable=False),
        sa.Column("creator", ID, nullable=True),
        sa.Column("created", WHEN, nullable=False),
        sa.Column("updated", WHEN, nullable=True),
        sa.UniqueConstraint("org_id", "name", name="uq_deidentification_profiles_org_name"),
    )


def downgrade() -> None:
    op.drop_table("deidentification_profiles")
