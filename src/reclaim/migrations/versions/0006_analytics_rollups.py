"""The analytics rollups (return facts; return, cohort, sales and order days; the refresh
cursor).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 17:33:25.173339
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import reclaim.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analytics_cohort_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("returned_units", reclaim.db.BigId, nullable=False),
        sa.Column("stamp", reclaim.db.BigId, nullable=False),
        sa.PrimaryKeyConstraint(
            "day", "currency", "sku", "category", "reason", name=op.f("pk_analytics_cohort_days")
        ),
    )
    op.create_table(
        "analytics_cursors",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("position", reclaim.db.BigId, nullable=False, server_default="0"),
        sa.Column("safe_position", reclaim.db.BigId, nullable=False, server_default="0"),
        sa.Column("marked_at", reclaim.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("refreshed_at", reclaim.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("stamp", reclaim.db.BigId, nullable=False, server_default="0"),
        sa.CheckConstraint(
            "safe_position <= position", name=op.f("ck_analytics_cursors_safe_position_behind")
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_analytics_cursors")),
    )
    op.create_table(
        "analytics_order_days",
        sa.Column("order_id", reclaim.db.BigId, autoincrement=False, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("updated_at", reclaim.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_analytics_order_days")),
    )
    op.create_table(
        "analytics_return_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("facility", sa.String(length=32), nullable=False),
        sa.Column("lines", reclaim.db.BigId, nullable=False),
        sa.Column("units", reclaim.db.BigId, nullable=False),
        sa.Column("returned_units", reclaim.db.BigId, nullable=False),
        sa.Column("returns", sa.Float(), nullable=False),
        sa.Column("approved", sa.Float(), nullable=False),
        sa.Column("returnless", sa.Float(), nullable=False),
        sa.Column("needs_sending", sa.Float(), nullable=False),
        sa.Column("expired", sa.Float(), nullable=False),
        sa.Column("received", sa.Float(), nullable=False),
        sa.Column("received_units", reclaim.db.BigId, nullable=False),
        sa.Column("graded_units", reclaim.db.BigId, nullable=False),
        sa.Column("sellable_units", reclaim.db.BigId, nullable=False),
        sa.Column("dispositioned_units", reclaim.db.BigId, nullable=False),
        sa.Column("diverted_units", reclaim.db.BigId, nullable=False),
        sa.Column("restocked_units", reclaim.db.BigId, nullable=False),
        sa.Column("settled_minor", reclaim.db.BigId, nullable=False),
        sa.Column("retained_minor", reclaim.db.BigId, nullable=False),
        sa.Column("dispositioned_price_minor", reclaim.db.BigId, nullable=False),
        sa.Column("recovered_minor", reclaim.db.BigId, nullable=False),
        sa.Column("cost_minor", reclaim.db.BigId, nullable=False),
        sa.Column("cycle_hours", sa.Float(), nullable=False),
        sa.Column("cycle_lines", reclaim.db.BigId, nullable=False),
        sa.Column("scan_cycle_hours", sa.Float(), nullable=False),
        sa.Column("scan_cycle_lines", reclaim.db.BigId, nullable=False),
        sa.Column("receipt_cycle_hours", sa.Float(), nullable=False),
        sa.Column("receipt_cycle_lines", reclaim.db.BigId, nullable=False),
        sa.Column("transit_hours", sa.Float(), nullable=False),
        sa.Column("transit_returns", sa.Float(), nullable=False),
        sa.Column("dock_hours", sa.Float(), nullable=False),
        sa.Column("dock_lines", reclaim.db.BigId, nullable=False),
        sa.Column("stamp", reclaim.db.BigId, nullable=False),
        sa.PrimaryKeyConstraint(
            "day",
            "currency",
            "sku",
            "category",
            "reason",
            "facility",
            name=op.f("pk_analytics_return_days"),
        ),
    )
    op.create_table(
        "analytics_return_facts",
        sa.Column("return_line_id", reclaim.db.BigId, autoincrement=False, nullable=False),
        sa.Column("return_id", reclaim.db.BigId, nullable=False),
        sa.Column("requested_at", reclaim.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("requested_day", sa.Date(), nullable=False),
        sa.Column("placed_day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("fault", sa.String(length=16), nullable=False),
        sa.Column("resolution", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("facility", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("lines_in_return", reclaim.db.BigId, nullable=False),
        sa.Column("units", reclaim.db.BigId, nullable=False),
        sa.Column("returned_units", reclaim.db.BigId, nullable=False),
        sa.Column("in_window_units", reclaim.db.BigId, nullable=False),
        sa.Column("approved", reclaim.db.BigId, nullable=False),
        sa.Column("returnless", reclaim.db.BigId, nullable=False),
        sa.Column("needs_sending", reclaim.db.BigId, nullable=False),
        sa.Column("expired", reclaim.db.BigId, nullable=False),
        sa.Column("received", reclaim.db.BigId, nullable=False),
        sa.Column("received_units", reclaim.db.BigId, nullable=False),
        sa.Column("graded_units", reclaim.db.BigId, nullable=False),
        sa.Column("sellable_units", reclaim.db.BigId, nullable=False),
        sa.Column("dispositioned_units", reclaim.db.BigId, nullable=False),
        sa.Column("diverted_units", reclaim.db.BigId, nullable=False),
        sa.Column("restocked_units", reclaim.db.BigId, nullable=False),
        sa.Column("settled_minor", reclaim.db.BigId, nullable=False),
        sa.Column("retained_minor", reclaim.db.BigId, nullable=False),
        sa.Column("dispositioned_price_minor", reclaim.db.BigId, nullable=False),
        sa.Column("recovered_minor", reclaim.db.BigId, nullable=False),
        sa.Column("cost_minor", reclaim.db.BigId, nullable=False),
        sa.Column("cycle_hours", sa.Float(), nullable=True),
        sa.Column("scan_cycle_hours", sa.Float(), nullable=True),
        sa.Column("receipt_cycle_hours", sa.Float(), nullable=True),
        sa.Column("transit_hours", sa.Float(), nullable=True),
        sa.Column("dock_hours", sa.Float(), nullable=True),
        sa.Column("stamp", reclaim.db.BigId, nullable=False),
        sa.PrimaryKeyConstraint("return_line_id", name=op.f("pk_analytics_return_facts")),
    )
    with op.batch_alter_table("analytics_return_facts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_analytics_return_facts_placed_day"), ["placed_day"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_analytics_return_facts_requested_day"), ["requested_day"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_analytics_return_facts_return_id"), ["return_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_analytics_return_facts_sku"), ["sku"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_analytics_return_facts_stamp"), ["stamp"], unique=False
        )

    op.create_table(
        "analytics_sales_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("lines", reclaim.db.BigId, nullable=False),
        sa.Column("shipped_units", reclaim.db.BigId, nullable=False),
        sa.Column("revenue_minor", reclaim.db.BigId, nullable=False),
        sa.Column("stamp", reclaim.db.BigId, nullable=False),
        sa.PrimaryKeyConstraint(
            "day", "currency", "sku", "category", name=op.f("pk_analytics_sales_days")
        ),
    )
    with op.batch_alter_table("analytics_sales_days", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_analytics_sales_days_sku"), ["sku"], unique=False)

    # The rollups' refresh looks for orders changed since it last ran, and the forecast for
    # lines received in the last year: both by range, on tables that only grow.
    op.create_index(op.f("ix_orders_updated_at"), "orders", ["updated_at"], unique=False)
    op.create_index(
        op.f("ix_return_lines_received_at"), "return_lines", ["received_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_return_lines_received_at"), table_name="return_lines")
    op.drop_index(op.f("ix_orders_updated_at"), table_name="orders")
    with op.batch_alter_table("analytics_sales_days", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_analytics_sales_days_sku"))

    op.drop_table("analytics_sales_days")
    with op.batch_alter_table("analytics_return_facts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_analytics_return_facts_stamp"))
        batch_op.drop_index(batch_op.f("ix_analytics_return_facts_sku"))
        batch_op.drop_index(batch_op.f("ix_analytics_return_facts_return_id"))
        batch_op.drop_index(batch_op.f("ix_analytics_return_facts_requested_day"))
        batch_op.drop_index(batch_op.f("ix_analytics_return_facts_placed_day"))

    op.drop_table("analytics_return_facts")
    op.drop_table("analytics_return_days")
    op.drop_table("analytics_order_days")
    op.drop_table("analytics_cursors")
    op.drop_table("analytics_cohort_days")
