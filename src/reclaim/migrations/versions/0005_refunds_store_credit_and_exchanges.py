"""Payments per order, refunds per payment method, the store-credit ledger, exchanges, and
each return line's settlement. Existing orders get one payment of their total.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 13:53:55.007623
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import reclaim.db

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credit_accounts",
        sa.Column("id", reclaim.db.BigId, nullable=False),
        sa.Column("key", sa.String(length=96), nullable=False),
        sa.Column("customer_id", reclaim.db.BigId, nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("balance_minor", reclaim.db.BigId, nullable=False),
        sa.Column("created_at", reclaim.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "customer_id IS NULL OR balance_minor >= 0",
            name=op.f("ck_credit_accounts_customer_balance_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_credit_accounts_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_accounts")),
        sa.UniqueConstraint("key", name=op.f("uq_credit_accounts_key")),
    )
    with op.batch_alter_table("credit_accounts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_credit_accounts_customer_id"), ["customer_id"], unique=False
        )

    op.create_table(
        "order_payments",
        sa.Column("id", reclaim.db.BigId, nullable=False),
        sa.Column("order_id", reclaim.db.BigId, nullable=False),
        sa.Column("position", reclaim.db.BigId, nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=True),
        sa.Column("last4", sa.String(length=4), nullable=True),
        sa.Column("captured_minor", reclaim.db.BigId, nullable=False),
        sa.Column("refunded_minor", reclaim.db.BigId, nullable=False),
        sa.CheckConstraint(
            "captured_minor >= 0", name=op.f("ck_order_payments_captured_not_negative")
        ),
        sa.CheckConstraint(
            "refunded_minor >= 0 AND refunded_minor <= captured_minor",
            name=op.f("ck_order_payments_refunded_within_captured"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_order_payments_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_payments")),
        sa.UniqueConstraint(
            "order_id", "position", name=op.f("uq_order_payments_order_id_position")
        ),
    )
    with op.batch_alter_table("order_payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_payments_order_id"), ["order_id"], unique=False)

    op.create_table(
        "credit_transactions",
        sa.Column("id", reclaim.db.BigId, nullable=False),
        sa.Column("customer_id", reclaim.db.BigId, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount_minor", reclaim.db.BigId, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("return_id", reclaim.db.BigId, nullable=True),
        sa.Column("reference", sa.String(length=128), nullable=True),
        sa.Column("memo", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("expires_at", reclaim.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("remaining_minor", reclaim.db.BigId, nullable=True),
        sa.Column("at", reclaim.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_credit_transactions_amount_positive")),
        sa.CheckConstraint(
            "remaining_minor IS NULL OR (remaining_minor >= 0 AND remaining_minor <= amount_minor)",
            name=op.f("ck_credit_transactions_remaining_within_amount"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_credit_transactions_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["return_id"], ["returns.id"], name=op.f("fk_credit_transactions_return_id_returns")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_transactions")),
        sa.UniqueConstraint(
            "customer_id",
            "kind",
            "reference",
            name=op.f("uq_credit_transactions_customer_id_kind_reference"),
        ),
    )
    with op.batch_alter_table("credit_transactions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_credit_transactions_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_credit_transactions_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_credit_transactions_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_credit_transactions_return_id"), ["return_id"], unique=False
        )

    op.create_table(
        "refunds",
        sa.Column("id", reclaim.db.BigId, nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("order_id", reclaim.db.BigId, nullable=False),
        sa.Column("return_id", reclaim.db.BigId, nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("amount_minor", reclaim.db.BigId, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "breakdown",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("retry_of", reclaim.db.BigId, nullable=True),
        sa.Column("created_at", reclaim.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("requested_at", reclaim.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("settled_at", reclaim.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_refunds_amount_positive")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_refunds_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["retry_of"], ["refunds.id"], name=op.f("fk_refunds_retry_of_refunds")
        ),
        sa.ForeignKeyConstraint(
            ["return_id"], ["returns.id"], name=op.f("fk_refunds_return_id_returns")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        sa.UniqueConstraint("number", name=op.f("uq_refunds_number")),
        sa.UniqueConstraint("retry_of", name=op.f("uq_refunds_retry_of")),
    )
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refunds_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_refunds_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_refunds_return_id"), ["return_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_refunds_status"), ["status"], unique=False)

    op.create_table(
        "credit_postings",
        sa.Column("id", reclaim.db.BigId, nullable=False),
        sa.Column("transaction_id", reclaim.db.BigId, nullable=False),
        sa.Column("account_id", reclaim.db.BigId, nullable=False),
        sa.Column("amount_minor", reclaim.db.BigId, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["credit_accounts.id"],
            name=op.f("fk_credit_postings_account_id_credit_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["credit_transactions.id"],
            name=op.f("fk_credit_postings_transaction_id_credit_transactions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_postings")),
    )
    with op.batch_alter_table("credit_postings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_credit_postings_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_credit_postings_transaction_id"), ["transaction_id"], unique=False
        )

    op.create_table(
        "exchanges",
        sa.Column("id", reclaim.db.BigId, nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("return_id", reclaim.db.BigId, nullable=False),
        sa.Column("order_id", reclaim.db.BigId, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("instant", sa.Boolean(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("value_minor", reclaim.db.BigId, nullable=False),
        sa.Column("price_minor", reclaim.db.BigId, nullable=False),
        sa.Column("difference_minor", reclaim.db.BigId, nullable=False),
        sa.Column("refund_id", reclaim.db.BigId, nullable=True),
        sa.Column(
            "items",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("carrier", sa.String(length=32), nullable=True),
        sa.Column("tracking_number", sa.String(length=64), nullable=True),
        sa.Column("created_at", reclaim.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("shipped_at", reclaim.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_exchanges_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["refund_id"], ["refunds.id"], name=op.f("fk_exchanges_refund_id_refunds")
        ),
        sa.ForeignKeyConstraint(
            ["return_id"], ["returns.id"], name=op.f("fk_exchanges_return_id_returns")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchanges")),
        sa.UniqueConstraint("number", name=op.f("uq_exchanges_number")),
    )
    with op.batch_alter_table("exchanges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_exchanges_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_exchanges_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_exchanges_return_id"), ["return_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_exchanges_status"), ["status"], unique=False)

    op.create_table(
        "refund_parts",
        sa.Column("id", reclaim.db.BigId, nullable=False),
        sa.Column("refund_id", reclaim.db.BigId, nullable=False),
        sa.Column("payment_id", reclaim.db.BigId, nullable=False),
        sa.Column("amount_minor", reclaim.db.BigId, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("provider_reference", sa.String(length=128), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("settled_at", reclaim.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_refund_parts_amount_positive")),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["order_payments.id"],
            name=op.f("fk_refund_parts_payment_id_order_payments"),
        ),
        sa.ForeignKeyConstraint(
            ["refund_id"],
            ["refunds.id"],
            name=op.f("fk_refund_parts_refund_id_refunds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refund_parts")),
        sa.UniqueConstraint(
            "refund_id", "payment_id", name=op.f("uq_refund_parts_refund_id_payment_id")
        ),
    )
    with op.batch_alter_table("refund_parts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_refund_parts_payment_id"), ["payment_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_refund_parts_refund_id"), ["refund_id"], unique=False)

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("paid_minor", reclaim.db.BigId, nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("given_back_minor", reclaim.db.BigId, nullable=False, server_default="0")
        )

    with op.batch_alter_table("return_lines", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("settled_at", reclaim.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("settled_quantity", reclaim.db.BigId, nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("settled_minor", reclaim.db.BigId, nullable=False, server_default="0")
        )

    # Orders imported before payments were recorded were paid in full by one method.
    op.execute(
        "UPDATE orders SET paid_minor = shipping_minor - discount_minor + COALESCE("
        "(SELECT SUM(unit_price_minor * quantity - discount_minor + tax_minor) "
        "FROM order_lines WHERE order_lines.order_id = orders.id), 0)"
    )
    op.execute(
        "INSERT INTO order_payments (order_id, position, method, captured_minor, refunded_minor) "
        "SELECT id, 1, 'original', paid_minor, 0 FROM orders"
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_check_constraint(
            "given_back_within_paid", "given_back_minor >= 0 AND given_back_minor <= paid_minor"
        )


def downgrade() -> None:
    with op.batch_alter_table("return_lines", schema=None) as batch_op:
        batch_op.drop_column("settled_minor")
        batch_op.drop_column("settled_quantity")
        batch_op.drop_column("settled_at")

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_orders_given_back_within_paid"), type_="check")
        batch_op.drop_column("given_back_minor")
        batch_op.drop_column("paid_minor")

    with op.batch_alter_table("refund_parts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refund_parts_refund_id"))
        batch_op.drop_index(batch_op.f("ix_refund_parts_payment_id"))

    op.drop_table("refund_parts")
    with op.batch_alter_table("exchanges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exchanges_status"))
        batch_op.drop_index(batch_op.f("ix_exchanges_return_id"))
        batch_op.drop_index(batch_op.f("ix_exchanges_order_id"))
        batch_op.drop_index(batch_op.f("ix_exchanges_created_at"))

    op.drop_table("exchanges")
    with op.batch_alter_table("credit_postings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_postings_transaction_id"))
        batch_op.drop_index(batch_op.f("ix_credit_postings_account_id"))

    op.drop_table("credit_postings")
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refunds_status"))
        batch_op.drop_index(batch_op.f("ix_refunds_return_id"))
        batch_op.drop_index(batch_op.f("ix_refunds_order_id"))
        batch_op.drop_index(batch_op.f("ix_refunds_created_at"))

    op.drop_table("refunds")
    with op.batch_alter_table("credit_transactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_transactions_return_id"))
        batch_op.drop_index(batch_op.f("ix_credit_transactions_expires_at"))
        batch_op.drop_index(batch_op.f("ix_credit_transactions_customer_id"))
        batch_op.drop_index(batch_op.f("ix_credit_transactions_at"))

    op.drop_table("credit_transactions")
    with op.batch_alter_table("order_payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_payments_order_id"))

    op.drop_table("order_payments")
    with op.batch_alter_table("credit_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_accounts_customer_id"))

    op.drop_table("credit_accounts")
