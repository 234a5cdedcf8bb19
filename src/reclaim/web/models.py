from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from reclaim.db import Base, UTCDateTime


class RateLimitWindow(Base):
    """Attempts per key (an e-mail, an order number, an address) in one fixed time window.

    Kept in the database so every API process counts the same attempts."""

    __tablename__ = "rate_limit_windows"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    hits: Mapped[int] = mapped_column(default=0)
