"""Entries of one establishment are written one after the other.

Revision ID: 0008
Revises: 0007

A correction moved onto a day and a new entry of that day, sent at the same instant, both passed the checks made
before writing: the unique indexes of 0005 tell apart two new entries, not a correction from a new entry. Each entry
now first writes its establishment's row of `outcome_guards` (`web.database.record_outcome`), which a second entry
waits for until the first is committed; it is then checked against the first.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("outcome_guards", sa.Column("siret", sa.String(14), primary_key=True),
                    sa.Column("sent", sa.Integer, nullable=False))


def downgrade() -> None:
    op.drop_table("outcome_guards")
