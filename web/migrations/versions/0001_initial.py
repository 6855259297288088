"""Users, control outcomes, sign-in attempts, access log.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("login", sa.String(200), nullable=False, unique=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("region_code", sa.String(3), nullable=True),
        sa.Column("password_hash", sa.String(200), nullable=True),
        sa.Column("oidc_subject", sa.String(255), nullable=True, unique=True),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "control_outcomes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("siret", sa.String(14), nullable=False, index=True),
        sa.Column("region_code", sa.String(3), nullable=False),
        sa.Column("list_month", sa.Date, nullable=False),
        sa.Column("exploration", sa.Boolean, nullable=False),
        sa.Column("inspection_date", sa.Date, nullable=False),
        sa.Column("abuse_found", sa.Boolean, nullable=False),
        sa.Column("confirmed_rules", sa.String(200), nullable=False),
        sa.Column("follow_up", sa.String(20), nullable=False),
        sa.Column("author_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
        sa.Column("corrects_id", sa.Integer, sa.ForeignKey("control_outcomes.id"), nullable=True),
    )
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("login", sa.String(200), nullable=False, index=True),
        sa.Column("address", sa.String(64), nullable=False, index=True),
        sa.Column("succeeded", sa.Boolean, nullable=False),
        sa.Column("at", sa.DateTime, nullable=False, index=True),
    )
    op.create_table(
        "access_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("siret", sa.String(14), nullable=False, index=True),
        sa.Column("list_month", sa.Date, nullable=False),
        sa.Column("what", sa.String(40), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    for table in ("access_log", "login_attempts", "control_outcomes", "users"):
        op.drop_table(table)
