"""The trained return-risk models, each kept whole (boosters, calibration, what it scores with).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 19:30:00.000000
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import reclaim.db

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "prediction_models",
        sa.Column("id", reclaim.db.BigId, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("version", reclaim.db.BigId, nullable=False),
        sa.Column("trained_at", reclaim.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("trained_until", reclaim.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("rows", reclaim.db.BigId, nullable=False),
        sa.Column("features", _json(), nullable=False),
        sa.Column("metrics", _json(), nullable=False),
        sa.Column("importances", _json(), nullable=False),
        sa.Column("calibration", _json(), nullable=False),
        sa.Column("details", _json(), nullable=False),
        sa.Column("model_text", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prediction_models")),
        sa.UniqueConstraint("kind", "version", name=op.f("uq_prediction_models_kind_version")),
    )
    with op.batch_alter_table("prediction_models", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_prediction_models_active"), ["active"], unique=False)
        batch_op.create_index(batch_op.f("ix_prediction_models_kind"), ["kind"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("prediction_models", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prediction_models_kind"))
        batch_op.drop_index(batch_op.f("ix_prediction_models_active"))
    op.drop_table("prediction_models")
