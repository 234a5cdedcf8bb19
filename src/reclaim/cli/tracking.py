"""``reclaim tracking import FILE``: a carrier's scans from a CSV file.

Unlike orders, scans are applied row by row: a bad row is reported and skipped, the good ones
still count (each is de-duplicated, so importing the file again is harmless). Rows are
written in chunks, one transaction per chunk.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.cli.common import console, err_console, print_row_errors, with_database
from reclaim.config import get_settings
from reclaim.db import transaction
from reclaim.kit.clock import utcnow
from reclaim.logistics import tracking
from reclaim.logistics.carriers import carrier
from reclaim.logistics.tracking_service import Change, Outcome, ScanResult, record_scans
from reclaim.orders.importer import RowError, read_text

tracking_app = typer.Typer(help="Carrier tracking events.", no_args_is_help=True)
CHUNK = 200


def _read(path: Path, chosen: str) -> tracking.ParsedScans:
    text, unreadable = read_text(path)
    if unreadable:
        return tracking.ParsedScans(errors=unreadable)
    return tracking.parse_csv(text, carrier(chosen).parse_event)


@tracking_app.command("import")
def import_tracking(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            readable=True,
            help="CSV: "
            + ", ".join(tracking.CSV_COLUMNS)
            + " (occurred_at in ISO-8601 with a time zone)",
        ),
    ],
) -> None:
    """Record a carrier's scans; bad rows are listed and skipped, the rest applied."""
    chosen = get_settings().carrier
    parsed = _read(file, chosen)
    if parsed.unreadable:
        err_console.print(f"[bold red]{file.name}: nothing could be read; nothing was imported.[/]")
        print_row_errors(parsed.errors)
        err_console.print("Fix the file and run the import again.")
        raise typer.Exit(1)

    async def _write(sessions: async_sessionmaker[AsyncSession]) -> list[ScanResult]:
        results: list[ScanResult] = []
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("Recording scans", total=len(parsed.scans))
            for start in range(0, len(parsed.scans), CHUNK):
                chunk = [scan for _, scan in parsed.scans[start : start + CHUNK]]
                async with transaction(sessions) as session:
                    results += await record_scans(
                        session, chunk, "csv", utcnow(), carrier=carrier(chosen).name
                    )
                progress.advance(task, len(chunk))
        return results

    results = with_database(_write)
    unknown = [
        RowError(line, result.message)
        for (line, _), result in zip(parsed.scans, results, strict=True)
        if result.outcome is Outcome.UNKNOWN
    ]
    problems = sorted(parsed.errors + unknown, key=lambda error: error.line)
    if problems:
        err_console.print(f"[bold yellow]{file.name}: {len(problems)} row(s) skipped:[/]")
        print_row_errors(problems)
    _summary(parsed, results)


def _summary(parsed: tracking.ParsedScans, results: list[ScanResult]) -> None:
    outcomes = Counter(result.outcome for result in results)
    changes = Counter(change for result in results for change in result.changes)
    table = Table("Rows", "Count", title=f"{parsed.rows} row(s) read")
    for label, number in (
        ("Stored", outcomes[Outcome.STORED] + outcomes[Outcome.IGNORED]),
        ("Duplicates", outcomes[Outcome.DUPLICATE]),
        ("Moved to in transit", changes[Change.IN_TRANSIT]),
        ("Arrived", changes[Change.ARRIVED]),
        ("Flagged for staff", changes[Change.ATTENTION]),
        ("For closed or received returns", outcomes[Outcome.IGNORED]),
        ("Unknown tracking numbers", outcomes[Outcome.UNKNOWN]),
        ("Bad rows", len(parsed.errors)),
    ):
        table.add_row(label, str(number))
    console.print(table)
