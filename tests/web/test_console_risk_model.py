"""The console's return-risk model page over real HTTP on both databases: what it says before
any model exists, the live version's held-back measures, what each booster leans on in words,
and the versions before it; and who is shown the way there from an order's risk panel."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from reclaim.analytics.retail_import import import_file
from reclaim.db import transaction
from reclaim.orders.models import Order
from reclaim.prediction import service
from reclaim.users.roles import Role
from tests.web.conftest import LiveServer
from tests.web.console_support import Sessions, console_unchanged, signed_in, words

SLICE = Path(__file__).parents[1] / "data" / "online_retail" / "slice.csv"
PAGE = "/console/analytics/model"
TRAINED_AT = datetime(2011, 9, 1, tzinfo=UTC)


@pytest.fixture
async def order_id(sessions: Sessions, live_server: LiveServer) -> str:
    """The slice imported; one of its orders."""
    await import_file(sessions, SLICE)
    async with transaction(sessions) as session:
        found = await session.scalar(select(Order.external_id).order_by(Order.id).limit(1))
    assert found is not None
    return found


async def test_before_any_model_the_page_says_how_to_train_one(
    live_server: LiveServer, sessions: Sessions
) -> None:
    async with (
        signed_in(live_server.url, sessions, Role.ANALYST) as analyst,
        console_unchanged(sessions),
    ):
        page = await analyst.get(PAGE)

    assert page.status_code == 200, page.text
    said = words(page)
    assert "No model yet" in said and "reclaim model train" in said
    assert "Versions" not in said


async def test_the_live_version_shows_its_measures_what_it_leans_on_and_earlier_versions(
    live_server: LiveServer, sessions: Sessions, order_id: str
) -> None:
    first = await service.train(sessions, TRAINED_AT)
    second = await service.train(sessions, TRAINED_AT)

    async with (
        signed_in(live_server.url, sessions, Role.ADMIN) as admin,
        console_unchanged(sessions),
    ):
        page = await admin.get(PAGE)

    assert page.status_code == 200, page.text
    said = words(page)
    assert f"Version {second.version}, trained" in said
    assert f"on {second.rows:,} order lines bought before" in said
    line_roc = second.metrics["line"]["roc_auc"]
    assert f"Order lines {line_roc:.3f}" in said
    assert f"Orders {second.metrics['order']['roc_auc']:.3f}" in said
    # Both boosters' features, named in the drivers' words, with their share of the gain.
    assert "What a line's score leans on" in said
    assert "What an order's score leans on" in said
    top_line = next(iter(second.importances))
    assert top_line in said  # the feature's own name beside its words
    assert page.text.count('class="lean-bar"') >= 2
    assert "The product's" in said or "The customer's" in said or "The line's" in said
    # The versions, newest first, the live one marked.
    listed = said[said.index("Order ROC-AUC Live") :]
    assert listed.index(f" v{second.version} ") < listed.index(f" v{first.version} ")
    assert listed.count(" live") == 1


async def test_an_order_page_links_to_the_model_only_for_staff_who_may_see_analytics(
    live_server: LiveServer, sessions: Sessions, order_id: str
) -> None:
    await service.train(sessions, TRAINED_AT)

    async with signed_in(live_server.url, sessions, Role.ANALYST) as analyst:
        seen_by_analyst = await analyst.get(f"/console/orders/{order_id}")
    async with signed_in(live_server.url, sessions, Role.INSPECTOR) as inspector:
        seen_by_inspector = await inspector.get(f"/console/orders/{order_id}")
        refused = await inspector.get(PAGE)

    assert seen_by_analyst.status_code == 200 and seen_by_inspector.status_code == 200
    assert f'href="{PAGE}"' in seen_by_analyst.text
    assert f'href="{PAGE}"' not in seen_by_inspector.text
    assert "return-risk model v1" in words(seen_by_inspector)
    assert refused.status_code == 403
