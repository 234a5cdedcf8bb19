"""The parts the return-risk model is built from: LightGBM boosters and their settings,
Platt calibration, risk bands, the feature matrix, and the metrics it is judged by."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import polars as pl
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from reclaim.errors import ValidationFailed
from reclaim.prediction import features as F

Band = Literal["low", "medium", "high"]

LEARNING_RATE = 0.05
MAX_ROUNDS = 600
PATIENCE = 100
# Countries with fewer training lines than this share one "other" code.
MIN_COUNTRY_LINES = 100
# Bands by rank on the holdout: the riskiest tenth is high, the next fifth medium.
HIGH_SHARE = 0.10
MEDIUM_SHARE = 0.30
SEED = 7
# No line is ever certain to stay or to come back.
PROBABILITY_FLOOR = 1e-6


def booster_params(rows: int, names: Sequence[str], increasing: frozenset[str]) -> dict[str, Any]:
    """Small, shrunk trees on random halves of the features: the signal is a few percent of
    lines coming back, so anything bigger learns the training months' accidents."""
    return {
        "objective": "binary",
        "learning_rate": LEARNING_RATE,
        "num_leaves": 15,
        # About 0.5% of the rows per leaf, between 20 and 100.
        "min_data_in_leaf": max(20, min(100, rows // 200)),
        "feature_fraction": 0.5,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 10.0,
        "extra_trees": True,
        "monotone_constraints": [1 if n in increasing else 0 for n in names],
        "monotone_constraints_method": "basic",
        "seed": SEED,
        "deterministic": True,
        "force_row_wise": True,
        "verbose": -1,
    }


@dataclass(frozen=True, slots=True)
class Metrics:
    roc_auc: float | None
    pr_auc: float | None
    brier: float | None
    rows: int
    positives: int

    @property
    def prevalence(self) -> float | None:
        return self.positives / self.rows if self.rows else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "roc_auc": self.roc_auc,
            "pr_auc": self.pr_auc,
            "brier": self.brier,
            "rows": self.rows,
            "positives": self.positives,
            "prevalence": self.prevalence,
        }


def evaluate(truth: np.ndarray, probability: np.ndarray) -> Metrics:
    """ROC-AUC, average precision and Brier score; the ranking ones are None when only one
    class is present (they mean nothing then)."""
    y = np.asarray(truth, dtype=bool)
    p = np.asarray(probability, dtype=float)
    positives = int(y.sum())
    both = 0 < positives < len(y)
    return Metrics(
        roc_auc=float(roc_auc_score(y, p)) if both else None,
        pr_auc=float(average_precision_score(y, p)) if both else None,
        brier=float(brier_score_loss(y, p, labels=[False, True])) if len(y) else None,
        rows=len(y),
        positives=positives,
    )


@dataclass(frozen=True, slots=True)
class Platt:
    """p = 1 / (1 + exp(−(slope · score + intercept))) on a booster's raw score."""

    slope: float
    intercept: float

    @classmethod
    def fit(cls, score: np.ndarray, truth: np.ndarray) -> Platt:
        y = np.asarray(truth, dtype=bool)
        if y.all() or not y.any():
            raise ValidationFailed("The calibration slice needs both returned and kept lines.")
        # A little regularisation keeps the slope finite when the slice separates perfectly.
        model = LogisticRegression(C=1.0, max_iter=1000)
        model.fit(np.asarray(score, dtype=float).reshape(-1, 1), y)
        return cls(float(model.coef_[0][0]), float(model.intercept_[0]))

    def apply(self, score: np.ndarray) -> np.ndarray:
        z = self.slope * np.asarray(score, dtype=float) + self.intercept
        return np.asarray(np.clip(expit(z), PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR))

    def as_dict(self) -> dict[str, float]:
        return {"slope": self.slope, "intercept": self.intercept}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Platt:
        return cls(float(data["slope"]), float(data["intercept"]))


@dataclass(frozen=True, slots=True)
class Bands:
    """Probability thresholds: at or above ``high`` is high, at or above ``medium`` medium."""

    medium: float
    high: float

    @classmethod
    def from_holdout(cls, probability: np.ndarray) -> Bands:
        p = np.asarray(probability, dtype=float)
        return cls(
            medium=float(np.quantile(p, 1 - MEDIUM_SHARE)),
            high=float(np.quantile(p, 1 - HIGH_SHARE)),
        )

    def of(self, probability: float) -> Band:
        if probability >= self.high:
            return "high"
        if probability >= self.medium:
            return "medium"
        return "low"


def logit(probability: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(probability, dtype=float), PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)
    return np.asarray(np.log(p / (1 - p)))


def encode(frame: pl.DataFrame, names: Sequence[str], countries: Mapping[str, int]) -> np.ndarray:
    """The feature matrix LightGBM reads: floats with NaN for unknown, countries as codes
    (any country not seen in training is "other"). One polars select, not one per column:
    scoring a single order is dominated by per-call overhead."""
    if not names:
        return np.empty((frame.height, 0))
    other = float(len(countries))
    known = list(countries)
    codes = [float(countries[c]) for c in known]

    def column(name: str) -> pl.Expr:
        if name in F.CATEGORICAL:
            value = pl.col(name).cast(pl.String)
            coded = value.replace_strict(known, codes, default=other, return_dtype=pl.Float64)
            return coded.fill_null(other).alias(name)
        return pl.col(name).cast(pl.Float64).fill_null(float("nan"))

    return frame.select([column(name) for name in names]).to_numpy().astype(float, copy=False)


def country_codes(countries: pl.Series) -> dict[str, int]:
    counts = countries.drop_nulls().value_counts(sort=True)
    common = counts.filter(pl.col("count") >= MIN_COUNTRY_LINES).get_column(countries.name)
    return {str(name): code for code, name in enumerate(sorted(common.to_list()))}


def train(
    matrix: np.ndarray,
    truth: np.ndarray,
    names: Sequence[str],
    increasing: frozenset[str],
    rounds: int,
    valid: tuple[np.ndarray, np.ndarray] | None = None,
) -> lgb.Booster:
    params = booster_params(len(truth), names, increasing)
    categorical = [i for i, n in enumerate(names) if n in F.CATEGORICAL]
    data = lgb.Dataset(
        matrix,
        np.asarray(truth, dtype=float),
        feature_name=list(names),
        categorical_feature=categorical,
        free_raw_data=False,
    )
    if valid is None:
        return lgb.train(params, data, num_boost_round=rounds)
    held = lgb.Dataset(valid[0], np.asarray(valid[1], dtype=float), reference=data)
    return lgb.train(
        params,
        data,
        num_boost_round=rounds,
        valid_sets=[held],
        callbacks=[lgb.early_stopping(PATIENCE, verbose=False)],
    )


def importances(booster: lgb.Booster) -> dict[str, float]:
    """Each feature's share of the total gain, largest first."""
    gain = booster.feature_importance(importance_type="gain")
    total = float(gain.sum()) or 1.0
    pairs = sorted(zip(booster.feature_name(), gain, strict=True), key=lambda kv: -kv[1])
    return {name: float(value) / total for name, value in pairs}


def from_lines(line_probability: pl.DataFrame) -> pl.DataFrame:
    """``order`` → the chance at least one of its lines comes back, if lines were independent."""
    return line_probability.group_by("order", maintain_order=True).agg(
        (1.0 - (1.0 - pl.col("probability")).product()).alias("probability")
    )
