"""Every KPI on the hand-made history of ``analytics_support``, worked out by hand, overall
and sliced by period, category, SKU, reason and facility."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.analytics import rollups, service
from reclaim.analytics.filters import Filters
from reclaim.analytics.service import KpiReport
from reclaim.db import transaction
from tests.integration.analytics_support import build_history

MARCH = {"since": "2026-03-01", "until": "2026-03-31"}


@pytest.fixture
async def history(sessions: async_sessionmaker[AsyncSession]) -> None:
    await build_history(sessions)
    await rollups.refresh(sessions)


async def _report(sessions: async_sessionmaker[AsyncSession], **slices: Any) -> KpiReport:
    async with transaction(sessions) as session:
        return await service.report(session, Filters.parse(**{**MARCH, **slices}))


def _values(report: KpiReport) -> dict[str, float | None]:
    return {kpi.key: kpi.value for kpi in report.kpis}


def _check(report: KpiReport, expected: dict[str, float | None]) -> None:
    values = _values(report)
    for key, value in expected.items():
        assert values[key] == (None if value is None else pytest.approx(value)), key


@pytest.mark.usefixtures("history")
async def test_every_kpi_over_the_whole_month(sessions: async_sessionmaker[AsyncSession]) -> None:
    report = await _report(sessions)
    assert report.currency == "GBP"
    assert (report.returns, report.returned_units, report.shipped_units) == (7, 12, 24)
    _check(
        report,
        {
            # O1, O2, O3, O5, O6, O7 shipped 24 units; 11 came back within 30 days (the expired,
            # the cancelled and O4's are not counted).
            "return_rate": 11 / 24,
            # defective 1 + 2, damaged 1, not as described 1 of 12 returned units.
            "fault_share": 5 / 12,
            # credit 10.00 + exchange 20.00 of 80.00 settled.
            "revenue_retained": 3000 / 8000,
            # R3 of the six approved (R5 was cancelled before approval).
            "returnless_rate": 1 / 6,
            "refund_cycle_hours": (96 + 84 + 96 + 0.5) / 4,
            "refund_after_first_scan_hours": (72 + 60 + 84) / 3,
            "refund_after_receipt_hours": (24 + 12 + 24) / 3,
            # R1 48 h, R2 60 h, R7 36 h.
            "transit_days": 2.0,
            # R4 of the five that had to be sent.
            "no_show_rate": 1 / 5,
            "dock_to_stock_hours": (6 + 24) / 2,
            # 2.00 expected + 1.00 realised + 0.50 realised + 4.00 expected over R1, R2, R7.
            "cost_per_return": 750 / 3,
            "sellable_rate": 3 / 8,
            # 36.00 + 0.00 + 13.00 + 0.00 over 40.00 + 10.00 + 20.00 + 20.00.
            "recovery_rate": 4900 / 9000,
            "diversion_rate": 7 / 8,
        },
    )
    assert report.kpi("cost_per_return").display == "2.50 GBP"
    assert report.kpi("return_rate").display == "45.8%"
    assert [(share.reason, share.units, share.fault) for share in report.reason_mix] == [
        ("too_large", 4, "customer"),
        ("defective", 3, "merchant"),
        ("too_small", 3, "customer"),
        ("damaged_in_transit", 1, "carrier"),
        ("not_as_described", 1, "merchant"),
    ]
    assert sum(share.share for share in report.reason_mix) == pytest.approx(1.0)


@pytest.mark.usefixtures("history")
async def test_a_shorter_period_counts_only_its_requests_and_its_cohort(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    report = await _report(sessions, until="2026-03-07")
    assert (report.returns, report.returned_units, report.shipped_units) == (4, 9, 21)
    _check(
        report,
        {
            "return_rate": 9 / 21,
            "fault_share": 3 / 9,
            "returnless_rate": 1 / 4,
            "no_show_rate": 1 / 3,
            "cost_per_return": 750 / 2,
            "transit_days": 54 / 24,
        },
    )


@pytest.mark.usefixtures("history")
async def test_a_category_slices_both_sides_and_shares_returns_by_their_lines(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    report = await _report(sessions, category="apparel")
    assert (report.returned_units, report.shipped_units) == (8, 18)
    _check(
        report,
        {
            "return_rate": 7 / 18,
            "fault_share": 1 / 8,
            "sellable_rate": 3 / 7,
            # R1 counts half (one of its two lines is apparel); R2, R4 and R6 whole.
            "returnless_rate": 0.0,
            "no_show_rate": 1 / 3.5,
            "cost_per_return": 650 / 1.5,
            "dock_to_stock_hours": 15.0,
            "revenue_retained": 2000 / 6000,
        },
    )


@pytest.mark.usefixtures("history")
async def test_a_sku(sessions: async_sessionmaker[AsyncSession]) -> None:
    report = await _report(sessions, sku="MUG")
    assert (report.returned_units, report.shipped_units) == (4, 6)
    _check(
        report,
        {
            "return_rate": 4 / 6,
            "fault_share": 1.0,
            # R3 of R1 (half: one of its two lines), R3 and R7.
            "returnless_rate": 1 / 2.5,
            "refund_cycle_hours": (84 + 0.5) / 2,
            "dock_to_stock_hours": None,
            "diversion_rate": 0.0,
        },
    )


@pytest.mark.usefixtures("history")
async def test_a_reason_slices_only_the_returned_side(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    report = await _report(sessions, reason="too_small")
    assert (report.returned_units, report.shipped_units) == (3, 24)
    _check(report, {"return_rate": 2 / 24, "fault_share": 0.0, "sellable_rate": 1.0})
    assert [share.reason for share in report.reason_mix] == ["too_small"]


@pytest.mark.usefixtures("history")
async def test_a_facility_has_no_return_rate(sessions: async_sessionmaker[AsyncSession]) -> None:
    report = await _report(sessions, facility="WH1")
    assert (report.returned_units, report.shipped_units) == (5, 0)
    _check(
        report,
        {
            "return_rate": None,
            "dock_to_stock_hours": 6.0,
            "cost_per_return": 300 / 2,
            "no_show_rate": 1 / 3,
            "transit_days": (48 + 36) / 2 / 24,
        },
    )
    assert report.kpi("return_rate").display == "—"


@pytest.mark.usefixtures("history")
async def test_a_slice_matching_nothing_gives_no_values(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    report = await _report(sessions, category="garden")
    assert (report.returns, report.returned_units, report.shipped_units) == (0, 0, 0)
    assert set(_values(report).values()) == {None}
    assert report.reason_mix == []


@pytest.mark.usefixtures("history")
async def test_money_kpis_need_their_currency(sessions: async_sessionmaker[AsyncSession]) -> None:
    report = await _report(sessions, currency="EUR")
    assert report.currency == "EUR"
    assert report.returned_units == 0
    assert _values(report)["cost_per_return"] is None


@pytest.mark.usefixtures("history")
async def test_series_by_week(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with transaction(sessions) as session:
        points = await service.series(
            session, Filters.parse(**MARCH), ["return_rate", "refund_cycle_hours"], "week"
        )
    assert [point.start for point in points] == [
        date(2026, 2, 23),
        date(2026, 3, 2),
        date(2026, 3, 9),
        date(2026, 3, 16),
        date(2026, 3, 23),
        date(2026, 3, 30),
    ]
    by_start = {point.start: point.values for point in points}
    assert by_start[date(2026, 2, 23)] == {"return_rate": None, "refund_cycle_hours": None}
    # Orders of 2–8 March: O1, O2, O5, O6, O7 shipped 21 units, 9 came back.
    assert by_start[date(2026, 3, 2)]["return_rate"] == pytest.approx(9 / 21)
    assert by_start[date(2026, 3, 2)]["refund_cycle_hours"] == pytest.approx(276.5 / 4)
    # O3's 3 mugs, 2 of them back; R6 and R7 settled nothing.
    assert by_start[date(2026, 3, 9)] == {
        "return_rate": pytest.approx(2 / 3),
        "refund_cycle_hours": None,
    }


@pytest.mark.usefixtures("history")
async def test_breakdown_by_category_and_by_facility(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with transaction(sessions) as session:
        categories = await service.breakdown(session, Filters.parse(**MARCH), "category")
        places = await service.breakdown(session, Filters.parse(**MARCH), "facility")
        reasons = await service.breakdown(session, Filters.parse(**MARCH), "reason", limit=2)
    assert [(row.key, row.returned_units, row.shipped_units) for row in categories] == [
        ("apparel", 8, 18),
        ("home", 4, 6),
    ]
    assert categories[0].kpis["return_rate"] == pytest.approx(7 / 18)
    assert categories[1].kpis["return_rate"] == pytest.approx(4 / 6)
    assert [(row.key, row.label, row.returned_units) for row in places] == [
        ("WH2", "South warehouse", 6),
        ("WH1", "North warehouse", 5),
        ("", "No facility", 1),
    ]
    assert all(row.shipped_units is None and row.kpis["return_rate"] is None for row in places)
    assert [(row.key, row.label) for row in reasons] == [
        ("too_large", "Too large"),
        ("defective", "Defective"),
    ]
    assert reasons[0].kpis["return_rate"] == pytest.approx(4 / 24)


@pytest.mark.usefixtures("history")
async def test_product_counts_are_the_shipment_cohort(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with transaction(sessions) as session:
        counts = await service.product_counts(session, Filters.parse(**MARCH))
    assert [
        (c.sku, c.name, c.category, c.shipped_units, c.shipped_lines, c.returned_units, c.reasons)
        for c in counts
    ] == [
        ("MUG", "Mug", "home", 6, 3, 4, {"defective": 3, "not_as_described": 1}),
        ("SOCK", "Socks", "apparel", 10, 1, 4, {"too_large": 4}),
        ("TEE", "Tee", "apparel", 8, 4, 3, {"too_small": 2, "damaged_in_transit": 1}),
    ]


@pytest.mark.usefixtures("history")
async def test_export_has_one_row_per_return_line(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with transaction(sessions) as session:
        rows = await service.export_rows(session, Filters.parse(**MARCH, facility="WH2"))
    assert [(row["return_number"], row["line"], row["quantity"]) for row in rows] == [
        ("RMA-R2", "TEE", 1),
        ("RMA-R2", "SOCK", 4),
        ("RMA-R6", "TEE", 1),
    ]
    first = rows[0]
    assert (first["order"], first["customer"], first["exchange_minor"], first["refund_minor"]) == (
        "O2",
        "C1",
        2000,
        0,
    )
    assert first["cycle_hours"] == pytest.approx(96.0)
    assert first["received_at"].isoformat() == "2026-03-08T12:00:00+00:00"
