"""``reclaim model backtest`` on the slice of the shared file in tests/data: the table, the
JSON, the progress, and clear refusals of bad dates and files. (The whole shared file is
test_backtest_shared_file.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.helpers import run_cli, table_rows

DATA = Path(__file__).parents[1] / "data" / "online_retail"
SLICE = DATA / "slice.csv"
CUT = ("--train-until", "2011-06-01", "--test-from", "2011-06-01", "--test-until", "2011-08-01")
MODELS = {"LightGBM (calibrated)", "customer's past return rate", "logistic regression"}


async def test_the_backtest_prints_each_level_and_model_and_writes_the_metrics(
    tmp_path: Path,
) -> None:
    out = tmp_path / "metrics.json"
    result = await run_cli("model", "backtest", "--data", str(SLICE), *CUT, "--json", str(out))

    assert result.exit_code == 0, result.output
    scored = [row for row in table_rows(result.output) if row[0] in ("line", "order")]
    assert {(row[0], row[1]) for row in scored} == {
        (level, model) for level in ("line", "order") for model in MODELS
    }
    assert "Top 10 features" in result.output and "Trained on" in result.output

    saved = json.loads(out.read_text())
    assert saved["data"] == "slice.csv"
    assert (saved["train_until"], saved["test_from"], saved["test_until"]) == (
        "2011-06-01",
        "2011-06-01",
        "2011-08-01",
    )
    assert saved["label_window_days"] == 30
    assert len(saved["scores"]) == 6
    line = next(s for s in saved["scores"] if (s["level"], s["model"]) == ("line", "lightgbm"))
    assert line["rows"] > 0 and 0 < line["positives"] < line["rows"]
    assert 0 <= line["roc_auc"] <= 1 and 0 <= line["pr_auc"] <= 1 and 0 <= line["brier"] <= 1
    assert line["prevalence"] == pytest.approx(line["positives"] / line["rows"])
    # The same rows for every model at a level: the comparison is like for like.
    for level in ("line", "order"):
        counts = {(s["rows"], s["positives"]) for s in saved["scores"] if s["level"] == level}
        assert len(counts) == 1
    assert set(saved["importances"]) == {"line", "order"}
    assert sum(saved["importances"]["line"].values()) == pytest.approx(1.0)
    assert isinstance(saved["beats_baselines"], bool)


@pytest.mark.parametrize(
    ("dates", "message"),
    [
        (
            (
                "--train-until",
                "2011-06-01",
                "--test-from",
                "2011-05-01",
                "--test-until",
                "2011-08-01",
            ),
            "must start on or after the training cut",
        ),
        (
            (
                "--train-until",
                "2011-06-01",
                "--test-from",
                "2011-07-01",
                "--test-until",
                "2011-07-01",
            ),
            "must be after --test-from",
        ),
        (
            (
                "--train-until",
                "2010-12-15",
                "--test-from",
                "2011-01-01",
                "--test-until",
                "2011-02-01",
            ),
            "No returned lines to learn from",
        ),
        (
            (
                "--train-until",
                "2011-06-01",
                "--test-from",
                "2012-01-01",
                "--test-until",
                "2012-02-01",
            ),
            "No sale lines with a customer",
        ),
    ],
)
async def test_impossible_windows_are_refused_with_the_reason(
    dates: tuple[str, ...], message: str
) -> None:
    result = await run_cli("model", "backtest", "--data", str(SLICE), *dates)

    assert result.exit_code == 1
    assert message in " ".join(result.output.split())


async def test_a_file_that_is_not_an_online_retail_export_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.csv"
    other.write_text("name,price\nmug,3.50\n")
    result = await run_cli("model", "backtest", "--data", str(other), *CUT)

    assert result.exit_code == 1
    assert "is it an Online Retail export?" in " ".join(result.output.split())


@pytest.mark.parametrize(
    "args",
    [
        ("--data", "missing.csv", *CUT),
        ("--data", str(SLICE), "--train-until", "June", "--test-from", "2011-06-01"),
    ],
)
async def test_a_missing_file_or_a_date_that_is_not_one_is_a_usage_error(
    args: tuple[str, ...],
) -> None:
    result = await run_cli("model", "backtest", *args)
    assert result.exit_code == 2
