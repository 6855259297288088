"""The access log looked up by reader and time.

Revision ID: 0006
Revises: 0005

A list read is logged once a day per account, list and region: each read looks for that day's row of its reader. The
index on (user_id, at) keeps that lookup from reading the whole log, which grows by every page an agent opens.
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_access_log_user_at", "access_log", ["user_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_access_log_user_at", "access_log")
