"""Backtest the return-risk model on a transaction history, beside its two baselines.

Train on lines bought before ``train_until - 30 days`` (whose label window had closed by the
cut, so no label peeks past it), score the lines bought in [test_from, test_until) and their
orders, and compare with the baselines on exactly the same rows. Test labels may look past
``test_until`` when the history has the data; features never look past the line itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as clock_time
from typing import Any

import numpy as np
import polars as pl

from reclaim.errors import ValidationFailed
from reclaim.prediction import baselines, dataset
from reclaim.prediction import boosting as B
from reclaim.prediction import features as F
from reclaim.prediction import risk_model as R

MODELS: dict[str, str] = {
    "lightgbm": "LightGBM (calibrated)",
    "customer_rate": "customer's past return rate",
    "logistic": "logistic regression",
}
LEVELS = ("line", "order")
PHASES = ("features", "train", "baselines", "evaluate")


@dataclass(frozen=True, slots=True)
class Score:
    level: str
    model: str
    metrics: B.Metrics


@dataclass(frozen=True)
class BacktestResult:
    train_until: date
    test_from: date
    test_until: date
    scores: list[Score]
    importances: dict[str, dict[str, float]]  # per model ("line", "order"), largest first
    order_method: str
    training_rows: int
    training_positives: int
    holdout: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def score(self, level: str, model: str) -> B.Metrics:
        return next(s.metrics for s in self.scores if s.level == level and s.model == model)

    def beats_baselines(self) -> bool:
        """The model's ROC-AUC and PR-AUC above both baselines', at both levels."""
        for level in LEVELS:
            ours = self.score(level, "lightgbm")
            for other in ("customer_rate", "logistic"):
                theirs = self.score(level, other)
                for metric in ("roc_auc", "pr_auc"):
                    a, b = getattr(ours, metric), getattr(theirs, metric)
                    if a is None or b is None or a <= b:
                        return False
        return True

    def as_dict(self) -> dict[str, Any]:
        return {
            "train_until": self.train_until.isoformat(),
            "test_from": self.test_from.isoformat(),
            "test_until": self.test_until.isoformat(),
            "label_window_days": dataset.LABEL_WINDOW_DAYS,
            "training_rows": self.training_rows,
            "training_positives": self.training_positives,
            "order_method": self.order_method,
            "beats_baselines": self.beats_baselines(),
            "scores": [
                {
                    "level": s.level,
                    "model": s.model,
                    "title": MODELS[s.model],
                    **s.metrics.as_dict(),
                }
                for s in self.scores
            ],
            "importances": self.importances,
            "holdout": self.holdout,
            "seconds": round(self.seconds, 2),
        }


def check_dates(train_until: date, test_from: date, test_until: date) -> None:
    if test_from < train_until:
        raise ValidationFailed(
            f"The test window must start on or after the training cut: --test-from "
            f"{test_from} is before --train-until {train_until}."
        )
    if test_until <= test_from:
        raise ValidationFailed(f"--test-until {test_until} must be after --test-from {test_from}.")


def _start(day: date) -> datetime:
    return datetime.combine(day, clock_time())


def _orders_scored(truth: pl.DataFrame, probability: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    joined = truth.join(probability, on="order", how="left")
    return (
        joined.get_column("returned").to_numpy(),
        joined.get_column("probability").fill_null(0.0).to_numpy(),
    )


def run(
    history: dataset.History,
    train_until: date,
    test_from: date,
    test_until: date,
    progress: Callable[[str], None] = lambda _phase: None,
) -> BacktestResult:
    """Train before the cut, score the test window; ``progress`` hears each phase's name."""
    check_dates(train_until, test_from, test_until)
    started = time.perf_counter()
    cut, first, last = _start(train_until), _start(test_from), _start(test_until)

    progress("features")
    priors = F.priors_of(history.before(cut))
    frame = (
        F.line_features(history, priors)
        .join(history.lines.select("line_ref", "at"), on="line_ref")
        .join(dataset.labels(history), on="line_ref")
    )
    train = frame.filter(pl.col("at") < cut - dataset.LABEL_WINDOW)
    test = frame.filter((pl.col("at") >= first) & (pl.col("at") < last)).sort("at", "order")
    if test.height == 0:
        raise ValidationFailed(
            f"No sale lines with a customer between {test_from} and {test_until}."
        )
    if train.height == 0 or not train.get_column("returned").any():
        raise ValidationFailed(
            f"No returned lines to learn from before {train_until} less the "
            f"{dataset.LABEL_WINDOW_DAYS}-day label window."
        )

    progress("train")
    model = R.fit(train, priors)

    progress("baselines")
    y_train = train.get_column("returned").to_numpy()
    logistic = baselines.LogisticBaseline.fit(train, y_train, model.countries)

    progress("evaluate")
    y = test.get_column("returned").to_numpy()
    ours = model.predict(test)
    line_p = {
        "lightgbm": ours.lines,
        "customer_rate": baselines.customer_rate_lines(test),
        "logistic": logistic.line_probability(test),
    }
    order_p = {
        "lightgbm": ours.orders,
        "customer_rate": baselines.customer_rate_orders(test),
        "logistic": logistic.order_probability(test, line_p["logistic"]),
    }
    truth = R.order_truth(test)
    scores = [Score("line", key, B.evaluate(y, p)) for key, p in line_p.items()]
    for key, probability in order_p.items():
        scores.append(Score("order", key, B.evaluate(*_orders_scored(truth, probability))))
    return BacktestResult(
        train_until=train_until,
        test_from=test_from,
        test_until=test_until,
        scores=scores,
        importances=model.importances(),
        order_method=model.order_method,
        training_rows=model.rows,
        training_positives=model.positives,
        holdout=model.holdout,
        seconds=time.perf_counter() - started,
    )
