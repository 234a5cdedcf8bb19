"""``reclaim import …``: bring the shop's data in from files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, TaskID
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.analytics.online_retail import unmatched_rows, unmatched_summary
from reclaim.analytics.retail_import import ImportReport, import_file
from reclaim.cli.common import console, err_console, print_row_errors, with_database
from reclaim.db import transaction
from reclaim.kit.money import Money
from reclaim.orders import importer
from reclaim.orders.service import upsert_order

import_app = typer.Typer(help="Import the shop's data.", no_args_is_help=True)


@import_app.command("orders")
def import_orders(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help=".csv or .jsonl")
    ],
) -> None:
    """Import orders (created or updated by order id). All of the file, or none of it."""
    parsed = importer.parse_file(file)
    if parsed.errors:
        err_console.print(
            f"[bold red]{file.name}: {len(parsed.errors)} bad row(s); nothing was imported.[/]"
        )
        print_row_errors(parsed.errors)
        err_console.print("Fix the rows above and run the import again.")
        raise typer.Exit(1)

    async def _write(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
        created = 0
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("Importing orders", total=len(parsed.orders))
            async with transaction(sessions) as session:
                for order in parsed.orders:
                    created += (await upsert_order(session, order)).created
                    progress.advance(task)
        return created, len(parsed.orders) - created

    created, updated = with_database(_write)
    console.print(
        f"Imported {len(parsed.orders)} order(s) from {parsed.rows} row(s): "
        f"{created} new, {updated} updated."
    )


@import_app.command("online-retail")
def import_online_retail(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="Online Retail .csv or .csv.gz"
        ),
    ],
    currency: Annotated[str, typer.Option(help="ISO currency of the file's prices")] = "GBP",
    facility: Annotated[
        str | None,
        typer.Option(help="Facility code the returns came back to (default: first warehouse)"),
    ] = None,
    unmatched: Annotated[
        Path | None,
        typer.Option(dir_okay=False, help="Write every cancellation line that made no return"),
    ] = None,
) -> None:
    """Import a real merchant's history: customers, products, orders and their returns.

    Cancellation invoices become completed, refunded returns matched to the customer's
    earlier purchases. Malformed rows are skipped and listed; a second run adds nothing.
    No e-mails or webhooks are sent for imported history."""

    async def _import(sessions: async_sessionmaker[AsyncSession]) -> ImportReport:
        with Progress(console=console, transient=True) as progress:
            tasks: dict[str, TaskID] = {}

            def tell(phase: str, done: int, total: int) -> None:
                if phase not in tasks:
                    tasks[phase] = progress.add_task(phase.capitalize(), total=total)
                progress.update(tasks[phase], completed=done, total=total)

            return await import_file(
                sessions, file, currency=currency, facility_code=facility, progress=tell
            )

    report = with_database(_import)
    _print_report(report)
    if unmatched is not None:
        unmatched_rows(report.unmatched).write_csv(unmatched)
        console.print(f"Unmatched cancellation lines written to {unmatched}.")


def _print_report(report: ImportReport) -> None:
    def money(minor: int) -> str:
        return Money(minor, report.currency).format()

    table = Table(title="Online Retail import", show_header=True)
    table.add_column("What")
    table.add_column("Count", justify="right")
    table.add_column("Notes")
    table.add_row("rows read", str(report.rows), f"{len(report.problems)} malformed, skipped")
    table.add_row("customers", str(report.customers), "new")
    table.add_row("products", str(report.products), "new")
    table.add_row("orders", str(report.orders), f"new; {report.existing_orders} already there")
    table.add_row("order lines", str(report.lines), "")
    table.add_row(
        "returns",
        str(report.returns),
        f"new, {money(report.refunded_minor)} refunded; {report.existing_returns} already there",
    )
    table.add_row("return units", str(report.return_units), "")
    table.add_row("anonymous rows", str(report.anonymous_rows), "no customer id: skipped")
    table.add_row("charge rows", str(report.charge_rows), "fees, samples, vouchers: skipped")
    table.add_row(
        "invoices without goods", str(report.orders_without_goods), "only charges: skipped"
    )
    by_reason = unmatched_summary(report.unmatched)
    for reason, lines, units, example in by_reason:
        table.add_row(f"unmatched: {reason}", str(lines), f"{units} units; e.g. {example}")
    if report.capped:
        capped = sum(c.asked_minor - c.refunded_minor for c in report.capped)
        table.add_row(
            "refunds capped", str(len(report.capped)), f"{money(capped)} above what was paid"
        )
    if report.conflicting_units:
        table.add_row(
            "units in conflict",
            str(report.conflicting_units),
            "bought on orders already here that don't hold them: not returned from there",
        )
    table.add_row("facility", report.facility or "none", "where the returns came back to")
    table.add_row("elapsed", f"{report.seconds:.1f} s", "")
    console.print(table)
    if report.problems:
        err_console.print(f"{len(report.problems)} malformed row(s) skipped:")
        print_row_errors(report.problems)
