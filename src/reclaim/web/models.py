from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from reclaim.db import Base, UTCDateTime


class RateLimitWindow(Base):
    """Attempts per key (an e-mail, an order number, an address) in one fixed time window.

    Kept in the database so every API process counts the same attempts."""

    __tablename__ = "rate_limit_windows"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    hits: Mapped[int] = mapped_column(default=0)


class FormSubmission(Base):
    """A console form already acted on, by the one-time token it was rendered with.

    A barcode scanner's double Enter or a resubmitted page posts the same form twice; the
    second post finds its token here and changes nothing."""

    __tablename__ = "form_submissions"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    # Where the first post was sent on to: the second is sent there too.
    location: Mapped[str] = mapped_column(String(300))
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
