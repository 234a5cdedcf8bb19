from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from reclaim.db import Base, BigId, UTCDateTime, json_type
from reclaim.kit.clock import utcnow


class PredictionModel(Base):
    """One trained model, kept whole in the database so every API process scores with the same
    one: LightGBM's own text format plus the calibration and what it was trained on."""

    __tablename__ = "prediction_models"
    __table_args__ = (UniqueConstraint("kind", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    version: Mapped[int]
    trained_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # History before this instant was used; nothing after it.
    trained_until: Mapped[datetime] = mapped_column(UTCDateTime)
    rows: Mapped[int] = mapped_column(default=0)
    features: Mapped[list[str]] = mapped_column(json_type(), default=list)
    metrics: Mapped[dict[str, Any]] = mapped_column(json_type(), default=dict)
    importances: Mapped[dict[str, float]] = mapped_column(json_type(), default=dict)
    calibration: Mapped[dict[str, Any]] = mapped_column(json_type(), default=dict)
    # Anything else the scorer needs (category encodings, priors, thresholds).
    details: Mapped[dict[str, Any]] = mapped_column(json_type(), default=dict)
    model_text: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(default=False, index=True)
