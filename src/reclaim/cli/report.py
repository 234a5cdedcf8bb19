"""``reclaim report``: the returns dashboard in the terminal.

The KPIs with their change on the previous period and what each means, the reason mix as bars,
the findings stated as actions, the products returned too often, and the inbound forecast's
weekly totals: the same services the console's dashboard reads, so the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.analytics import comparison, findings_service, service
from reclaim.analytics.definitions import KPIS, reason_label
from reclaim.analytics.filters import Filters
from reclaim.analytics.findings_service import Finding, ProductRate
from reclaim.cli.common import console, err_console, with_database
from reclaim.db import transaction
from reclaim.errors import ReclaimError
from reclaim.kit import clock
from reclaim.prediction import forecast_service
from reclaim.prediction.forecast_service import FacilityForecast

Since = Annotated[
    str | None,
    typer.Option(
        help="First day, YYYY-MM-DD [default: 90 days before --until]", show_default=False
    ),
]
Until = Annotated[
    str | None, typer.Option(help="Last day, inclusive [default: today]", show_default=False)
]
Category = Annotated[str | None, typer.Option(help="Only this product category")]
Sku = Annotated[str | None, typer.Option(help="Only this SKU")]
Reason = Annotated[str | None, typer.Option(help="Only this reason code, e.g. too_small")]
Facility = Annotated[str | None, typer.Option(help="Only returns to this facility (its code)")]
Currency = Annotated[str | None, typer.Option(help="Only this currency, e.g. GBP")]

BAR_WIDTH = 30
EIGHTHS = " ▏▎▍▌▋▊▉"
FINDINGS_SHOWN = 5
PRODUCTS_SHOWN = 10
HORIZON = 28
TONE = {"good": "green", "bad": "red", "flat": "dim"}
FAULT_COLOUR = {"customer": "blue", "merchant": "red", "carrier": "yellow", "review": "magenta"}
EMPTY = (
    "No returns in this period: widen the dates (--since, --until), drop a filter, or import "
    "history with 'reclaim import online-retail FILE'."
)


def parse_filters(**typed: Any) -> Filters:
    """The filters from the options; bad ones stop the command, saying which and why."""
    try:
        return Filters.parse(**typed)
    except ReclaimError as error:
        err_console.print(f"[bold red]Error:[/] {error.message}")
        raise typer.Exit(2) from error


def bar(share: float, width: int = BAR_WIDTH) -> str:
    """A share of 1 as a bar of block characters, to an eighth of a character."""
    eighths = round(max(0.0, min(share, 1.0)) * width * 8)
    return "█" * (eighths // 8) + (EIGHTHS[eighths % 8] if eighths % 8 else "")


@dataclass(frozen=True)
class _Read:
    report: service.KpiReport
    before: service.KpiReport
    findings: list[Finding]
    flagged: list[ProductRate]
    forecasts: list[FacilityForecast]
    forecast_from: date
    refreshed: str | None
    notes: list[str]


async def _read(sessions: async_sessionmaker[AsyncSession], filters: Filters) -> _Read:
    notes: list[str] = []
    findings: list[Finding] = []
    flagged: list[ProductRate] = []
    forecasts: list[FacilityForecast] = []
    start = min(clock.utcnow().date(), filters.until + timedelta(days=1))
    async with transaction(sessions) as session:
        report = await service.report(session, filters)
        before = await service.report(session, filters.previous())
        refreshed = await service.refreshed_at(session)
        try:
            read = await findings_service.evidence(session, filters)
            findings = await findings_service.findings(session, filters, read)
            flagged = await findings_service.product_rates(
                session, filters, limit=PRODUCTS_SHOWN, flagged=True, read=read
            )
        except ReclaimError as error:
            notes.append(f"Findings: {error.message}")
        try:
            forecasts = await forecast_service.forecast_inbound(
                session, start, HORIZON, facility=filters.facility
            )
        except ReclaimError as error:
            notes.append(f"Forecast: {error.message}")
    when = f"{clock.as_utc(refreshed):%Y-%m-%d %H:%M} UTC" if refreshed else None
    return _Read(report, before, findings, flagged, forecasts, start, when, notes)


def report(
    since: Since = None,
    until: Until = None,
    category: Category = None,
    sku: Sku = None,
    reason: Reason = None,
    facility: Facility = None,
    currency: Currency = None,
) -> None:
    """The returns KPIs, reason mix, findings, products returned too often and the inbound
    forecast, for a period (the last 90 days by default) and optional slices."""
    filters = parse_filters(
        since=since,
        until=until,
        category=category,
        sku=sku,
        reason=reason,
        facility=facility,
        currency=currency,
    )
    read = with_database(lambda sessions: _read(sessions, filters))
    _heading(filters, read)
    if read.report.returns == 0:
        console.print(EMPTY)
        return
    _kpis(read, filters)
    _reasons(read.report)
    _findings(read.findings)
    _flagged(read.flagged)
    _forecast(read)
    for note in read.notes:
        console.print(f"[dim]{note}[/]")


def _span(filters: Filters) -> str:
    return f"{filters.since:%d %b %Y} – {filters.until:%d %b %Y}"


def _heading(filters: Filters, read: _Read) -> None:
    sliced = [
        f"{name} {value}"
        for name, value in (
            ("category", filters.category),
            ("SKU", filters.sku),
            ("reason", filters.reason),
            ("facility", filters.facility),
            ("currency", filters.currency),
        )
        if value
    ]
    console.print(
        f"[bold]Returns {_span(filters)}[/]"
        + (f" ({', '.join(sliced)})" if sliced else "")
        + f", against {_span(filters.previous())}"
    )
    report = read.report
    console.print(
        f"{report.returns:,} returns, {report.returned_units:,} units returned, "
        f"{report.shipped_units:,} units shipped"
        + (f"; money in {report.currency}" if report.currency else "")
        + (f". Figures as of {read.refreshed}." if read.refreshed else ".")
    )


def _kpis(read: _Read, filters: Filters) -> None:
    before = {kpi.key: kpi.value for kpi in read.before.kpis}
    table = Table("KPI", "Value", "Change", "What it is", title="Key figures", title_justify="left")
    for defn in KPIS:
        kpi = read.report.kpi(defn.key)
        moved = comparison.change(defn, kpi.value, before.get(defn.key), filters.days)
        shown = f"[{TONE[moved.tone]}]{moved.arrow} {moved.words}[/]" if moved else ""
        table.add_row(defn.title, kpi.display, shown, defn.definition)
    console.print(table)


def _reasons(report: service.KpiReport) -> None:
    if not report.reason_mix:
        return
    table = Table(
        "Reason", "", "Share", "Units", title="Why things come back", title_justify="left"
    )
    # The commonest reason fills the bar; the others are drawn to its scale.
    most = max(item.share for item in report.reason_mix)
    for item in report.reason_mix:
        colour = FAULT_COLOUR.get(item.fault, "white")
        table.add_row(
            f"{item.label} [dim]({item.fault})[/]",
            f"[{colour}]{bar(item.share / most)}[/]",
            f"{item.share * 100:.1f}%",
            f"{item.units:,}",
        )
    console.print(table)


def _findings(found: list[Finding]) -> None:
    if not found:
        console.print("[bold]What to act on[/]: nothing stands out in this period.")
        return
    console.print("[bold]What to act on[/]")
    for i, finding in enumerate(found[:FINDINGS_SHOWN], 1):
        console.print(f" {i}. {finding.headline}", soft_wrap=True)
        if finding.action not in finding.headline:
            console.print(f"    [green]→ {finding.action}[/]", soft_wrap=True)


def _flagged(rates: list[ProductRate]) -> None:
    if not rates:
        console.print("[bold]Frequently returned[/]: no product stands out.")
        return
    table = Table(
        "SKU",
        "Product",
        "Return rate",
        "90% interval",
        "Category's",
        "Returned",
        "Shipped",
        "Top reason",
        title="Frequently returned",
        title_justify="left",
    )
    for rate in rates:
        estimate = rate.estimate
        table.add_row(
            rate.sku,
            rate.name,
            f"{estimate.mean * 100:.1f}%",
            f"{estimate.low * 100:.1f}–{estimate.high * 100:.1f}%",
            f"{rate.category_rate * 100:.1f}%",
            f"{estimate.returned:,}",
            f"{estimate.shipped:,}",
            reason_label(rate.top_reason) if rate.top_reason else "",
        )
    console.print(table)


def _forecast(read: _Read) -> None:
    if not read.forecasts:
        console.print("[bold]Inbound forecast[/]: no facility received returns to learn from.")
        return
    start = read.forecast_from
    weeks = [start + timedelta(days=7 * i) for i in range(HORIZON // 7)]
    table = Table(
        "Facility",
        *(f"Week of {week:%d %b}" for week in weeks),
        title=f"Inbound forecast: returns expected from {start:%d %b %Y}",
        title_justify="left",
    )
    for facility in read.forecasts:
        totals = [
            sum(day.expected for day in facility.days[i * 7 : i * 7 + 7]) for i in range(len(weeks))
        ]
        table.add_row(facility.name, *(f"{total:,.0f}" for total in totals))
    console.print(table)
