"""The street, city and region of an order's shipping address, for return labels and pickups.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 22:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ship_line1", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("ship_line2", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("ship_city", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("ship_region", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("ship_region")
        batch_op.drop_column("ship_city")
        batch_op.drop_column("ship_line2")
        batch_op.drop_column("ship_line1")
