"""The live return-risk model on SQLite and PostgreSQL: trained from the database (a slice of
the shared file, imported), stored whole and made live, and scoring an order and carts from
the database as it is, without writing anything."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from reclaim.analytics.retail_import import import_file
from reclaim.db import transaction
from reclaim.errors import NotFound, ValidationFailed
from reclaim.orders.models import Customer, Order, OrderLine
from reclaim.orders.schemas import CustomerIn, OrderIn, OrderLineIn
from reclaim.orders.service import upsert_order
from reclaim.prediction import service
from reclaim.prediction.models import PredictionModel
from tests.integration.helpers import count, run_cli, table_counts, table_rows

Sessions = async_sessionmaker[AsyncSession]
SLICE = Path(__file__).parents[1] / "data" / "online_retail" / "slice.csv"
UNTIL = datetime(2011, 9, 1, tzinfo=UTC)
BANDS = {"low", "medium", "high"}
READ_TABLES = ("orders", "order_lines", "returns", "customers", "prediction_models")


@pytest.fixture
async def imported(sessions: Sessions) -> Sessions:
    await import_file(sessions, SLICE)
    return sessions


@pytest.fixture
async def trained(imported: Sessions) -> PredictionModel:
    return await service.train(imported, UNTIL)


async def _latest_order(sessions: Sessions) -> Order:
    async with transaction(sessions) as session:
        order = await session.scalar(select(Order).order_by(Order.placed_at.desc()).limit(1))
    assert order is not None
    return order


async def test_training_stores_an_active_model_with_its_holdout_metrics(
    imported: Sessions,
) -> None:
    record = await service.train(imported, UNTIL)

    assert (record.kind, record.version, record.active) == ("return_risk", 1, True)
    assert record.trained_until == UNTIL and record.rows > 1000
    for level in ("line", "order"):
        held = record.metrics[level]
        assert held["rows"] > 0 and 0 < held["positives"] < held["rows"]
        assert 0 <= held["brier"] <= 1
    assert sum(record.importances.values()) == pytest.approx(1.0)
    assert record.details["currency"] == "GBP"
    assert record.model_text.startswith("tree")
    async with transaction(imported) as session:
        assert (await service.active_model(session)).id == record.id  # type: ignore[union-attr]


async def test_training_again_makes_version_two_live_and_keeps_version_one(
    trained: PredictionModel, imported: Sessions
) -> None:
    again = await service.train(imported, UNTIL)

    assert again.version == 2
    async with transaction(imported) as session:
        live = await session.scalars(
            select(PredictionModel.version).where(PredictionModel.active.is_(True))
        )
        assert list(live) == [2]
    assert await count(imported, "prediction_models") == 2


async def test_too_little_history_is_refused_plainly_and_nothing_is_stored(
    imported: Sessions,
) -> None:
    with pytest.raises(ValidationFailed, match="Too little history to train"):
        await service.train(imported, datetime(2011, 1, 1, tzinfo=UTC))
    assert await count(imported, "prediction_models") == 0


async def test_an_order_is_scored_line_by_line_from_history_before_it(
    trained: PredictionModel, imported: Sessions
) -> None:
    order = await _latest_order(imported)
    before = await table_counts(imported, *READ_TABLES)

    async with transaction(imported) as session:
        risk = await service.score_order(session, order.external_id)

    assert risk is not None and risk.order == order.external_id
    assert risk.model_version == 1 and risk.band in BANDS
    assert 0 < risk.probability < 1
    assert {line.line_ref for line in risk.lines} == {
        line.line_ref for line in await _lines(imported, order.id)
    }
    for line in risk.lines:
        assert 0 < line.probability < 1 and line.band in BANDS
        assert 1 <= len(line.drivers) <= 3 and all(":" in said for said in line.drivers)
    assert await table_counts(imported, *READ_TABLES) == before


async def test_an_orders_score_does_not_move_when_the_customer_orders_its_products_again(
    trained: PredictionModel, imported: Sessions
) -> None:
    async with transaction(imported) as session:
        first = await session.scalar(
            select(Order)
            .options(selectinload(Order.customer), selectinload(Order.lines))
            .order_by(Order.placed_at, Order.id)
            .limit(1)
        )
        assert first is not None
        before = await service.score_order(session, first.external_id)
        later = OrderIn(
            order_id="LATER-1",
            customer=CustomerIn(id=first.customer.external_id, email="again@example.com"),
            currency=first.currency,
            placed_at=first.placed_at + timedelta(days=3),
            lines=[
                OrderLineIn(line_id=str(i), sku=line.sku, quantity=50, unit_price_minor=1)
                for i, line in enumerate(first.lines, start=1)
            ],
        )
        await upsert_order(session, later)

    async with transaction(imported) as session:
        after = await service.score_order(session, first.external_id)

    assert before is not None and after is not None
    assert after == before


async def _lines(sessions: Sessions, order_id: int) -> list[OrderLine]:
    async with transaction(sessions) as session:
        return list(await session.scalars(select(OrderLine).where(OrderLine.order_id == order_id)))


async def test_a_cart_is_scored_for_a_known_customer_by_id_or_any_cased_email_and_a_new_one(
    trained: PredictionModel, imported: Sessions
) -> None:
    async with transaction(imported) as session:
        customer = await session.scalar(select(Customer).where(Customer.external_id == "16029"))
        assert customer is not None
        lines = [service.CartLine("85099B", 100, 165), service.CartLine("22423", 2, 1275)]
        by_id = await service.score_cart(
            session, service.Cart("GBP", lines, customer="16029"), UNTIL
        )
        by_email = await service.score_cart(
            session, service.Cart("GBP", lines, customer=customer.email), UNTIL
        )
        shouted = await service.score_cart(
            session, service.Cart("GBP", lines, customer=f" {customer.email.upper()}"), UNTIL
        )
        stranger = await service.score_cart(
            session, service.Cart("GBP", lines, customer="nobody@example.com"), UNTIL
        )

    assert by_id == by_email == shouted
    assert by_id.order is None and [x.line_ref for x in by_id.lines] == ["1", "2"]
    assert [x.sku for x in by_id.lines] == ["85099B", "22423"]
    # A customer with history scores differently from one the shop has never seen.
    assert stranger.probability != by_id.probability


async def test_a_cart_in_another_currency_than_the_model_learnt_is_refused(
    trained: PredictionModel, imported: Sessions
) -> None:
    async with transaction(imported) as session:
        with pytest.raises(ValidationFailed, match="trained on GBP"):
            await service.score_cart(
                session, service.Cart("USD", [service.CartLine("22423", 1, 100)]), UNTIL
            )


async def test_an_order_in_another_currency_than_the_model_learnt_has_no_score_and_says_why(
    trained: PredictionModel, imported: Sessions
) -> None:
    async with transaction(imported) as session:
        await upsert_order(
            session,
            OrderIn(
                order_id="USD-1",
                customer=CustomerIn(id="16029", email="again@example.com"),
                currency="USD",
                placed_at=UNTIL,
                lines=[OrderLineIn(sku="22423", quantity=1, unit_price_minor=1275)],
            ),
        )
    async with transaction(imported) as session:
        with pytest.raises(ValidationFailed, match="trained on GBP prices; order USD-1 is in USD"):
            await service.score_order(session, "USD-1")


async def test_a_shop_order_numbered_cart_does_not_mix_into_a_carts_score(
    trained: PredictionModel, imported: Sessions
) -> None:
    lines = [service.CartLine("85099B", 100, 165), service.CartLine("22423", 2, 1275)]
    async with transaction(imported) as session:
        before = await service.score_cart(session, service.Cart("GBP", lines), UNTIL)
        holder = await session.scalar(
            select(Order).join(OrderLine).where(OrderLine.sku == "85099B").limit(1)
        )
        assert holder is not None
        holder.external_id = "cart"

    async with transaction(imported) as session:
        after = await service.score_cart(session, service.Cart("GBP", lines), UNTIL)

    assert [x.line_ref for x in after.lines] == ["1", "2"]
    assert after == before


async def test_without_a_model_an_order_has_no_score_and_a_cart_says_how_to_train(
    imported: Sessions,
) -> None:
    order = await _latest_order(imported)
    async with transaction(imported) as session:
        assert await service.score_order(session, order.external_id) is None
        with pytest.raises(service.NoModel, match="reclaim model train"):
            await service.score_cart(
                session, service.Cart("GBP", [service.CartLine("22423", 1, 100)])
            )
        with pytest.raises(NotFound):
            await service.score_order(session, "no-such-order")


async def test_the_train_command_prints_the_holdout_and_makes_the_model_live(
    imported: Sessions, cli_env: str
) -> None:
    result = await run_cli("model", "train", "--until", "2011-09-01")

    assert result.exit_code == 0, result.output
    assert "Return-risk model v1 (now live)" in result.output
    levels = [row[0] for row in table_rows(result.output)]
    assert levels == ["line", "order"]
    assert "Top features:" in result.output
    assert await count(imported, "prediction_models") == 1


async def test_the_train_command_on_too_little_history_says_so_and_stores_nothing(
    sessions: Sessions, cli_env: str
) -> None:
    result = await run_cli("model", "train")

    assert result.exit_code == 1
    assert "Too little history to train a return-risk model" in result.output
    assert await count(sessions, "prediction_models") == 0


async def test_the_nightly_retrain_makes_a_new_version_live_or_keeps_quiet_without_history(
    imported: Sessions,
) -> None:
    said = await service.retrain_job(imported, UNTIL)
    assert said is not None and said.startswith("return-risk model v1 live:")

    assert await service.retrain_job(imported, datetime(2011, 1, 1, tzinfo=UTC)) is None
    assert await count(imported, "prediction_models") == 1
