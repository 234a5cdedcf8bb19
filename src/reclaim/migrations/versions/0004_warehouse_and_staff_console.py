"""Staff users and sessions; receipts, receiving flags, inspections, dispositions, the
append-only inventory ledger, refurbishment work orders and end-of-life manifests.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 10:30:05.421265
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import reclaim.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_users",
        sa.Column("id", reclaim.db.BigId, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", reclaim.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", reclaim.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_users")),
        sa.UniqueConstraint("email", name=op.f("uq_staff_users_email")),
    )
    op.create_table(
        "manifests",
        sa.Column("id", reclaim.db.BigId, nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("partner_id", reclaim.db.BigId, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", reclaim.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("shipped_at", reclaim.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("shipped_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["facilities.id"], name=op.f("fk_manifests_partner_id_facilities")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_manifests")),
        sa.UniqueConstraint("number", name=op.f("uq_manifests_number")),
    )
    with op.batch_alter_table("manifests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_manifests_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_manifests_shipped_at"), ["shipped_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_manifests_status"), ["status"], unique=False)

    op.create_table(
        "staff_sessions",
        sa.Column("id", reclaim.db.BigId, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", reclaim.db.BigId, nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", reclaim.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", reclaim.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", reclaim.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["staff_users.id"],
            name=op.f("fk_staff_sessions_user_id_staff_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_staff_sessions_token_hash")),
    )
    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_staff_sessions_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_staff_sessions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "receipts",
        sa.Column("id", reclaim.db.BigId, nullable=False),
        sa.Column("return_id", reclaim.db.BigId, nullable=False),
        sa.Column(
            "lines",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("weight_grams", reclaim.db.BigId, nullable=True),
        sa.Column("expected_weight_grams", reclaim.db.BigId, nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("received_at", reclaim.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "weight_grams IS NULL OR weight_grams >= 0",
            name=op.f("ck_receipts_weight_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["return_id"],
            ["returns.id"],
            name=op.f("fk_receipts_return_id_returns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipts")),
    )
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_receipts_received_at"), ["received_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_receipts_return_id"), ["return_id"], unique=False)

    op.create_table(
        "dispositions",
        sa.Column("id", reclaim.db.BigId, nullable=False),
        sa.Column("return_line_id", reclaim.db.BigId, nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("recommended", sa.String(length=20), nullable=True),
        sa.Column("override_reason", sa.Text(), nullable=True),
        sa.Column("quantity", reclaim.db.BigId, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("expected_value_minor", reclaim.db.BigId, nullable=False),
        sa.Column("expected_cost_minor", reclaim.db.BigId, nullable=False),
        sa.Column("expected_net_minor", reclaim.db.BigId, nullable=False),
        sa.Column("realized_value_minor", reclaim.db.BigId, nullable=True),
        sa.Column("realized_cost_minor", reclaim.db.BigId, nullable=True),
        sa.Column(
            "options",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "explanation",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("location", sa.String(length=64), nullable=False),
        sa.Column("batch", sa.String(length=32), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("at", reclaim.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_dispositions_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["return_line_id"],
            ["return_lines.id"],
            name=op.f("fk_dispositions_return_line_id_return_lines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispositions")),
        sa.UniqueConstraint("return_line_id", name=op.f("uq_dispositions_return_line_id")),
    )
    with op.batch_alter_table("dispositions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dispositions_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_dispositions_batch"), ["batch"], unique=False)
        batch_op.create_index(batch_op.f("ix_dispositions_channel"), ["channel"], unique=False)

    op.create_table(
        "inspections",
        sa.Column("id", reclaim.db.BigId, nullable=False),
        sa.Column("return_line_id", reclaim.db.BigId, nullable=False),
        sa.Column("checklist", sa.String(length=32), nullable=True),
        sa.Column(
            "answers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("suggested_grade", sa.String(length=16), nullable=True),
        sa.Column(
            "reasons",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("grade", sa.String(length=16), nullable=False),
        sa.Column("override_reason", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("inspector", sa.String(length=64), nullable=False),
        sa.Column("at", reclaim.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["return_line_id"],
            ["return_lines.id"],
            name=op.f("fk_inspections_return_line_id_return_lines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspections")),
        sa.UniqueConstraint("return_line_id", name=op.f("uq_inspections_return_line_id")),
    )
    with op.batch_alter_table("inspections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inspections_at"), ["at"], unique=False)

    op.create_table(
        "receiving_flags",
        sa.Column("id", reclaim.db.BigId, nullable=False),
        sa.Column("return_id", reclaim.db.BigId, nullable=False),
        sa.Column("receipt_id", reclaim.db.BigId, nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("return_line_id", reclaim.db.BigId, nullable=True),
        sa.Column("found", sa.String(length=200), nullable=True),
        sa.Column("quantity", reclaim.db.BigId, nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("at", reclaim.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", reclaim.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=64), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["receipt_id"],
            ["receipts.id"],
            name=op.f("fk_receiving_flags_receipt_id_receipts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["return_id"],
            ["returns.id"],
            name=op.f("fk_receiving_flags_return_id_returns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["return_line_id"],
            ["return_lines.id"],
            name=op.f("fk_receiving_flags_return_line_id_return_lines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receiving_flags")),
    )
    with op.batch_alter_table("receiving_flags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_receiving_flags_kind"), ["kind"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_receiving_flags_return_id"), ["return_id"], unique=False
        )

    op.create_table(
        "refurb_work_orders",
        sa.Column("id", reclaim.db.BigId, nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("return_line_id", reclaim.db.BigId, nullable=False),
        sa.Column("partner_id", reclaim.db.BigId, nullable=True),
        sa.Column("quantity", reclaim.db.BigId, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("grade_in", sa.String(length=16), nullable=False),
        sa.Column("grade_out", sa.String(length=16), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("expected_cost_minor", reclaim.db.BigId, nullable=False),
        sa.Column("expected_recovery_minor", reclaim.db.BigId, nullable=False),
        sa.Column("cost_minor", reclaim.db.BigId, nullable=True),
        sa.Column("recovery_minor", reclaim.db.BigId, nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("sent_by", sa.String(length=64), nullable=False),
        sa.Column("sent_at", reclaim.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("closed_at", reclaim.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "cost_minor IS NULL OR cost_minor >= 0",
            name=op.f("ck_refurb_work_orders_cost_not_negative"),
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_refurb_work_orders_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["facilities.id"],
            name=op.f("fk_refurb_work_orders_partner_id_facilities"),
        ),
        sa.ForeignKeyConstraint(
            ["return_line_id"],
            ["return_lines.id"],
            name=op.f("fk_refurb_work_orders_return_line_id_return_lines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refurb_work_orders")),
        sa.UniqueConstraint("number", name=op.f("uq_refurb_work_orders_number")),
        sa.UniqueConstraint("return_line_id", name=op.f("uq_refurb_work_orders_return_line_id")),
    )
    with op.batch_alter_table("refurb_work_orders", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_refurb_work_orders_sent_at"), ["sent_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_refurb_work_orders_status"), ["status"], unique=False)

    op.create_table(
        "inventory_movements",
        sa.Column("id", reclaim.db.BigId, nullable=False),
        sa.Column("product_id", reclaim.db.BigId, nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("condition", sa.String(length=16), nullable=False),
        sa.Column("location", sa.String(length=64), nullable=False),
        sa.Column("quantity", reclaim.db.BigId, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("return_line_id", reclaim.db.BigId, nullable=True),
        sa.Column("work_order_id", reclaim.db.BigId, nullable=True),
        sa.Column("value_minor", reclaim.db.BigId, nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("at", reclaim.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("quantity <> 0", name=op.f("ck_inventory_movements_quantity_not_zero")),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_inventory_movements_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["return_line_id"],
            ["return_lines.id"],
            name=op.f("fk_inventory_movements_return_line_id_return_lines"),
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["refurb_work_orders.id"],
            name=op.f("fk_inventory_movements_work_order_id_refurb_work_orders"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_movements")),
    )
    with op.batch_alter_table("inventory_movements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inventory_movements_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_inventory_movements_location"), ["location"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_inventory_movements_product_id"), ["product_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_inventory_movements_return_line_id"), ["return_line_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_inventory_movements_sku"), ["sku"], unique=False)

    op.create_table(
        "manifest_items",
        sa.Column("id", reclaim.db.BigId, nullable=False),
        sa.Column("manifest_id", reclaim.db.BigId, nullable=False),
        sa.Column("return_line_id", reclaim.db.BigId, nullable=True),
        sa.Column("work_order_id", reclaim.db.BigId, nullable=True),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("quantity", reclaim.db.BigId, nullable=False),
        sa.Column("weight_grams", reclaim.db.BigId, nullable=False),
        sa.Column("added_at", reclaim.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_manifest_items_quantity_positive")),
        sa.CheckConstraint("weight_grams >= 0", name=op.f("ck_manifest_items_weight_not_negative")),
        sa.ForeignKeyConstraint(
            ["manifest_id"],
            ["manifests.id"],
            name=op.f("fk_manifest_items_manifest_id_manifests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["return_line_id"],
            ["return_lines.id"],
            name=op.f("fk_manifest_items_return_line_id_return_lines"),
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["refurb_work_orders.id"],
            name=op.f("fk_manifest_items_work_order_id_refurb_work_orders"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_manifest_items")),
        sa.UniqueConstraint("return_line_id", name=op.f("uq_manifest_items_return_line_id")),
    )
    with op.batch_alter_table("manifest_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_manifest_items_manifest_id"), ["manifest_id"], unique=False
        )

    with op.batch_alter_table("return_photos", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source", sa.String(length=16), server_default="shopper", nullable=False)
        )
    op.create_table(
        "form_submissions",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("staff_user_id", reclaim.db.BigId, nullable=False),
        sa.Column("location", sa.String(length=300), nullable=False),
        sa.Column("at", reclaim.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_user_id"],
            ["staff_users.id"],
            name=op.f("fk_form_submissions_staff_user_id_staff_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_form_submissions")),
    )
    with op.batch_alter_table("form_submissions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_form_submissions_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_form_submissions_staff_user_id"), ["staff_user_id"], unique=False
        )
    _forbid_changes_to_the_ledger()


# The inventory ledger is append-only: the database itself refuses to change or remove a row,
# so no code path (or hand-written SQL) can rewrite where a unit went.
LEDGER_MESSAGE = "inventory_movements is append-only: record a correcting movement instead"


def _forbid_changes_to_the_ledger() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION inventory_movements_append_only() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN "
            f"RAISE EXCEPTION '{LEDGER_MESSAGE}'; "
            "END $$"
        )
        op.execute(
            "CREATE TRIGGER inventory_movements_append_only "
            "BEFORE UPDATE OR DELETE ON inventory_movements "
            "FOR EACH ROW EXECUTE FUNCTION inventory_movements_append_only()"
        )
        return
    for event in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER inventory_movements_no_{event.lower()} "
            f"BEFORE {event} ON inventory_movements "
            f"BEGIN SELECT RAISE(ABORT, '{LEDGER_MESSAGE}'); END"
        )


def _allow_changes_to_the_ledger() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER inventory_movements_append_only ON inventory_movements")
        op.execute("DROP FUNCTION inventory_movements_append_only()")
        return
    for event in ("update", "delete"):
        op.execute(f"DROP TRIGGER inventory_movements_no_{event}")


def downgrade() -> None:
    _allow_changes_to_the_ledger()
    op.drop_table("form_submissions")
    with op.batch_alter_table("return_photos", schema=None) as batch_op:
        batch_op.drop_column("source")

    with op.batch_alter_table("manifest_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_manifest_items_manifest_id"))

    op.drop_table("manifest_items")
    with op.batch_alter_table("inventory_movements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inventory_movements_sku"))
        batch_op.drop_index(batch_op.f("ix_inventory_movements_return_line_id"))
        batch_op.drop_index(batch_op.f("ix_inventory_movements_product_id"))
        batch_op.drop_index(batch_op.f("ix_inventory_movements_location"))
        batch_op.drop_index(batch_op.f("ix_inventory_movements_at"))

    op.drop_table("inventory_movements")
    with op.batch_alter_table("refurb_work_orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refurb_work_orders_status"))
        batch_op.drop_index(batch_op.f("ix_refurb_work_orders_sent_at"))

    op.drop_table("refurb_work_orders")
    with op.batch_alter_table("receiving_flags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_receiving_flags_return_id"))
        batch_op.drop_index(batch_op.f("ix_receiving_flags_kind"))

    op.drop_table("receiving_flags")
    with op.batch_alter_table("inspections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inspections_at"))

    op.drop_table("inspections")
    with op.batch_alter_table("dispositions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dispositions_channel"))
        batch_op.drop_index(batch_op.f("ix_dispositions_batch"))
        batch_op.drop_index(batch_op.f("ix_dispositions_at"))

    op.drop_table("dispositions")
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_receipts_return_id"))
        batch_op.drop_index(batch_op.f("ix_receipts_received_at"))

    op.drop_table("receipts")
    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_sessions_user_id"))
        batch_op.drop_index(batch_op.f("ix_staff_sessions_expires_at"))

    op.drop_table("staff_sessions")
    with op.batch_alter_table("manifests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_manifests_status"))
        batch_op.drop_index(batch_op.f("ix_manifests_shipped_at"))
        batch_op.drop_index(batch_op.f("ix_manifests_kind"))

    op.drop_table("manifests")
    op.drop_table("staff_users")
