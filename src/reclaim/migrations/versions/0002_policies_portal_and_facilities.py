"""policies, portal and facilities

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 04:57:52.645273
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import reclaim.db

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "facilities",
        sa.Column("id", reclaim.db.BigId, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column(
            "methods",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("postcode", sa.String(length=16), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("opening_hours", sa.String(length=200), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "lat IS NULL OR (lat >= -90 AND lat <= 90)", name=op.f("ck_facilities_lat_range")
        ),
        sa.CheckConstraint(
            "lon IS NULL OR (lon >= -180 AND lon <= 180)", name=op.f("ck_facilities_lon_range")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_facilities")),
        sa.UniqueConstraint("code", name=op.f("uq_facilities_code")),
    )
    with op.batch_alter_table("facilities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_facilities_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_facilities_postcode"), ["postcode"], unique=False)

    op.create_table(
        "policy_versions",
        sa.Column("version", sa.String(length=80), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("first_seen_at", reclaim.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_policy_versions")),
    )
    op.create_table(
        "rate_limit_windows",
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("window_start", reclaim.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("hits", reclaim.db.BigId, nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start", name=op.f("pk_rate_limit_windows")),
    )
    op.create_table(
        "return_photos",
        sa.Column("id", reclaim.db.BigId, nullable=False),
        sa.Column("return_line_id", reclaim.db.BigId, nullable=False),
        sa.Column("storage_key", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("size_bytes", reclaim.db.BigId, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("uploaded_at", reclaim.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("size_bytes > 0", name=op.f("ck_return_photos_size_positive")),
        sa.ForeignKeyConstraint(
            ["return_line_id"],
            ["return_lines.id"],
            name=op.f("fk_return_photos_return_line_id_return_lines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_return_photos")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_return_photos_storage_key")),
    )
    with op.batch_alter_table("return_photos", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_return_photos_return_line_id"), ["return_line_id"], unique=False
        )

    with op.batch_alter_table("return_lines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fit_size", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("exchange_sku", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("opened", sa.Boolean(), nullable=False, server_default=sa.false())
        )

    with op.batch_alter_table("returns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("policy_version", sa.String(length=80), nullable=True))
        batch_op.add_column(
            sa.Column(
                "decision",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("refund_timing", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("facility_id", reclaim.db.BigId, nullable=True))
        batch_op.add_column(
            sa.Column("pickup_start", reclaim.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("pickup_end", reclaim.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("client_token", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_returns_client_token"), ["client_token"])
        batch_op.create_index(
            batch_op.f("ix_returns_policy_version"), ["policy_version"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_returns_policy_version_policy_versions"),
            "policy_versions",
            ["policy_version"],
            ["version"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_returns_facility_id_facilities"), "facilities", ["facility_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("returns", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_returns_client_token"), type_="unique")
        batch_op.drop_column("client_token")
        batch_op.drop_constraint(
            batch_op.f("fk_returns_facility_id_facilities"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_returns_policy_version_policy_versions"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_returns_policy_version"))
        batch_op.drop_column("pickup_end")
        batch_op.drop_column("pickup_start")
        batch_op.drop_column("facility_id")
        batch_op.drop_column("refund_timing")
        batch_op.drop_column("decision")
        batch_op.drop_column("policy_version")

    with op.batch_alter_table("return_lines", schema=None) as batch_op:
        batch_op.drop_column("opened")
        batch_op.drop_column("exchange_sku")
        batch_op.drop_column("fit_size")

    with op.batch_alter_table("return_photos", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_return_photos_return_line_id"))

    op.drop_table("return_photos")
    op.drop_table("rate_limit_windows")
    op.drop_table("policy_versions")
    with op.batch_alter_table("facilities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_facilities_postcode"))
        batch_op.drop_index(batch_op.f("ix_facilities_kind"))

    op.drop_table("facilities")
