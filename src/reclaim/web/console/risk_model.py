"""The console's page about the live return-risk model: how well it did on the history it held
back, what it leans on, and the versions before it.

Analysts and admins decide whether to trust a score from this page, so it shows the same
measures the backtest reports and each booster's features by their share of the gain, in the
words the per-line drivers use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from starlette.responses import Response

from reclaim.prediction import service as risk
from reclaim.prediction.features import ALL_BY_NAME
from reclaim.prediction.models import PredictionModel
from reclaim.users.roles import Permission
from reclaim.web.console.analytics_charts import share
from reclaim.web.console.auth import ConsoleRoute, Staff, reading, render, require

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)
Analyst = Annotated[Staff, Depends(require(Permission.VIEW_ANALYTICS))]

FEATURES_SHOWN = 12
VERSIONS_SHOWN = 20
LEVELS = (("line", "Order lines"), ("order", "Orders"))


@dataclass(frozen=True, slots=True)
class Measured:
    level: str
    roc_auc: float | None
    pr_auc: float | None
    brier: float | None
    rows: int | None
    positives: int | None


def measured(metrics: dict[str, Any]) -> list[Measured]:
    """The held-back slice's measures per level, as the model row stores them."""
    found = []
    for key, label in LEVELS:
        m = metrics.get(key) or {}
        found.append(
            Measured(
                label,
                m.get("roc_auc"),
                m.get("pr_auc"),
                m.get("brier"),
                m.get("rows"),
                m.get("positives"),
            )
        )
    return found


@dataclass(frozen=True, slots=True)
class Leaning:
    """One feature's share of a booster's gain, and its bar's length against the largest."""

    words: str
    name: str
    share: str
    width: float


def leaning(importances: dict[str, float]) -> list[Leaning]:
    """The features with the largest share of a booster's gain, largest first. Drawn as HTML
    bars rather than an SVG chart: the drivers' words are long, and a table row wraps them
    where a chart label would have to cut them."""
    top = [
        (name, value)
        for name, value in sorted(importances.items(), key=lambda kv: -kv[1])[:FEATURES_SHOWN]
        if value > 0
    ]
    largest = top[0][1] if top else 1.0
    return [Leaning(_words(name), name, share(value), 100 * value / largest) for name, value in top]


def _words(name: str) -> str:
    feature = ALL_BY_NAME.get(name)
    said = feature.words if feature is not None else name.replace("_", " ")
    return said[:1].upper() + said[1:]


@router.get("/analytics/model")
async def model_page(request: Request, staff: Analyst) -> Response:
    async with reading(request) as session:
        versions = list(
            await session.scalars(
                select(PredictionModel)
                .where(PredictionModel.kind == risk.KIND)
                .order_by(PredictionModel.version.desc())
                .limit(VERSIONS_SHOWN)
            )
        )
    live = next((v for v in versions if v.active), None)
    context: dict[str, Any] = {"live": live, "versions": versions}
    if live is not None:
        context |= {
            "measures": measured(live.metrics),
            "order_method": (live.metrics.get("order") or {}).get("method"),
            "line_leaning": leaning(live.importances),
            "order_leaning": leaning(live.details.get("order_importances") or {}),
        }
    return render(request, "console/analytics/model.html", staff, **context)
