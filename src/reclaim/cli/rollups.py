"""``reclaim analytics refresh|rebuild``: bring the analytics rollups up to date."""

from __future__ import annotations


def refresh() -> None:
    """Bring the rollups up to date with what changed since the last refresh."""
    raise NotImplementedError


def rebuild() -> None:
    """Rebuild every rollup from the raw history."""
    raise NotImplementedError
