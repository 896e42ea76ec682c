"""Files: stored-bytes accounting per org, upload targets, and the audit trail.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.String(24)
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "stored_files",
        sa.Column("org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("key", sa.String(1024), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("created", WHEN, nullable=False),
        sa.Column("owner_object", sa.String(64), nullable=True),
        sa.Column("owner_id", ID, nullable=True),
        sa.Column("owner_property", sa.String(200), nullable=True),
        sa.Column("owner_facet", sa.String(64), nullable=True),
    )
    op.create_index("ix_stored_files_owner", "stored_files", ["org_id", "owner_object", "owner_id"])
    op.create_table(
        "upload_targets",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("object", sa.String(64), nullable=False),
        sa.Column("instance_id", ID, nullable=False),
        sa.Column("property", sa.String(200), nullable=False),
        sa.Column("facet", sa.String(64), nullable=False),
        sa.Column("storage_id", ID, nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("mime", sa.String(255), nullable=False),
        sa.Column("max_size", sa.BigInteger, nullable=False),
        sa.Column("principal", ID, nullable=False),
        sa.Column("created", WHEN, nullable=False),
        sa.Column("expires", WHEN, nullable=False),
        sa.Column("used", WHEN, nullable=True),
    )
    op.create_index("ix_upload_targets_org_id", "upload_targets", ["org_id"])
    op.create_table(
        "audit",
        sa.Column("id", ID, primary_key=True),
        sa.Column("org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("time", WHEN, nullable=False),
        sa.Column("principal", ID, nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("resource", sa.String(1024), nullable=False),
        sa.Column("details", sa.JSON, nullable=True),
    )
    op.create_index("ix_audit_org_time", "audit", ["org_id", "time"])


def downgrade() -> None:
    op.drop_index("ix_audit_org_time", table_name="audit")
    op.drop_table("audit")
    op.drop_index("ix_upload_targets_org_id", table_name="upload_targets")
    op.drop_table("upload_targets")
    op.drop_index("ix_stored_files_owner", table_name="stored_files")
    op.drop_table("stored_files")
