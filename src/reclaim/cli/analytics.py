"""``reclaim analytics …``: rollups and exports."""

from __future__ import annotations

import typer

from reclaim.cli import rollups

analytics_app = typer.Typer(help="Returns analytics: rollups and exports.", no_args_is_help=True)
analytics_app.command("refresh")(rollups.refresh)
analytics_app.command("rebuild")(rollups.rebuild)
