"""``reclaim model forecast``: the next 28 days of inbound returns per facility."""

from __future__ import annotations


def forecast() -> None:
    """Forecast daily inbound returns per facility."""
    raise NotImplementedError
