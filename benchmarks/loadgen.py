"""A closed-loop load generator: N workers, each sending its next request when the last returns.

Bounded twice: by the number of requests and by a deadline, whichever comes first.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from benchmarks.common import Result, percentile

# One request: the worker sending it and the request's index in, ``None`` for success or a
# short error kind out. Workers are numbered 0..concurrency-1, so each can own a connection.
Call = Callable[[int, int], Awaitable[str | None]]


@dataclass
class Measured:
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    hit_deadline: bool = False

    @property
    def done(self) -> int:
        return len(self.latencies)

    @property
    def ok(self) -> int:
        return self.done - sum(self.errors.values())

    @property
    def throughput(self) -> float:
        """Successful requests per second."""
        return self.ok / self.seconds if self.seconds else 0.0

    def p(self, fraction: float) -> float:
        return percentile(sorted(self.latencies), fraction) * 1000

    def error_note(self) -> str:
        if not self.errors:
            return ""
        kinds = ", ".join(f"{kind} x{count}" for kind, count in self.errors.most_common(3))
        return f"errors: {kinds}"


async def _timed(call: Call, worker: int, index: int, measured: Measured) -> None:
    started = time.perf_counter()
    try:
        error = await call(worker, index)
    except Exception as exc:  # a failed request is a number in the table, not a crash
        error = type(exc).__name__
    measured.latencies.append(time.perf_counter() - started)
    if error is not None:
        measured.errors[error] += 1


async def drive(
    call: Call,
    *,
    requests: int,
    concurrency: int,
    seconds: float,
    warmup: bool = True,
    before_timing: Callable[[], None] | None = None,
) -> Measured:
    """Run ``requests`` calls ``concurrency`` at a time, stopping early after ``seconds``.

    With ``warmup``, one untimed round of ``concurrency`` calls first opens every connection
    and fills the statement caches, so the numbers describe the steady state.
    ``before_timing`` runs after the warm-up, e.g. to start CPU accounting.
    """
    first = 0
    if warmup:
        warm = (call(index, index) for index in range(concurrency))
        await asyncio.gather(*warm, return_exceptions=True)
        first = concurrency
    if before_timing:
        before_timing()
    measured = Measured()
    counter = itertools.count(first)
    stop_at = first + requests
    deadline = time.perf_counter() + seconds

    async def worker(number: int) -> None:
        for index in counter:
            if index >= stop_at:
                return
            if time.perf_counter() > deadline:
                measured.hit_deadline = True
                return
            await _timed(call, number, index, measured)

    started = time.perf_counter()
    await asyncio.gather(*(worker(number) for number in range(concurrency)))
    measured.seconds = time.perf_counter() - started
    return measured


def load_result(benchmark: str, measured: Measured, unit: str, notes: list[str]) -> Result:
    """A PostgreSQL row for a closed-loop run: throughput of successes, latency of all."""
    notes = list(notes)
    if measured.hit_deadline:
        notes.append("stopped at the time limit before the request count")
    if measured.error_note():
        notes.append(measured.error_note())
    return Result(
        benchmark=benchmark,
        database="PostgreSQL",
        throughput=f"{measured.throughput:.0f} {unit}",
        p50_ms=measured.p(0.50),
        p99_ms=measured.p(0.99),
        errors=sum(measured.errors.values()),
        notes="; ".join(notes),
        rate=measured.throughput,
    )
