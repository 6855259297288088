"""The access log keeps the refusals of a page of another role: the aggregates, the models, the audit, the log itself.

Revision ID: 0007
Revises: 0006

Those pages belong to no region's list: their rows have no region and, but for the aggregates of a month, no month.
On SQLite the table is copied to make `list_month` nullable (nothing refers to the access log).
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("access_log") as batch:
        batch.alter_column("list_month", existing_type=sa.Date, nullable=True)


def downgrade() -> None:
    # The older log has no row without a month: those refusals are not kept.
    op.execute("DELETE FROM access_log WHERE list_month IS NULL")
    with op.batch_alter_table("access_log") as batch:
        batch.alter_column("list_month", existing_type=sa.Date, nullable=False)
