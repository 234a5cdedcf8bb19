"""``reclaim analytics …``: rollups and exports."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.analytics import export
from reclaim.analytics.export import Format, Kind
from reclaim.cli import rollups
from reclaim.cli.common import console, err_console, with_database
from reclaim.cli.report import (
    Category,
    Currency,
    Facility,
    Reason,
    Since,
    Sku,
    Until,
    parse_filters,
)
from reclaim.db import transaction

analytics_app = typer.Typer(help="Returns analytics: rollups and exports.", no_args_is_help=True)
analytics_app.command("refresh")(rollups.refresh)
analytics_app.command("rebuild")(rollups.rebuild)


@analytics_app.command("export")
def export_command(
    what: Annotated[Kind, typer.Argument(help="returns (one row per return line) or kpis")],
    out: Annotated[Path, typer.Option("--out", help="The file to write", dir_okay=False)],
    fmt: Annotated[Format, typer.Option("--format", help="csv or parquet")] = Format.CSV,
    force: Annotated[bool, typer.Option("--force", help="Replace the file if it exists")] = False,
    by_category: Annotated[
        bool, typer.Option("--by-category", help="kpis: add a row per KPI and category")
    ] = False,
    since: Since = None,
    until: Until = None,
    category: Category = None,
    sku: Sku = None,
    reason: Reason = None,
    facility: Facility = None,
    currency: Currency = None,
) -> None:
    """Export returns or KPIs for a period (the last 90 days by default) as CSV or Parquet."""
    filters = parse_filters(
        since=since,
        until=until,
        category=category,
        sku=sku,
        reason=reason,
        facility=facility,
        currency=currency,
    )
    if out.exists() and not force:
        err_console.print(f"[bold red]Error:[/] {out} exists; pass --force to replace it.")
        raise typer.Exit(1)
    if not out.parent.is_dir():
        err_console.print(f"[bold red]Error:[/] there is no folder {out.parent} to write into.")
        raise typer.Exit(1)

    async def _rows(sessions: async_sessionmaker[AsyncSession]) -> list[dict[str, object]]:
        async with transaction(sessions) as session:
            return await export.rows_of(session, what, filters, by_category=by_category)

    with console.status(f"Reading the {what.value}…"):
        rows = with_database(_rows)
    schema = export.schema_of(what)
    # Written beside the target and moved over it at the end: a failed export leaves no half file.
    partial = out.with_name(f".{out.name}.partial")
    try:
        if fmt is Format.PARQUET:
            partial.write_bytes(export.parquet_bytes(rows, schema))
        else:
            with (
                partial.open("w", encoding="utf-8", newline="") as file,
                Progress(
                    TextColumn("Writing"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    console=console,
                    transient=True,
                    disable=what is not Kind.RETURNS,
                ) as progress,
            ):
                task = progress.add_task("rows", total=len(rows))
                for chunk in export.csv_chunks(
                    rows, list(schema), progress=lambda n: progress.advance(task, n)
                ):
                    file.write(chunk)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    what_words = "return lines" if what is Kind.RETURNS else "KPI rows"
    console.print(
        f"Wrote {len(rows):,} {what_words} for {filters.since} to {filters.until} to {out}."
    )
