"""``reclaim policy``: check, show, and what-if over a simulated season, on both databases."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.config import get_settings
from reclaim.policy.loader import parse
from reclaim.simulation.runner import SimulationConfig, run_simulation
from tests.integration.helpers import rows, run_cli, scalar, table_rows

Sessions = async_sessionmaker[AsyncSession]
CONFIG = SimulationConfig(days=30, orders_per_day=15, seed=3, start=date(2024, 3, 4))
# The season's last day, and a span reaching back past its first.
WINDOW = ("--until", "2024-04-02", "--days", "60")
DEFAULT_TEXT = (files("reclaim.policy") / "default.toml").read_text(encoding="utf-8")
# Stricter than the built-in policy: a shorter window, a dearer label, more reviews.
STRICT_DAYS = 10
STRICT_TEXT = (
    DEFAULT_TEXT.replace('name = "Standard returns"', 'name = "Stricter returns"')
    .replace("days = 30 ", f"days = {STRICT_DAYS} ")
    .replace('label_fee = "4.95"', 'label_fee = "7.95"')
    .replace('min_return_value = "600.00"', 'min_return_value = "150.00"')
    .replace("max_recent_returns = 6", "max_recent_returns = 1")
)
STRICT = parse(STRICT_TEXT, "strict")
BAD_TEXT = """
name = "Broken"
[window]
days = -3
[fees]
label_fee = "4.95"
lable_fee_methods = ["locker"]
"""


@pytest.fixture
def use_policy(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Point RECLAIM_POLICY_FILE at a file (or unset it); settings are cached, so clear them."""

    def use(path: Path | None) -> None:
        if path is None:
            monkeypatch.delenv("RECLAIM_POLICY_FILE", raising=False)
        else:
            monkeypatch.setenv("RECLAIM_POLICY_FILE", str(path))
        get_settings.cache_clear()

    yield use
    get_settings.cache_clear()


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _table(output: str) -> dict[str, tuple[str, str, str]]:
    """The what-if table's rows by label (money rows carry one currency here)."""
    return {row[0]: (row[1], row[2], row[3]) for row in table_rows(output) if len(row) == 4}


def _count(cell: str) -> int:
    return int(cell.replace(",", ""))


def _minor(cell: str) -> int:
    amount, currency = cell.split()
    assert currency == "USD"
    return int(Decimal(amount.replace(",", "")) * 100)


def _moment(value: Any) -> datetime:
    """Plain SQL hands SQLite's timestamps back as text."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


async def _recorded(sessions: Sessions) -> list[dict[str, Any]]:
    """Every return's decision as recorded when it was created."""
    found = await rows(sessions, "SELECT decision FROM returns ORDER BY id")
    return [json.loads(value) if isinstance(value, str) else value for (value,) in found]


async def _closed_by_strict_window(sessions: Sessions) -> int:
    """Returns the strict window refuses, worked out from the rows the plain way."""
    policy = STRICT.policy.window
    found = await rows(
        sessions,
        "SELECT r.id, r.created_at, o.delivered_at, c.tier, p.category FROM returns r"
        " JOIN orders o ON o.id = r.order_id JOIN customers c ON c.id = o.customer_id"
        " JOIN return_lines rl ON rl.return_id = r.id"
        " JOIN order_lines ol ON ol.id = rl.order_line_id"
        " JOIN products p ON p.id = ol.product_id",
    )
    closed = set()
    for return_id, created, delivered, tier, category in found:
        days = policy.categories.get(category, policy.days) + policy.tier_extra_days.get(tier, 0)
        if _moment(created) > _moment(delivered) + timedelta(days=days):
            closed.add(return_id)
    return len(closed)


@pytest.mark.usefixtures("cli_env")
async def test_whatif_replays_the_season_under_both_policies(
    sessions: Sessions, tmp_path: Path, use_policy: Any
) -> None:
    season = await run_simulation(sessions, CONFIG)
    assert season.returns >= 30
    use_policy(None)

    same = await run_cli(
        "policy", "whatif", str(_write(tmp_path, "same.toml", DEFAULT_TEXT)), *WINDOW
    )

    assert same.exit_code == 0, same.output
    table = _table(same.output)
    assert table["Returns replayed"][0] == f"{season.returns:,}"
    assert all(change == "—" for _, _, change in table.values()), same.output
    assert all(live == draft for live, draft, _ in table.values())
    assert f"decides all {season.returns:,} returns as the live policy does" in same.output
    assert "same version" in same.output

    # Replayed under the policy it was decided under, each return gets the same decision:
    # the live column must add up to what the returns recorded when they were created.
    recorded = await _recorded(sessions)
    assert len(recorded) == season.returns
    live = {label: cells[0] for label, cells in table.items()}
    assert _count(live["Eligible"]) == season.returns
    assert _count(live["Refused"]) == 0
    assert _count(live["Approved automatically"]) == sum(
        d["outcome"] == "approve" for d in recorded
    )
    assert _count(live["Sent to review"]) == sum(d["outcome"] == "review" for d in recorded)
    assert _count(live["kept by the shopper (returnless)"]) == sum(
        d["returnless"] for d in recorded
    )
    fees = [sum(fee["amount_minor"] for fee in d["quote"]["fees"]) for d in recorded]
    assert _count(live["Charged a fee"]) == sum(fee > 0 for fee in fees)
    assert _minor(live["Fee total"]) == sum(fees)
    assert _minor(live["Refund total"]) == sum(d["quote"]["refund_minor"] for d in recorded)
    assert _minor(live["Store credit total (incl. bonus)"]) == sum(
        d["quote"]["store_credit_minor"] for d in recorded
    )
    assert _minor(live["of which bonus"]) == sum(d["quote"]["bonus_minor"] for d in recorded)

    strict = await run_cli(
        "policy", "whatif", str(_write(tmp_path, "strict.toml", STRICT_TEXT)), *WINDOW
    )

    assert strict.exit_code == 0, strict.output
    table = _table(strict.output)
    assert table["Returns replayed"] == (f"{season.returns:,}", f"{season.returns:,}", "—")
    closed = await _closed_by_strict_window(sessions)
    assert closed > 0
    live_eligible, draft_eligible, change = table["Eligible"]
    assert _count(draft_eligible) == _count(live_eligible) - closed
    assert change == f"{-closed:+,}"
    assert table["refused: window closed"] == ("0", f"{closed:,}", f"{closed:+,}")
    before, after, _ = table["Sent to review"]
    assert _count(after) > _count(before)
    before, after, change = table["Fee total"]
    assert _minor(after) > _minor(before)
    assert change == f"+{Decimal(_minor(after) - _minor(before)) / 100:,.2f} USD"
    assert "returns differently" in strict.output
    assert STRICT.version in strict.output

    # RECLAIM_POLICY_FILE decides which side is live.
    use_policy(_write(tmp_path, "live.toml", STRICT_TEXT))
    flipped = await run_cli("policy", "whatif", str(tmp_path / "strict.toml"), *WINDOW)

    assert flipped.exit_code == 0, flipped.output
    assert all(change == "—" for _, _, change in _table(flipped.output).values())
    # Every return was decided under the built-in policy, not the live one now.
    assert f"{season.returns:,} of them were decided under another policy version" in (
        flipped.output.replace("\n", " ")
    )


@pytest.mark.usefixtures("cli_env")
async def test_whatif_outside_any_return_replays_nothing(
    sessions: Sessions, tmp_path: Path, use_policy: Any
) -> None:
    use_policy(None)
    draft = _write(tmp_path, "strict.toml", STRICT_TEXT)

    result = await run_cli("policy", "whatif", str(draft), "--days", "7")

    assert result.exit_code == 0, result.output
    assert _table(result.output)["Returns replayed"] == ("0", "0", "—")
    assert await scalar(sessions, "SELECT count(*) FROM returns") == 0


@pytest.mark.usefixtures("cli_env")
async def test_whatif_names_every_bad_rule_of_the_draft(tmp_path: Path, use_policy: Any) -> None:
    use_policy(None)

    bad = await run_cli("policy", "whatif", str(_write(tmp_path, "bad.toml", BAD_TEXT)))

    assert bad.exit_code == 1
    assert "2 bad rules" in bad.output
    assert "window.days" in bad.output
    assert "fees.lable_fee_methods" in bad.output
    assert "Replaying" not in bad.output

    missing = await run_cli("policy", "whatif", str(tmp_path / "nowhere.toml"))

    assert missing.exit_code == 1
    assert "Can't read the policy file" in missing.output
    assert "nowhere.toml" in missing.output


async def test_check_summarises_a_good_policy_and_names_every_bad_rule(tmp_path: Path) -> None:
    good = await run_cli("policy", "check", str(_write(tmp_path, "strict.toml", STRICT_TEXT)))

    assert good.exit_code == 0, good.output
    assert "is a valid policy" in good.output
    assert f"Stricter returns  version {STRICT.version}" in good.output
    summary = {row[0]: row[1] for row in _summary(good.output)}
    assert summary["Window"].startswith(f"{STRICT_DAYS} days from delivery")
    assert "label 7.95 per return" in summary["Fees"]
    assert "restocking 15% (electronics" in summary["Fees"]
    assert summary["Store-credit bonus"] == "10%, at most 25.00"
    assert "up to 40.00" in summary["Returnless"]
    assert summary["Refund timing"].startswith("at receipt; gold: at first scan")
    assert summary["Review"].startswith("value from 150.00; 1+ other returns in 90 days")

    bad = await run_cli("policy", "check", str(_write(tmp_path, "bad.toml", BAD_TEXT)))

    assert bad.exit_code == 1
    assert "bad.toml has 2 bad rules" in bad.output
    assert "window.days: Input should be greater than or equal to 0" in bad.output
    assert "fees.lable_fee_methods: Extra inputs are not permitted" in bad.output

    missing = await run_cli("policy", "check", str(tmp_path / "nowhere.toml"))

    assert missing.exit_code == 1
    assert "Can't read the policy file" in missing.output


def _summary(output: str) -> list[tuple[str, str]]:
    """The summary's labels and texts, joining any lines Rich wrapped."""
    found: list[tuple[str, str]] = []
    for line in output.splitlines()[2:]:
        if line[:1].isspace() and found:
            found[-1] = (found[-1][0], f"{found[-1][1]} {line.strip()}")
        elif line.strip():
            label, _, text = re.split(r"(\s{2,})", line.strip(), maxsplit=1)
            found.append((label, text))
    return found


async def test_show_gives_the_live_policy_and_its_version(tmp_path: Path, use_policy: Any) -> None:
    use_policy(None)
    built_in = parse(DEFAULT_TEXT, "built-in")

    shown = await run_cli("policy", "show")

    assert shown.exit_code == 0, shown.output
    assert "built-in default.toml" in shown.output
    assert f"Standard returns  version {built_in.version}" in shown.output

    use_policy(_write(tmp_path, "strict.toml", STRICT_TEXT))
    shown = await run_cli("policy", "show")
    text = await run_cli("policy", "show", "--text")

    assert f"Stricter returns  version {STRICT.version}" in shown.output
    assert str(tmp_path / "strict.toml") in shown.output
    assert text.exit_code == 0
    assert text.output == STRICT_TEXT

    use_policy(_write(tmp_path, "bad.toml", BAD_TEXT))
    broken = await run_cli("policy", "show")

    assert broken.exit_code == 1
    assert "window.days" in broken.output
