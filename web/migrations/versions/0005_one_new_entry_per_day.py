"""One new control entry per establishment and day, enforced by the database.

Revision ID: 0005
Revises: 0004

Two new entries of one establishment and day sent at the same instant (two tabs) both passed the check made before
writing. Every first row of a chain gets its place among the first rows of its SIRET and day (`day_entry`: 0, 1, ...,
in the order they were recorded: entries recorded twice before keep both their rows), corrections None; a new entry is
given the count of those rows, and (siret, inspection_date, day_entry) is unique, so that of two sent at once only one
is kept. A column is added in place and filled (no row's content changes).
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("control_outcomes", sa.Column("day_entry", sa.Integer, nullable=True))
    connection = op.get_bind()
    seen: dict[tuple[str, str], int] = {}
    for row_id, siret, day in connection.execute(sa.text(
            "SELECT id, siret, inspection_date FROM control_outcomes WHERE chain_id IS NULL ORDER BY id")):
        place = seen.get((siret, str(day)), 0)
        seen[siret, str(day)] = place + 1
        connection.execute(sa.text("UPDATE control_outcomes SET day_entry = :place WHERE id = :id"),
                           {"place": place, "id": row_id})
    op.create_index("ix_control_outcomes_day_entry", "control_outcomes", ["siret", "inspection_date", "day_entry"],
                    unique=True)


def downgrade() -> None:
    op.drop_index("ix_control_outcomes_day_entry", "control_outcomes")
    op.drop_column("control_outcomes", "day_entry")
