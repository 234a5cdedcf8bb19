"""What the return-risk model has to beat, scored on the same lines and orders.

1. The customer's past return rate, point in time and smoothed toward the shop's average:
   per line, their returned lines per line bought; per order, their orders with a return per
   order placed. (Both are features of the model too: ``cust_return_rate`` and
   ``cust_order_return_rate``.)
2. A logistic regression on the same features: each signed-log transformed (counts and money
   span orders of magnitude), missing values set to the training median with an indicator,
   countries one-hot, all standardized.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from reclaim.prediction import features as F
from reclaim.prediction.boosting import encode, from_lines

NUMERIC = tuple(n for n in F.NAMES if n not in F.CATEGORICAL)


def customer_rate_lines(lines: pl.DataFrame) -> np.ndarray:
    return lines.get_column("cust_return_rate").to_numpy()


def customer_rate_orders(lines: pl.DataFrame) -> pl.DataFrame:
    """``order`` → the customer's past share of orders with a return."""
    return lines.group_by("order", maintain_order=True).agg(
        pl.col("cust_order_return_rate").first().alias("probability")
    )


@dataclass
class LogisticBaseline:
    medians: np.ndarray
    scaler: StandardScaler
    model: LogisticRegression
    countries: dict[str, int]

    @staticmethod
    def _design(
        lines: pl.DataFrame, countries: Mapping[str, int], medians: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        raw = encode(lines, NUMERIC, countries)
        logged = np.sign(raw) * np.log1p(np.abs(raw))
        missing = np.isnan(logged)
        fill = (
            np.nanmedian(np.where(missing, np.nan, logged), axis=0) if medians is None else medians
        )
        fill = np.nan_to_num(fill, nan=0.0)
        filled = np.where(missing, fill[np.newaxis, :], logged)
        codes = encode(lines, ("country",), countries)[:, 0].astype(int)
        onehot = np.zeros((lines.height, len(countries) + 1))
        onehot[np.arange(lines.height), codes] = 1.0
        return np.column_stack([filled, missing.astype(float), onehot]), fill

    @classmethod
    def fit(
        cls, lines: pl.DataFrame, truth: np.ndarray, countries: Mapping[str, int]
    ) -> LogisticBaseline:
        design, medians = cls._design(lines, countries, None)
        scaler = StandardScaler().fit(design)
        model = LogisticRegression(C=1.0, max_iter=2000)
        model.fit(scaler.transform(design), np.asarray(truth, dtype=bool))
        return cls(medians, scaler, model, dict(countries))

    def line_probability(self, lines: pl.DataFrame) -> np.ndarray:
        design, _ = self._design(lines, self.countries, self.medians)
        return np.asarray(self.model.predict_proba(self.scaler.transform(design))[:, 1])

    def order_probability(self, lines: pl.DataFrame, line_p: np.ndarray) -> pl.DataFrame:
        return from_lines(lines.select("order").with_columns(pl.Series("probability", line_p)))
