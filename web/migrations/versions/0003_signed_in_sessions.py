"""Signed-in sessions kept server side, so that signing out ends them.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signed_in_sessions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_signed_in_sessions_token_hash", "signed_in_sessions", ["token_hash"], unique=True)
    op.create_index("ix_signed_in_sessions_user_id", "signed_in_sessions", ["user_id"])


def downgrade() -> None:
    op.drop_table("signed_in_sessions")
