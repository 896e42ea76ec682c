"""Master key check and signed content: the ``master_key_check`` table and ``apps.sign_content``.

``master_key_check`` holds one fingerprint of the master key (never the key), recorded on first
start, so that a process pointed at the wrong data folder refuses to start instead of sealing
new secrets under a key the existing ones do not open. ``apps.sign_content`` is the app option
that requires signed requests to sign their query and body too (off for existing apps).

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-12
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "master_key_check",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
    )
    op.add_column(
        "apps", sa.Column("sign_content", sa.Boolean, nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("sign_content")
    op.drop_table("master_key_check")
