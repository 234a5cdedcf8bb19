"""``reclaim model …``: models learnt from the merchant's history (the inbound forecast)."""

from __future__ import annotations

import typer

from reclaim.cli import forecast

model_app = typer.Typer(
    help="Models learnt from the history: the inbound forecast.", no_args_is_help=True
)
model_app.command("forecast")(forecast.forecast)
