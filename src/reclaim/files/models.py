from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from reclaim.db import Base, BigId, UTCDateTime
from reclaim.kit.clock import utcnow


class ReturnPhoto(Base):
    """A photo of a returned item, kept in file storage under ``storage_key``: the shopper's,
    sent with the request, or the inspector's, taken at the station."""

    __tablename__ = "return_photos"
    __table_args__ = (CheckConstraint("size_bytes > 0", name="size_positive"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    return_line_id: Mapped[int] = mapped_column(
        ForeignKey("return_lines.id", ondelete="CASCADE"), index=True
    )
    storage_key: Mapped[str] = mapped_column(String(200), unique=True)
    content_type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    # shopper or inspection
    source: Mapped[str] = mapped_column(String(16), default="shopper", server_default="shopper")
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
