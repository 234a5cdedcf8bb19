"""``reclaim analytics refresh|rebuild``: bring the analytics rollups up to date."""

from __future__ import annotations

from reclaim.analytics import rollups
from reclaim.cli.common import console, with_database


def refresh() -> None:
    """Bring the rollups up to date with what changed since the last refresh."""
    report = with_database(rollups.refresh)
    console.print(f"Refreshed the analytics: {report.summary()}")


def rebuild() -> None:
    """Rebuild every rollup from the raw history."""
    report = with_database(rollups.rebuild)
    console.print(
        f"Rebuilt the analytics from the whole history: {report.returns:,} returns, "
        f"{report.days:,} days ({report.seconds:.2f} s)."
    )
