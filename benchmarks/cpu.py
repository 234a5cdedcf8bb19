"""Where the CPU went during a timed section: the load generator, the server, PostgreSQL.

CPU time, unlike wall time or a sampling profiler, is not inflated when the processes fight
for the two cores, so "CPU ms per request" compares across runs and machines. Linux only (it
reads /proc); elsewhere the note is simply left out.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime


def machine_busy_seconds() -> float | None:
    """CPU seconds all cores spent busy since boot (everything but idle and iowait)."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    return (sum(values[:8]) - values[3] - values[4]) / _TICKS


def postgres_backends(url: str) -> list[int]:
    """The server processes serving our scratch database (and no one else's)."""
    import psycopg

    query = (
        "SELECT pid FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    with psycopg.connect(url, connect_timeout=5) as conn:
        return [int(row[0]) for row in conn.execute(query)]


def _sum(pids: list[int]) -> dict[int, float]:
    return {pid: t for pid in pids if (t := process_cpu_seconds(pid)) is not None}


@dataclass
class CpuSplit:
    """Call :meth:`start` once every connection is open, :meth:`stop` after the work."""

    server_pids: list[int] = field(default_factory=list)
    postgres_pids: list[int] = field(default_factory=list)
    _client: float = 0.0
    _servers: dict[int, float] = field(default_factory=dict)
    _postgres: dict[int, float] = field(default_factory=dict)
    _busy: float | None = None
    _wall: float = 0.0

    def start(self, postgres_url: str | None = None) -> None:
        """Start counting; with ``postgres_url``, count that database's backends too."""
        if postgres_url:
            self.postgres_pids = postgres_backends(postgres_url)
        self._servers = _sum(self.server_pids)
        self._postgres = _sum(self.postgres_pids)
        self._busy = machine_busy_seconds()
        self._client = time.process_time()
        self._wall = time.perf_counter()

    @staticmethod
    def _delta(before: dict[int, float]) -> float | None:
        after = _sum(list(before))
        # Only processes alive at both ends count: a backend that came and went is "other".
        return sum(after[pid] - before[pid] for pid in after) if after else None

    def stop(self, operations: int, unit: str = "request") -> str:
        wall = time.perf_counter() - self._wall
        parts = {"client": time.process_time() - self._client}
        if self.server_pids and (server := self._delta(self._servers)) is not None:
            parts["server"] = server
        if self.postgres_pids and (postgres := self._delta(self._postgres)) is not None:
            parts["PostgreSQL"] = postgres
        per_op = ", ".join(f"{k} {v * 1000 / max(operations, 1):.1f}" for k, v in parts.items())
        note = f"CPU ms per {unit}: {per_op}"
        busy = machine_busy_seconds()
        if busy is not None and self._busy is not None and wall > 0:
            # Everything else: WAL writer, checkpointer, and whatever else shares the machine.
            rest = max((busy - self._busy - sum(parts.values())) / wall, 0.0)
            note += f"; rest of machine {rest:.2f} of {os.cpu_count()} cores"
        return note
