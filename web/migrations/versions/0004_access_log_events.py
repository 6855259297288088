"""The access log records downloads, recorded controls and refusals: the region concerned, whether it was granted, and
no SIRET for a list's events.

Revision ID: 0004
Revises: 0003

Rows written before were establishment pages opened: granted, their region unknown (None). On SQLite the table is
copied to make `siret` nullable (nothing refers to the access log, so the copy keeps every foreign key whole).
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("access_log") as batch:
        batch.alter_column("siret", existing_type=sa.String(14), nullable=True)
        batch.add_column(sa.Column("region_code", sa.String(3), nullable=True))
        batch.add_column(sa.Column("granted", sa.Boolean, nullable=False, server_default=sa.true()))


def downgrade() -> None:
    # The list events (no SIRET) and the refusals have no row in the older log: kept, a refusal would read as a page
    # opened.
    op.execute("DELETE FROM access_log WHERE siret IS NULL OR NOT granted")
    with op.batch_alter_table("access_log") as batch:
        batch.drop_column("granted")
        batch.drop_column("region_code")
        batch.alter_column("siret", existing_type=sa.String(14), nullable=False)
