"""``reclaim simulate``: a believable merchant's season, driven through every stage."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.cli.common import console, database, live_policy, run
from reclaim.returns.states import Status
from reclaim.simulation.runner import SimulationConfig, Summary, run_simulation


def simulate(
    days: Annotated[int, typer.Option(min=1, max=3650, help="Days of trading to simulate")] = 90,
    orders_per_day: Annotated[
        int, typer.Option(min=1, max=10_000, help="Orders on an ordinary day")
    ] = 40,
    seed: Annotated[int, typer.Option(help="Same seed, same merchant and season")] = 1,
    start: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="First day (default: DAYS ago, ending today)"),
    ] = None,
) -> None:
    """Simulate a merchant's orders and returns through the whole return lifecycle."""
    config = SimulationConfig(
        days=days,
        orders_per_day=orders_per_day,
        seed=seed,
        start=start.date() if start else None,
        policy=live_policy(),
    )

    async def _main() -> Summary:
        async with database() as sessions:
            return await simulate_with_progress(sessions, config)

    print_summary(run(_main()), config)


async def simulate_with_progress(
    sessions: async_sessionmaker[AsyncSession], config: SimulationConfig
) -> Summary:
    columns = (
        TextColumn("[bold]Simulating[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("days"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("", total=config.days)

        def on_day(day: date) -> None:
            progress.update(task, advance=1, description=f"{day:%d %b %Y}")

        return await run_simulation(sessions, config, on_day=on_day)


def print_summary(summary: Summary, config: SimulationConfig) -> None:
    console.print(
        f"\n[bold]{config.days} days from {config.first_day:%d %b %Y}[/]: {summary.orders} orders, "
        f"{summary.units_sold} units sold, {summary.returns} returns "
        f"({summary.units_returned} units), {summary.steps} transactions in "
        f"{summary.seconds:.1f}s."
    )
    by_category = Table(
        "Category", "Units sold", "Units returned", "Return rate", title="Return rate by category"
    )
    for name, stats in sorted(summary.by_category.items(), key=lambda kv: -kv[1].return_rate):
        by_category.add_row(
            name, f"{stats.units_sold:,}", f"{stats.units_returned:,}", f"{stats.return_rate:.1%}"
        )
    rate = summary.units_returned / summary.units_sold if summary.units_sold else 0
    by_category.add_row(
        "[bold]all[/]",
        f"{summary.units_sold:,}",
        f"{summary.units_returned:,}",
        f"[bold]{rate:.1%}[/]",
    )
    console.print(by_category)
    by_status = Table("Status", "Returns", title="Returns by status")
    for status in Status:
        if summary.by_status.get(status):
            by_status.add_row(status.value, f"{summary.by_status[status]:,}")
    by_status.add_row("[bold]all[/]", f"{summary.returns:,}")
    console.print(by_status)
    if summary.refused:
        console.print("[yellow]Steps the service refused:[/]")
        for what, count in summary.refused.most_common():
            console.print(f"  {what}: {count}")
