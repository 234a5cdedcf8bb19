"""``reclaim report``: the returns dashboard in the terminal."""

from __future__ import annotations


def report() -> None:
    """Print the returns KPIs and findings."""
    raise NotImplementedError
