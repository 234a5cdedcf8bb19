"""The analytics rollups: derived from the operational tables, never written by anything but
``analytics.rollups``, and rebuilt from scratch at will.

Three levels, each read by what it serves:

- ``analytics_return_facts``: one row per return line with every dimension and measure, so no
  dashboard joins the operational tables;
- ``analytics_return_days``, ``analytics_cohort_days``, ``analytics_sales_days``: sums per day
  and slice. Means are kept as a sum and a count, and shares of returns as fractions (a return
  of n lines counts 1/n on each), so every figure adds up over any filter;
- ``analytics_order_days``: the day each order was counted under;
- ``analytics_cursors``: how far the last refresh got.

``stamp`` on every row names the refresh that last changed it: a refresh that finds nothing
new changes nothing.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, Float, String
from sqlalchemy.orm import Mapped, mapped_column

from reclaim.db import Base, BigId, UTCDateTime


class ReturnFact(Base):
    __tablename__ = "analytics_return_facts"

    return_line_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    return_id: Mapped[int] = mapped_column(index=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    requested_day: Mapped[date] = mapped_column(Date, index=True)
    # The order's placement day: the shipment cohort the units belong to.
    placed_day: Mapped[date] = mapped_column(Date, index=True)
    currency: Mapped[str] = mapped_column(String(3))
    sku: Mapped[str] = mapped_column(String(64), index=True)
    category: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(32))
    fault: Mapped[str] = mapped_column(String(16))
    resolution: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(32))
    # The facility's code, or "" for a return that has none.
    facility: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(20))
    lines_in_return: Mapped[int]
    units: Mapped[int]
    # Units on a return that was not cancelled or expired, and those of them asked for within
    # the return window of the order's placement.
    returned_units: Mapped[int]
    in_window_units: Mapped[int]
    # Facts about the whole return, 0 or 1, repeated on each of its lines.
    approved: Mapped[int]
    returnless: Mapped[int]
    needs_sending: Mapped[int]
    expired: Mapped[int]
    received: Mapped[int]
    received_units: Mapped[int]
    graded_units: Mapped[int]
    sellable_units: Mapped[int]
    dispositioned_units: Mapped[int]
    diverted_units: Mapped[int]
    restocked_units: Mapped[int]
    settled_minor: Mapped[int]
    retained_minor: Mapped[int]
    # The original price of the dispositioned units, what they recovered and what they cost.
    dispositioned_price_minor: Mapped[int]
    recovered_minor: Mapped[int]
    cost_minor: Mapped[int]
    cycle_hours: Mapped[float | None] = mapped_column(Float)
    scan_cycle_hours: Mapped[float | None] = mapped_column(Float)
    receipt_cycle_hours: Mapped[float | None] = mapped_column(Float)
    transit_hours: Mapped[float | None] = mapped_column(Float)
    dock_hours: Mapped[float | None] = mapped_column(Float)
    stamp: Mapped[int] = mapped_column(index=True)


class ReturnDay(Base):
    """Return lines requested on one day, per slice."""

    __tablename__ = "analytics_return_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    category: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(32), primary_key=True)
    facility: Mapped[str] = mapped_column(String(32), primary_key=True)
    lines: Mapped[int]
    units: Mapped[int]
    returned_units: Mapped[int]
    # Returns, each split evenly over its lines.
    returns: Mapped[float] = mapped_column(Float)
    approved: Mapped[float] = mapped_column(Float)
    returnless: Mapped[float] = mapped_column(Float)
    needs_sending: Mapped[float] = mapped_column(Float)
    expired: Mapped[float] = mapped_column(Float)
    received: Mapped[float] = mapped_column(Float)
    received_units: Mapped[int]
    graded_units: Mapped[int]
    sellable_units: Mapped[int]
    dispositioned_units: Mapped[int]
    diverted_units: Mapped[int]
    restocked_units: Mapped[int]
    settled_minor: Mapped[int]
    retained_minor: Mapped[int]
    dispositioned_price_minor: Mapped[int]
    recovered_minor: Mapped[int]
    cost_minor: Mapped[int]
    cycle_hours: Mapped[float] = mapped_column(Float)
    cycle_lines: Mapped[int]
    scan_cycle_hours: Mapped[float] = mapped_column(Float)
    scan_cycle_lines: Mapped[int]
    receipt_cycle_hours: Mapped[float] = mapped_column(Float)
    receipt_cycle_lines: Mapped[int]
    # Weighted like ``returns``: a mean over returns, not over lines.
    transit_hours: Mapped[float] = mapped_column(Float)
    transit_returns: Mapped[float] = mapped_column(Float)
    dock_hours: Mapped[float] = mapped_column(Float)
    dock_lines: Mapped[int]
    stamp: Mapped[int]


class CohortDay(Base):
    """Units returned within the window, by the day their order was placed."""

    __tablename__ = "analytics_cohort_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    category: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(32), primary_key=True)
    returned_units: Mapped[int]
    stamp: Mapped[int]


class SalesDay(Base):
    """Units shipped on orders placed on one day."""

    __tablename__ = "analytics_sales_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    category: Mapped[str] = mapped_column(String(64), primary_key=True)
    lines: Mapped[int]
    shipped_units: Mapped[int]
    revenue_minor: Mapped[int]
    stamp: Mapped[int]


class OrderDay(Base):
    """The day each order is counted under in ``analytics_sales_days``, as of its
    ``updated_at``: an order edited since is summed again (its old day and its new one), one
    that wasn't is left alone however often a refresh looks at it."""

    __tablename__ = "analytics_order_days"

    order_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    day: Mapped[date] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RollupCursor(Base):
    """Where the refreshes have got to.

    Event ids can commit out of order on PostgreSQL, so ``position`` is only trusted once it is
    ``OVERLAP`` old: every refresh re-reads the events after ``safe_position``, and moves it up
    to ``position`` once ``marked_at`` is that far behind."""

    __tablename__ = "analytics_cursors"
    __table_args__ = (CheckConstraint("safe_position <= position", name="safe_position_behind"),)

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int] = mapped_column(default=0, server_default="0")
    safe_position: Mapped[int] = mapped_column(default=0, server_default="0")
    marked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the last refresh started: changes stamped after it (minus the overlap) are re-read.
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stamp: Mapped[int] = mapped_column(default=0, server_default="0")
