"""``reclaim import …``: bring the shop's data in from files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.cli.common import console, err_console, print_row_errors, with_database
from reclaim.db import transaction
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
