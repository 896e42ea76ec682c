"""Object definitions and the documents table that holds every instance.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.String(24)
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "object_definitions",
        sa.Column("id", ID, primary_key=True),
        sa.Column("org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("plural_name", sa.String(64), nullable=False),
        sa.Column("definition", sa.JSON, nullable=False),
        sa.Column("created", WHEN, nullable=False),
        sa.Column("updated", WHEN, nullable=True),
        sa.UniqueConstraint("org_id", "name", name="uq_object_definitions_name"),
        sa.UniqueConstraint("org_id", "plural_name", name="uq_object_definitions_plural"),
    )
    op.create_table(
        "documents",
        sa.Column("org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("object", sa.String(64), primary_key=True),
        sa.Column("id", ID, primary_key=True),
        sa.Column("type", sa.String(64), nullable=True),
        sa.Column("owner", ID, nullable=True),
        sa.Column("creator", ID, nullable=True),
        sa.Column("updater", ID, nullable=True),
        sa.Column("created", WHEN, nullable=False),
        sa.Column("updated", WHEN, nullable=True),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("acl", sa.JSON, nullable=False),
        sa.Column("body", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    )
    op.create_index("ix_documents_owner", "documents", ["org_id", "object", "owner"])


def downgrade() -> None:
    op.drop_index("ix_documents_owner", table_name="documents")
    op.drop_table("documents")
    op.drop_table("object_definitions")
