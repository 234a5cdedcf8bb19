"""``reclaim model …``: the return-risk model and the inbound forecast."""

from __future__ import annotations

import typer

from reclaim.cli import forecast

model_app = typer.Typer(help="Return-risk model and forecasts.", no_args_is_help=True)
model_app.command("forecast")(forecast.forecast)
