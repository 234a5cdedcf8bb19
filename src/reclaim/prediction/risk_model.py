"""The return-risk model: how likely each line, and each order, is to come back.

Returns come in two kinds, and the model says so. Most orders with a return give back one or
two lines; some come back whole or nearly (a cancelled or duplicated order). So three
LightGBM boosters are trained:

- ``orders``: will any line of this order come back? (the order-level answer)
- ``mass``: will at least half its lines come back?
- ``within``: if the order comes back only in part, is it this line?

and a line's chance is P(mass) × (share of lines a mass return gives back) + P(in part) ×
P(this line | in part), recalibrated. A history too small to show enough orders coming back
whole does without the mass model (a line is then P(any) × P(this line | any comes back)).

Training holds back the latest :data:`VALIDATION_SHARE` of the lines: the boosters stop
adding trees when that slice stops improving, Platt scalings
fitted on it turn scores into probabilities (monotone, so they never reorder anything), and it
decides whether an order's risk is best told by the order model or by its lines'
(1 − Π(1 − p), recalibrated). Then every booster is trained again on all the lines with the
rounds found, so the latest history counts too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import polars as pl

from reclaim.errors import ValidationFailed
from reclaim.prediction import boosting as B
from reclaim.prediction import features as F
from reclaim.prediction.features import Priors

OrderMethod = Literal["order_model", "from_lines"]

VALIDATION_SHARE = 0.2
# An order "comes back whole" when at least this share of its lines is returned.
MASS_SHARE = 0.5
# Below this many cases in either slice a part can't be learned; training says so.
MIN_CASES = 3


@dataclass
class Scorer:
    """One calibrated booster over named features."""

    booster: lgb.Booster
    platt: B.Platt
    names: tuple[str, ...]

    def matrix(self, frame: pl.DataFrame, countries: dict[str, int]) -> np.ndarray:
        return B.encode(frame, self.names, countries)

    def probability(self, frame: pl.DataFrame, countries: dict[str, int]) -> np.ndarray:
        raw = self.booster.predict(self.matrix(frame, countries), raw_score=True)
        return self.platt.apply(np.asarray(raw))

    def contributions(self, frame: pl.DataFrame, countries: dict[str, int]) -> np.ndarray:
        """Per row and feature, how far it moved the score (log-odds); the last column is
        the starting value."""
        matrix = self.matrix(frame, countries)
        return np.asarray(self.booster.predict(matrix, pred_contrib=True))


@dataclass(frozen=True)
class Prediction:
    lines: np.ndarray  # calibrated, aligned with the input lines
    orders: pl.DataFrame  # order, probability


@dataclass
class RiskModel:
    orders: Scorer
    mass: Scorer | None
    within: Scorer
    mass_share: float
    line_platt: B.Platt
    order_method: OrderMethod
    joint_platt: B.Platt
    countries: dict[str, int]
    priors: Priors
    line_bands: B.Bands
    order_bands: B.Bands
    holdout: dict[str, Any] = field(default_factory=dict)
    rows: int = 0
    positives: int = 0

    def predict(self, lines: pl.DataFrame) -> Prediction:
        """For rows of :func:`features.line_features` (whole orders)."""
        mixture, whole = _mixture(self, lines)
        line_p = self.line_platt.apply(B.logit(mixture))
        if self.order_method == "order_model":
            return Prediction(line_p, whole.select("order", pl.col("any").alias("probability")))
        return Prediction(line_p, _joint(lines, line_p, self.joint_platt))

    def importances(self) -> dict[str, dict[str, float]]:
        return {
            "line": B.importances(self.within.booster),
            "order": B.importances(self.orders.booster),
        }


def _order_parts(model: RiskModel, lines: pl.DataFrame) -> pl.DataFrame:
    orders = F.order_features(lines)
    p_mass = (
        model.mass.probability(orders, model.countries)
        if model.mass is not None
        else np.zeros(orders.height)
    )
    return orders.select("order").with_columns(
        pl.Series("any", model.orders.probability(orders, model.countries)),
        pl.Series("mass", p_mass),
    )


def _mixture(model: RiskModel, lines: pl.DataFrame) -> tuple[np.ndarray, pl.DataFrame]:
    whole = _order_parts(model, lines)
    per_line = lines.select("order").join(whole, on="order", how="left", maintain_order="left")
    p_any = per_line.get_column("any").to_numpy()
    p_mass = np.minimum(per_line.get_column("mass").to_numpy(), p_any)
    p_within = model.within.probability(lines, model.countries)
    return p_mass * model.mass_share + (p_any - p_mass) * p_within, whole


def _joint(lines: pl.DataFrame, line_p: np.ndarray, platt: B.Platt) -> pl.DataFrame:
    joint = B.from_lines(lines.select("order").with_columns(pl.Series("probability", line_p)))
    p = platt.apply(B.logit(joint.get_column("probability").to_numpy()))
    return joint.with_columns(pl.Series("probability", p))


def time_split(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The earlier lines and the latest :data:`VALIDATION_SHARE` of them, split between two
    instants so no order is cut in half."""
    ordered = frame.sort("at", "order", "line_ref")
    edge = ordered.get_column("at")[math.floor(ordered.height * (1 - VALIDATION_SHARE))]
    return ordered.filter(pl.col("at") < edge), ordered.filter(pl.col("at") >= edge)


def order_outcomes(frame: pl.DataFrame) -> pl.DataFrame:
    """Per order: ``any`` line returned, ``mass`` (at least :data:`MASS_SHARE` of them), and
    ``partial`` (some, but fewer)."""
    share = pl.col("returned").mean()
    return frame.group_by("order", maintain_order=True).agg(
        pl.col("returned").any().alias("any"),
        (share >= MASS_SHARE).alias("mass"),
        ((share > 0) & (share < MASS_SHARE)).alias("partial"),
    )


def order_truth(frame: pl.DataFrame) -> pl.DataFrame:
    return order_outcomes(frame).select("order", pl.col("any").alias("returned"))


def _lines_of(frame: pl.DataFrame, outcome: str) -> pl.DataFrame:
    """The lines of orders with this outcome (``partial``, or ``any``)."""
    chosen = order_outcomes(frame).filter(pl.col(outcome)).get_column("order")
    return frame.filter(pl.col("order").is_in(chosen.implode()))


def _learnable(*truths: np.ndarray) -> bool:
    return all(
        int(np.sum(y)) >= MIN_CASES and int(np.sum(~np.asarray(y, dtype=bool))) >= MIN_CASES
        for y in truths
    )


@dataclass(frozen=True)
class _Part:
    """One booster's training on the earlier slice, checked on the later one."""

    booster: lgb.Booster  # predicts with its best round
    rounds: int
    platt: B.Platt
    late_p: np.ndarray


def _probe(
    what: str,
    early: tuple[np.ndarray, np.ndarray],
    late: tuple[np.ndarray, np.ndarray],
    names: Sequence[str],
    increasing: frozenset[str],
) -> _Part:
    for (_, y), words in ((early, "earlier"), (late, "later")):
        if not _learnable(y):
            raise ValidationFailed(
                f"Too little history to learn {what}: the {words} part of it has fewer than "
                f"{MIN_CASES} cases each way."
            )
    probe = B.train(early[0], early[1], names, increasing, B.MAX_ROUNDS, late)
    rounds = max(1, probe.best_iteration or B.MAX_ROUNDS)
    raw = np.asarray(probe.predict(late[0], num_iteration=rounds, raw_score=True))
    platt = B.Platt.fit(raw, late[1])
    return _Part(probe, rounds, platt, platt.apply(raw))


def fit(frame: pl.DataFrame, priors: Priors) -> RiskModel:
    """Train on ``frame``: :func:`features.line_features` rows with ``at`` and the settled
    ``returned`` label."""
    early, late = time_split(frame)
    if early.height == 0 or late.height == 0:
        raise ValidationFailed("Too little history to hold a later slice back for calibration.")
    countries = B.country_codes(frame.get_column("country"))
    o_names, l_names = F.ORDER_NAMES, F.NAMES

    def orders_of(part: pl.DataFrame) -> tuple[np.ndarray, pl.DataFrame]:
        return B.encode(F.order_features(part), o_names, countries), order_outcomes(part)

    xo_early, out_early = orders_of(early)
    xo_late, out_late = orders_of(late)

    def outcome(out: pl.DataFrame, key: str) -> np.ndarray:
        return out.get_column(key).to_numpy()

    any_part = _probe(
        "which orders come back",
        (xo_early, outcome(out_early, "any")),
        (xo_late, outcome(out_late, "any")),
        o_names,
        F.ORDER_INCREASING,
    )
    whole = (outcome(out_early, "mass"), outcome(out_late, "mass"))
    mass_part = (
        _probe(
            "which orders come back whole",
            (xo_early, whole[0]),
            (xo_late, whole[1]),
            o_names,
            F.ORDER_INCREASING,
        )
        if _learnable(*whole)
        else None
    )
    # Which line of an order that comes back in part; or, without a mass model, of any
    # order that comes back.
    among = "partial" if mass_part is not None else "any"
    in_part_early, in_part_late = _lines_of(early, among), _lines_of(late, among)
    within_part = _probe(
        "which lines of an order come back",
        (B.encode(in_part_early, l_names, countries), in_part_early["returned"].to_numpy()),
        (B.encode(in_part_late, l_names, countries), in_part_late["returned"].to_numpy()),
        l_names,
        F.INCREASING,
    )
    whole_lines = frame.join(
        order_outcomes(frame).filter(pl.col("mass")).select("order"), on="order"
    )
    mass_share = float(whole_lines.select(pl.col("returned").mean()).item() or 1.0)

    # The later slice's probes, combined: what calibrates the lines and picks the order method.
    probe_model = RiskModel(
        orders=Scorer(any_part.booster, any_part.platt, o_names),
        mass=Scorer(mass_part.booster, mass_part.platt, o_names) if mass_part else None,
        within=Scorer(within_part.booster, within_part.platt, l_names),
        mass_share=mass_share,
        line_platt=B.Platt(1.0, 0.0),
        order_method="order_model",
        joint_platt=B.Platt(1.0, 0.0),
        countries=countries,
        priors=priors,
        line_bands=B.Bands(1.0, 1.0),
        order_bands=B.Bands(1.0, 1.0),
    )
    y_late = late.get_column("returned").to_numpy()
    mixture, _ = _mixture(probe_model, late)
    line_platt = B.Platt.fit(B.logit(mixture), y_late)
    late_line_p = line_platt.apply(B.logit(mixture))
    joint = B.from_lines(late.select("order").with_columns(pl.Series("probability", late_line_p)))
    joint_score = B.logit(joint.get_column("probability").to_numpy())
    yo_late = outcome(out_late, "any")
    joint_platt = B.Platt.fit(joint_score, yo_late)
    by_model = B.evaluate(yo_late, any_part.late_p)
    by_lines = B.evaluate(yo_late, joint_platt.apply(joint_score))
    method: OrderMethod = (
        "order_model" if (by_model.pr_auc or 0.0) >= (by_lines.pr_auc or 0.0) else "from_lines"
    )
    late_order_p = any_part.late_p if method == "order_model" else joint_platt.apply(joint_score)
    holdout = {
        "line": B.evaluate(y_late, late_line_p).as_dict(),
        "order": {**B.evaluate(yo_late, late_order_p).as_dict(), "method": method},
        "order_alternatives": {"order_model": by_model.as_dict(), "from_lines": by_lines.as_dict()},
        "rounds": {
            "orders": any_part.rounds,
            "mass": mass_part.rounds if mass_part else None,
            "within": within_part.rounds,
        },
    }

    # Again on everything, with the rounds the later slice chose.
    y_all = frame.get_column("returned").to_numpy()
    in_part_all = _lines_of(frame, among)
    return RiskModel(
        orders=Scorer(_refit(frame, o_names, any_part, "any", countries), any_part.platt, o_names),
        mass=(
            Scorer(_refit(frame, o_names, mass_part, "mass", countries), mass_part.platt, o_names)
            if mass_part
            else None
        ),
        within=Scorer(
            _refit(in_part_all, l_names, within_part, "returned", countries),
            within_part.platt,
            l_names,
        ),
        mass_share=mass_share,
        line_platt=line_platt,
        order_method=method,
        joint_platt=joint_platt,
        countries=countries,
        priors=priors,
        line_bands=B.Bands.from_holdout(late_line_p),
        order_bands=B.Bands.from_holdout(late_order_p),
        holdout=holdout,
        rows=frame.height,
        positives=int(y_all.sum()),
    )


def _refit(
    frame: pl.DataFrame, names: Sequence[str], part: _Part, key: str, countries: dict[str, int]
) -> lgb.Booster:
    """A booster on ``frame`` (lines, or their orders when ``key`` is an order outcome) with
    the part's rounds."""
    if key == "returned":
        matrix, truth = B.encode(frame, names, countries), frame.get_column(key).to_numpy()
        increasing = F.INCREASING
    else:
        matrix = B.encode(F.order_features(frame), names, countries)
        truth = order_outcomes(frame).get_column(key).to_numpy()
        increasing = F.ORDER_INCREASING
    return B.train(matrix, truth, names, increasing, part.rounds)


@dataclass(frozen=True)
class Stored:
    """A model as the ``prediction_models`` row keeps it."""

    model_text: str
    calibration: dict[str, Any]
    details: dict[str, Any]


def dump(model: RiskModel) -> Stored:
    """The line booster in LightGBM's own text as ``model_text``; the order boosters' texts,
    calibrations and everything else the scorer needs as JSON."""
    return Stored(
        model_text=model.within.booster.model_to_string(),
        calibration={
            "within": model.within.platt.as_dict(),
            "orders": model.orders.platt.as_dict(),
            "mass": model.mass.platt.as_dict() if model.mass else None,
            "lines": model.line_platt.as_dict(),
            "joint": model.joint_platt.as_dict(),
            "mass_share": model.mass_share,
        },
        details={
            "boosters": {
                "orders": model.orders.booster.model_to_string(),
                "mass": model.mass.booster.model_to_string() if model.mass else None,
            },
            "line_features": list(model.within.names),
            "order_features": list(model.orders.names),
            "order_method": model.order_method,
            "countries": model.countries,
            "priors": {"line_rate": model.priors.line_rate, "order_rate": model.priors.order_rate},
            "bands": {
                "line": {"medium": model.line_bands.medium, "high": model.line_bands.high},
                "order": {"medium": model.order_bands.medium, "high": model.order_bands.high},
            },
            "order_importances": B.importances(model.orders.booster),
            "rows": model.rows,
            "positives": model.positives,
        },
    )


def load(stored: Stored) -> RiskModel:
    details, calibration = stored.details, stored.calibration
    missing = [
        name
        for name in (*details["line_features"], *details["order_features"])
        if name not in F.ALL_NAMES
    ]
    if missing:
        raise ValidationFailed(
            f"The stored model uses features this version doesn't compute ({', '.join(missing)}); "
            "train a new one with `reclaim model train`."
        )

    def booster(text: str) -> lgb.Booster:
        return lgb.Booster(model_str=text)

    bands = details["bands"]
    return RiskModel(
        orders=Scorer(
            booster(details["boosters"]["orders"]),
            B.Platt.from_dict(calibration["orders"]),
            tuple(details["order_features"]),
        ),
        mass=(
            Scorer(
                booster(details["boosters"]["mass"]),
                B.Platt.from_dict(calibration["mass"]),
                tuple(details["order_features"]),
            )
            if details["boosters"].get("mass")
            else None
        ),
        within=Scorer(
            booster(stored.model_text),
            B.Platt.from_dict(calibration["within"]),
            tuple(details["line_features"]),
        ),
        mass_share=float(calibration["mass_share"]),
        line_platt=B.Platt.from_dict(calibration["lines"]),
        order_method=details["order_method"],
        joint_platt=B.Platt.from_dict(calibration["joint"]),
        countries={str(k): int(v) for k, v in details["countries"].items()},
        priors=Priors(**details["priors"]),
        line_bands=B.Bands(**bands["line"]),
        order_bands=B.Bands(**bands["order"]),
        rows=int(details.get("rows", 0)),
        positives=int(details.get("positives", 0)),
    )
