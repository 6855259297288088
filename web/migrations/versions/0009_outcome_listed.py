"""Whether a control's line was on the list it was recorded from.

Revision ID: 0009
Revises: 0008

The evaluators' summary counted a control as of the list by the month's list as it is now: when the month was scored
again, a control recorded from a line of the list before (an exploration draw, most often) was no longer counted. Each
entry now keeps whether its line was on the list it was opened from (`listed`), as it kept whether the line was an
exploration draw. Entries recorded before are NULL: one drawn for exploration was on its list (an exploration line
always is); for the others the month's list as it is now decides, as before (`web.app._aggregate`).
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("control_outcomes", sa.Column("listed", sa.Boolean, nullable=True))


def downgrade() -> None:
    op.drop_column("control_outcomes", "listed")
