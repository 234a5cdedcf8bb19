"""The live return-risk model: trained from the database, stored whole, scoring orders and carts.

Scoring reads the same history the model was trained on (the customer's orders and returns,
and the cart's products'), as it stands now, through the same feature code, so a score at
checkout means what the backtest measured. Scoring writes nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.db import transaction
from reclaim.errors import Conflict, NotFound, ValidationFailed
from reclaim.kit.clock import as_utc, utcnow
from reclaim.orders.models import Customer, Order, OrderLine
from reclaim.prediction import dataset, explain
from reclaim.prediction import features as F
from reclaim.prediction import risk_model as R
from reclaim.prediction.boosting import Band
from reclaim.prediction.models import PredictionModel

KIND = "return_risk"
MIN_LINES = 200
MIN_RETURNED = 20
# A NUL can't be in a shop's order id (the API refuses it), so no real order takes this one.
CART_ORDER = "\x00cart"
CART_CUSTOMER = "cart-customer"
# Reading history "until" an order includes the order itself.
SAME_INSTANT = timedelta(microseconds=1)


class NoModel(Conflict):
    code = "no_model"


NO_MODEL = "No return-risk model has been trained yet. Train one with `reclaim model train`."


@dataclass(frozen=True, slots=True)
class LineRisk:
    line_ref: str
    sku: str
    probability: float
    band: Band
    drivers: list[str]


@dataclass(frozen=True, slots=True)
class OrderRisk:
    order: str | None  # None for a cart
    probability: float
    band: Band
    lines: list[LineRisk]
    model_version: int


@dataclass(frozen=True, slots=True)
class CartLine:
    sku: str
    quantity: int
    unit_price_minor: int


@dataclass(frozen=True, slots=True)
class Cart:
    currency: str
    lines: list[CartLine]
    customer: str | None = None  # the shop's customer id, or an e-mail address
    country: str | None = None


# Parsed boosters by model id: a stored model never changes, and parsing one takes a while.
_LOADED: dict[int, R.RiskModel] = {}
_KEEP = 4


async def active_model(session: AsyncSession) -> PredictionModel | None:
    return await session.scalar(
        select(PredictionModel).where(
            PredictionModel.kind == KIND, PredictionModel.active.is_(True)
        )
    )


async def _active(session: AsyncSession) -> tuple[PredictionModel, R.RiskModel] | None:
    record = await active_model(session)
    if record is None:
        return None
    model = _LOADED.get(record.id)
    if model is None:
        stored = R.Stored(record.model_text, record.calibration, record.details)
        # Parsing the boosters takes CPU for a while: off the event loop, as training is.
        model = await asyncio.to_thread(R.load, stored)
        if len(_LOADED) >= _KEEP:
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[record.id] = model
    return record, model


def training_frame(history: dataset.History, until: datetime) -> tuple[pl.DataFrame, F.Priors]:
    """Lines bought before ``until`` less the label window, with features and labels."""
    cut = dataset.naive_utc(until)
    priors = F.priors_of(history)
    frame = (
        F.line_features(history, priors)
        .join(history.lines.select("line_ref", "at"), on="line_ref")
        .join(dataset.labels(history), on="line_ref")
        .filter(pl.col("at") < cut - dataset.LABEL_WINDOW)
    )
    return frame, priors


async def _currency(session: AsyncSession) -> str | None:
    return await session.scalar(
        select(Order.currency).group_by(Order.currency).order_by(func.count().desc()).limit(1)
    )


async def train(
    sessions: async_sessionmaker[AsyncSession], now: datetime | None = None
) -> PredictionModel:
    """Train on everything before ``now`` (naive means UTC) and make it the active model
    (version n + 1)."""
    until = as_utc(now) if now is not None else utcnow()
    async with transaction(sessions) as session:
        currency = await _currency(session)
        history = await dataset.read_history(session, until=until, currency=currency)
    frame, priors = training_frame(history, until)
    returned = int(frame.get_column("returned").sum())
    if frame.height < MIN_LINES or returned < MIN_RETURNED:
        raise ValidationFailed(
            f"Too little history to train a return-risk model: {frame.height} order lines "
            f"old enough to know whether they came back ({dataset.LABEL_WINDOW_DAYS} days), "
            f"{returned} of them returned. It needs at least {MIN_LINES} lines and "
            f"{MIN_RETURNED} returned."
        )
    # Training takes seconds of CPU: off the event loop, so a server or worker keeps answering.
    model = await asyncio.to_thread(R.fit, frame, priors)
    stored = R.dump(model)
    async with transaction(sessions) as session:
        latest = await session.scalar(
            select(func.max(PredictionModel.version)).where(PredictionModel.kind == KIND)
        )
        await session.execute(
            update(PredictionModel)
            .where(PredictionModel.kind == KIND, PredictionModel.active.is_(True))
            .values(active=False)
        )
        importances = model.importances()
        record = PredictionModel(
            kind=KIND,
            version=(latest or 0) + 1,
            trained_at=utcnow(),
            trained_until=until,
            rows=frame.height,
            features=list(F.NAMES),
            metrics=model.holdout,
            importances=importances["line"],
            calibration=stored.calibration,
            details={**stored.details, "currency": currency},
            model_text=stored.model_text,
            active=True,
        )
        session.add(record)
        await session.flush()
    return record


def _risks(
    model: R.RiskModel,
    version: int,
    lines: pl.DataFrame,
    refs: dict[str, tuple[str, str]],
    order: str | None,
    currency: str,
) -> OrderRisk:
    """Scores for one order's feature rows; ``refs`` maps a row's line_ref to what the caller
    calls the line and its SKU."""
    prediction = model.predict(lines)
    order_p = float(prediction.orders.get_column("probability")[0])
    line_push = model.within.contributions(lines, model.countries)
    order_rows = F.order_features(lines)
    order_push = model.orders.contributions(order_rows, model.countries)[0]
    order_values = order_rows.row(0, named=True)
    order_named = dict(zip(model.orders.names, order_push[:-1].tolist(), strict=True))
    risks = []
    for i, row in enumerate(lines.iter_rows(named=True)):
        p = float(prediction.lines[i])
        line_named = dict(zip(model.within.names, line_push[i][:-1].tolist(), strict=True))
        words = explain.drivers([line_named, order_named], [row, order_values], currency)
        ref, sku = refs[row["line_ref"]]
        risks.append(LineRisk(ref, sku, p, model.line_bands.of(p), words))
    return OrderRisk(order, order_p, model.order_bands.of(order_p), risks, version)


async def score_order(session: AsyncSession, order_external_id: str) -> OrderRisk | None:
    """The order's risk as it stood when it was placed; None when there is no model yet."""
    order = await session.scalar(select(Order).where(Order.external_id == order_external_id))
    if order is None:
        raise NotFound(f"No order {order_external_id!r}.", order_id=order_external_id)
    active = await _active(session)
    if active is None:
        return None
    record, model = active
    trained_in = _trained_in(record, order.currency, f"order {order_external_id}")
    lines = (await session.scalars(select(OrderLine).where(OrderLine.order_id == order.id))).all()
    if not lines:
        raise ValidationFailed(f"Order {order_external_id} has no lines to score.")
    # A line's features see only what came before its order, so nothing later is read: an old
    # order of a busy customer or product scores as fast as a new one.
    history = await dataset.read_history(
        session,
        until=as_utc(order.placed_at) + SAME_INSTANT,
        customer_id=order.customer_id,
        skus=sorted({line.sku for line in lines}),
        currency=trained_in,
    )
    refs = {str(line.id): (line.line_ref, line.sku) for line in lines}
    return await asyncio.to_thread(
        _score,
        model,
        record.version,
        history,
        pl.col("line_ref").is_in(list(refs)),
        refs,
        order.external_id,
        order.currency,
    )


def _score(
    model: R.RiskModel,
    version: int,
    history: dataset.History,
    scored: pl.Expr,
    refs: dict[str, tuple[str, str]],
    order: str | None,
    currency: str,
) -> OrderRisk:
    """Features and scores for the lines ``scored`` picks out of ``history``. Pure CPU (polars
    and LightGBM), run off the event loop so a server keeps answering while it scores."""
    rows = F.line_features(history, model.priors).filter(scored)
    return _risks(model, version, rows, refs, order, currency)


def _trained_in(record: PredictionModel, currency: str, what: str) -> str | None:
    """The currency the model learnt prices in; anything else is refused, since minor units
    of different currencies don't compare."""
    trained_in: str | None = record.details.get("currency")
    if trained_in and currency != trained_in:
        raise ValidationFailed(
            f"The model was trained on {trained_in} prices; {what} is in {currency}.",
            currency=currency,
        )
    return trained_in


async def _customer_id(session: AsyncSession, who: str | None) -> int | None:
    if not who:
        return None
    if "@" in who:
        # Stored as the orders gave them, lower-cased; a checkout may send any case.
        found = select(Customer.id).where(Customer.email == who.strip().lower())
    else:
        found = select(Customer.id).where(Customer.external_id == who)
    return await session.scalar(found.limit(1))


async def score_cart(session: AsyncSession, cart: Cart, now: datetime | None = None) -> OrderRisk:
    """A cart's risk if it were ordered now; raises :class:`NoModel` without a model."""
    active = await _active(session)
    if active is None:
        raise NoModel(NO_MODEL)
    record, model = active
    trained_in = _trained_in(record, cart.currency, "the cart")
    moment = dataset.naive_utc(now or utcnow())
    customer_id = await _customer_id(session, cart.customer)
    skus = sorted({line.sku for line in cart.lines})
    history = await dataset.read_history(
        session, until=moment, customer_id=customer_id, skus=skus, currency=trained_in
    )
    customer = str(customer_id) if customer_id is not None else CART_CUSTOMER
    basket = pl.DataFrame(
        [
            (
                f"cart:{i}",
                CART_ORDER,
                customer,
                line.sku,
                line.quantity,
                line.unit_price_minor,
                moment,
                cart.country,
            )
            for i, line in enumerate(cart.lines, start=1)
        ],
        schema=dataset.LINE_SCHEMA,
        orient="row",
    )
    combined = dataset.History(pl.concat([history.lines, basket]), history.returns)
    refs = {f"cart:{i}": (str(i), line.sku) for i, line in enumerate(cart.lines, start=1)}
    return await asyncio.to_thread(
        _score,
        model,
        record.version,
        combined,
        pl.col("order") == CART_ORDER,
        refs,
        None,
        cart.currency,
    )


async def retrain_job(sessions: async_sessionmaker[AsyncSession], now: datetime) -> str | None:
    """The worker's nightly retrain: a new live version on everything known by now. Too little
    history is no news (the console and the API say there is no model); it says nothing."""
    try:
        record = await train(sessions, now)
    except ValidationFailed:
        return None
    line = record.metrics["line"]
    return (
        f"return-risk model v{record.version} live: {record.rows:,} lines, holdout ROC-AUC "
        f"{line['roc_auc'] or 0:.3f}"
    )
