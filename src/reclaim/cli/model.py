"""``reclaim model …``: the return-risk model (backtest, train) and the inbound forecast."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.analytics.online_retail import read_transactions
from reclaim.cli import forecast
from reclaim.cli.common import console, run, with_database
from reclaim.kit.clock import utcnow
from reclaim.prediction import backtest as bt
from reclaim.prediction import dataset
from reclaim.prediction import service as risk
from reclaim.prediction.models import PredictionModel

model_app = typer.Typer(help="Return-risk model and forecasts.", no_args_is_help=True)
model_app.command("forecast")(forecast.forecast)

DAY = ["%Y-%m-%d"]
TOP_FEATURES = 10
PHASE_WORDS = {
    "read": "Reading the file",
    "features": "Point-in-time features and labels",
    "train": "Training LightGBM and calibrating",
    "baselines": "Fitting the baselines",
    "evaluate": "Scoring the test window",
}


def _number(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def metrics_table(result: bt.BacktestResult) -> Table:
    table = Table(
        title=(
            f"Return-risk backtest: trained before {result.train_until}, "
            f"tested {result.test_from} to {result.test_until} (exclusive)"
        )
    )
    for column in ("Level", "Model"):
        table.add_column(column)
    for column in ("ROC-AUC", "PR-AUC", "Brier", "Rows", "Positives", "Prevalence"):
        table.add_column(column, justify="right")
    for score in result.scores:
        m = score.metrics
        best = all(
            getattr(m, key) is not None
            and all(
                getattr(m, key) >= (getattr(other.metrics, key) or 0.0)
                for other in result.scores
                if other.level == score.level
            )
            for key in ("roc_auc", "pr_auc")
        )
        style = "bold green" if best else None
        table.add_row(
            score.level,
            bt.MODELS[score.model],
            _number(m.roc_auc),
            _number(m.pr_auc),
            _number(m.brier, 4),
            f"{m.rows:,}",
            f"{m.positives:,}",
            "–" if m.prevalence is None else f"{100 * m.prevalence:.2f}%",
            style=style,
        )
    return table


def importance_table(importances: dict[str, dict[str, float]]) -> Table:
    table = Table(title=f"Top {TOP_FEATURES} features (share of LightGBM's gain)")
    table.add_column("#", justify="right")
    for model in ("line", "order"):
        table.add_column(f"{model.capitalize()} model")
        table.add_column("Gain", justify="right")
    tops = {model: list(importances[model].items())[:TOP_FEATURES] for model in ("line", "order")}
    for i in range(TOP_FEATURES):
        cells = [str(i + 1)]
        for model in ("line", "order"):
            name, share = tops[model][i] if i < len(tops[model]) else ("", None)
            cells += [name, "" if share is None else f"{100 * share:.1f}%"]
        table.add_row(*cells)
    return table


@model_app.command("backtest")
def backtest(
    data: Annotated[
        Path,
        typer.Option(
            exists=True, dir_okay=False, readable=True, help="Online Retail .csv or .csv.gz"
        ),
    ],
    train_until: Annotated[
        datetime, typer.Option(formats=DAY, help="Train on lines bought before this day")
    ],
    test_from: Annotated[datetime, typer.Option(formats=DAY, help="First day of the test")],
    test_until: Annotated[
        datetime, typer.Option(formats=DAY, help="Day after the test window (exclusive)")
    ],
    json_out: Annotated[
        Path | None, typer.Option("--json", dir_okay=False, help="Also write the metrics here")
    ] = None,
) -> None:
    """Backtest the return-risk model on a transaction file against two baselines.

    A line counts as returned when the same customer returns the same stock code within
    30 days. Every feature is point in time; training uses only lines whose 30 days had
    passed by --train-until."""

    async def _run() -> bt.BacktestResult:
        bt.check_dates(train_until.date(), test_from.date(), test_until.date())
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=True) as progress:
            phases = ["read", *bt.PHASES]
            task = progress.add_task(PHASE_WORDS["read"], total=len(phases))

            def tell(phase: str) -> None:
                progress.update(task, completed=phases.index(phase), description=PHASE_WORDS[phase])

            history = dataset.from_transactions(read_transactions(data))
            result = bt.run(
                history, train_until.date(), test_from.date(), test_until.date(), progress=tell
            )
            progress.update(task, completed=len(phases))
        return result

    result = run(_run())
    console.print(metrics_table(result))
    console.print(importance_table(result.importances))
    verdict = (
        "[bold green]LightGBM beats both baselines on ROC-AUC and PR-AUC at line and order "
        "level.[/]"
        if result.beats_baselines()
        else "[bold yellow]LightGBM does not beat both baselines on every measure here.[/]"
    )
    console.print(
        f"Trained on {result.training_rows:,} lines ({result.training_positives:,} returned); "
        f"order risk from the {result.order_method.replace('_', ' ')}; {result.seconds:.1f} s."
    )
    console.print(verdict)
    if json_out is not None:
        json_out.write_text(json.dumps({"data": data.name, **result.as_dict()}, indent=2))
        console.print(f"Metrics written to {json_out}.")


@model_app.command("train")
def train(
    until: Annotated[
        datetime | None,
        typer.Option(formats=DAY, help="Use history before this day (default: now)"),
    ] = None,
) -> None:
    """Train the return-risk model on the shop's own orders and returns, and make it live.

    The checkout API and the console score with the newest model from then on."""

    async def _train(sessions: async_sessionmaker[AsyncSession]) -> PredictionModel:
        with console.status("Training the return-risk model…"):
            return await risk.train(sessions, until or utcnow())

    record = with_database(_train)
    holdout = record.metrics
    table = Table(title=f"Return-risk model v{record.version} (now live)")
    table.add_column("Level")
    for column in ("ROC-AUC", "PR-AUC", "Brier", "Rows", "Positives"):
        table.add_column(column, justify="right")
    for level in ("line", "order"):
        m = holdout[level]
        table.add_row(
            level,
            _number(m["roc_auc"]),
            _number(m["pr_auc"]),
            _number(m["brier"], 4),
            f"{m['rows']:,}",
            f"{m['positives']:,}",
        )
    console.print(
        f"Trained on {record.rows:,} order lines bought before "
        f"{record.trained_until:%Y-%m-%d %H:%M} UTC less {dataset.LABEL_WINDOW_DAYS} days."
    )
    console.print(table)
    console.print("Measured on the latest fifth of that history, held back while training.")
    top = [(n, share) for n, share in record.importances.items() if share > 0][:TOP_FEATURES]
    console.print("Top features: " + ", ".join(f"{n} ({100 * s:.1f}%)" for n, s in top))
