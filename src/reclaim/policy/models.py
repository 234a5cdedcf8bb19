from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from reclaim.db import Base, UTCDateTime
from reclaim.kit.clock import utcnow


class PolicyVersion(Base):
    """Every policy text a return was ever decided under, kept so any decision can be replayed."""

    __tablename__ = "policy_versions"

    # "<name slug>@<first 12 hex of the text's SHA-256>": the same text is the same version.
    version: Mapped[str] = mapped_column(String(80), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
