"""Shipments and tracking events, deliveries and their attempts, webhook endpoints;
returns get a handover deadline and an attention flag.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 05:03:05.503131
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import reclaim.db

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", reclaim.db.BigId, nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=True),
        sa.Column(
            "event_types",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("previous_secret", sa.String(length=100), nullable=True),
        sa.Column("previous_secret_until", reclaim.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("created_at", reclaim.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", reclaim.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", reclaim.db.BigId, nullable=False),
        sa.Column("outbox_id", reclaim.db.BigId, nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=320), nullable=False),
        sa.Column("endpoint_id", reclaim.db.BigId, nullable=True),
        sa.Column(
            "content",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", reclaim.db.BigId, nullable=False),
        sa.Column("next_attempt_at", reclaim.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_until", reclaim.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", reclaim.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", reclaim.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name=op.f("fk_deliveries_endpoint_id_webhook_endpoints"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["outbox_id"],
            ["outbox.id"],
            name=op.f("fk_deliveries_outbox_id_outbox"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint(
            "outbox_id", "channel", "target", name=op.f("uq_deliveries_outbox_id_channel_target")
        ),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deliveries_endpoint_id"), ["endpoint_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_deliveries_next_attempt_at"), ["next_attempt_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_deliveries_outbox_id"), ["outbox_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_deliveries_status"), ["status"], unique=False)

    op.create_table(
        "delivery_attempts",
        sa.Column("id", reclaim.db.BigId, nullable=False),
        sa.Column("delivery_id", reclaim.db.BigId, nullable=False),
        sa.Column("number", reclaim.db.BigId, nullable=False),
        sa.Column("at", reclaim.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("status_code", reclaim.db.BigId, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", reclaim.db.BigId, nullable=False),
        sa.Column("worker", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_delivery_attempts_delivery_id_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_attempts")),
    )
    with op.batch_alter_table("delivery_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_delivery_attempts_delivery_id"), ["delivery_id"], unique=False
        )

    op.create_table(
        "shipments",
        sa.Column("id", reclaim.db.BigId, nullable=False),
        sa.Column("return_id", reclaim.db.BigId, nullable=False),
        sa.Column("carrier", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("tracking_number", sa.String(length=64), nullable=False),
        sa.Column("label_key", sa.String(length=200), nullable=True),
        sa.Column("qr_key", sa.String(length=200), nullable=True),
        sa.Column("pickup_start", reclaim.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("pickup_end", reclaim.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("first_scan_at", reclaim.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", reclaim.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_event_at", reclaim.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", reclaim.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", reclaim.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["return_id"],
            ["returns.id"],
            name=op.f("fk_shipments_return_id_returns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipments")),
        sa.UniqueConstraint("return_id", name=op.f("uq_shipments_return_id")),
        sa.UniqueConstraint("tracking_number", name=op.f("uq_shipments_tracking_number")),
    )
    op.create_table(
        "tracking_events",
        sa.Column("id", reclaim.db.BigId, nullable=False),
        sa.Column("shipment_id", reclaim.db.BigId, nullable=False),
        sa.Column("dedupe_key", sa.String(length=128), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("occurred_at", reclaim.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=True),
        sa.Column("facility_code", sa.String(length=32), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("received_at", reclaim.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["shipments.id"],
            name=op.f("fk_tracking_events_shipment_id_shipments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_events")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_tracking_events_dedupe_key")),
    )
    with op.batch_alter_table("tracking_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tracking_events_occurred_at"), ["occurred_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_tracking_events_shipment_id"), ["shipment_id"], unique=False
        )

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("fanout_retry_at", reclaim.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("fanout_error", sa.Text(), nullable=True))

    with op.batch_alter_table("returns", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("handover_by", reclaim.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("reminded_at", reclaim.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("attention", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("attention_at", reclaim.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_returns_attention_at"), ["attention_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_returns_handover_by"), ["handover_by"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("fanout_error")
        batch_op.drop_column("fanout_retry_at")

    with op.batch_alter_table("returns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_returns_handover_by"))
        batch_op.drop_index(batch_op.f("ix_returns_attention_at"))
        batch_op.drop_column("attention_at")
        batch_op.drop_column("attention")
        batch_op.drop_column("reminded_at")
        batch_op.drop_column("handover_by")

    with op.batch_alter_table("tracking_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tracking_events_shipment_id"))
        batch_op.drop_index(batch_op.f("ix_tracking_events_occurred_at"))

    op.drop_table("tracking_events")
    op.drop_table("shipments")
    with op.batch_alter_table("delivery_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_attempts_delivery_id"))

    op.drop_table("delivery_attempts")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deliveries_status"))
        batch_op.drop_index(batch_op.f("ix_deliveries_outbox_id"))
        batch_op.drop_index(batch_op.f("ix_deliveries_next_attempt_at"))
        batch_op.drop_index(batch_op.f("ix_deliveries_endpoint_id"))

    op.drop_table("deliveries")
    op.drop_table("webhook_endpoints")
