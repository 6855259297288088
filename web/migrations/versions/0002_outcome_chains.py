"""Control outcomes in chains (one current row per control) and one-time form tokens.

Revision ID: 0002
Revises: 0001

Every row gets the first row of its chain (`chain_id`, None for a first row) and its place in it (`revision`),
following `corrects_id`. Rows recorded before, when two corrections of the same row could both be kept (two tabs),
are put in the order they were recorded: the one recorded last is the control's outcome, the other stays as a row
it replaced. No row's content changes. Columns are added in place (no batch copy of the table: on SQLite, with
foreign keys on, dropping the old table fails as soon as a row corrects another).
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("control_outcomes", sa.Column("chain_id", sa.Integer, nullable=True))
    op.add_column("control_outcomes", sa.Column("revision", sa.Integer, nullable=False, server_default="0"))
    op.add_column("control_outcomes", sa.Column("form_token", sa.String(64), nullable=True))
    connection = op.get_bind()
    first: dict[int, int] = {}
    chains: dict[int, list[int]] = {}
    for row_id, corrects_id in connection.execute(sa.text("SELECT id, corrects_id FROM control_outcomes ORDER BY id")):
        first[row_id] = first.get(corrects_id, corrects_id) if corrects_id is not None else row_id
        chains.setdefault(first[row_id], []).append(row_id)
    for chain, rows in chains.items():
        for place, row_id in enumerate(rows[1:], start=1):
            connection.execute(sa.text("UPDATE control_outcomes SET chain_id = :chain, revision = :place WHERE id = :id"),
                               {"chain": chain, "place": place, "id": row_id})
    op.create_index("ix_control_outcomes_chain_revision", "control_outcomes", ["chain_id", "revision"], unique=True)
    op.create_index("ix_control_outcomes_form_token", "control_outcomes", ["form_token"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_control_outcomes_form_token", "control_outcomes")
    op.drop_index("ix_control_outcomes_chain_revision", "control_outcomes")
    for column in ("form_token", "revision", "chain_id"):
        op.drop_column("control_outcomes", column)
