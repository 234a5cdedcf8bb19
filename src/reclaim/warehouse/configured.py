"""The merchant's warehouse rules as configured: inspection checklists and recovery terms.

Each file is read once per path and kept, like the returns policy: editing one takes a restart.
Services take the rules as an argument and fall back to these, so the API passes the app's own
settings while the CLI, the simulator and the console use the environment's.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from reclaim.config import Settings, get_settings
from reclaim.warehouse.grading import Checklists, load_checklists
from reclaim.warehouse.recovery import RecoveryTerms, load_recovery


@lru_cache(maxsize=8)
def _checklists_at(path: Path | None) -> Checklists:
    return load_checklists(path)


@lru_cache(maxsize=8)
def _recovery_at(path: Path | None) -> RecoveryTerms:
    return load_recovery(path)


def checklists(settings: Settings | None = None) -> Checklists:
    return _checklists_at((settings or get_settings()).checklists_file)


def recovery(settings: Settings | None = None) -> RecoveryTerms:
    return _recovery_at((settings or get_settings()).recovery_file)
