"""One running export per org, held by the database: a partial unique index on ``exports(org_id)``.

The queue's claim already starts at most one export of an org at a time; with this index a bug
or a race in the claim fails loudly (an integrity error) instead of running two.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

RUNNING = sa.text("state = 'running'")


def upgrade() -> None:
    op.create_index("ux_exports_one_running", "exports", ["org_id"], unique=True,
                    sqlite_where=RUNNING, postgresql_where=RUNNING)


def downgrade() -> None:
    op.drop_index("ux_exports_one_running", table_name="exports")
