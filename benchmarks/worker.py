"""Outbox delivery: the worker draining a backlog of e-mails and webhooks to local receivers.

The backlog is real: returns created through the returns service with the built-in policy
(which approves them on the spot) and then marked in transit, so each leaves three outbox
messages (``return.requested``, ``return.approved``, ``return.in_transit``) that fan out into
five deliveries: two e-mails (a request approved on the spot has no e-mail of its own) and three
webhooks to one endpoint subscribed to every event.

Each dispatcher runs in a subprocess (``python -m benchmarks.worker``), built the way
``reclaim worker`` builds it: like the HTTP benchmark's server, it then gets a core of its own
instead of sharing this process's GIL with the receivers. The receivers run here and answer at
once: an aiosmtpd server and a minimal HTTP server, each counting what arrives by its id
(``Message-ID``, ``webhook-id``), so a message sent twice would show.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from aiosmtpd.controller import Controller
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from benchmarks.common import (
    Options,
    Result,
    Skipped,
    percentile,
    postgres_scratch,
    seed_approved_returns,
    skipped,
    sqlite_scratch,
)
from benchmarks.cpu import postgres_backends, process_cpu_seconds
from reclaim.config import Settings, normalise_database_url
from reclaim.db import create_engine, is_sqlite, session_factory, transaction
from reclaim.kit.clock import utcnow
from reclaim.notifications import webhooks
from reclaim.notifications.deliveries import DeliveryStatus
from reclaim.notifications.models import Delivery, DeliveryAttempt, OutboxMessage
from reclaim.worker.channels import default_channels
from reclaim.worker.dispatcher import Dispatcher, Tally, WorkerConfig

NAME = "worker"
ROOT = Path(__file__).resolve().parent.parent
PUBLIC_URL = "https://shop.example"
# The production default is 1 s; a drain that waits a second at its end measures the wait.
POLL_SECONDS = 0.05
MONITOR_SECONDS = 0.05
STARTUP_SECONDS = 60.0
MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)

Sessions = async_sessionmaker[AsyncSession]


def benchmark(workers: int) -> str:
    return f"outbox delivery (e-mail + webhook), {workers} worker{'s' if workers > 1 else ''}"


@dataclass(frozen=True)
class Size:
    returns: int
    deadline_seconds: float


def size(quick: bool) -> Size:
    return Size(returns=20, deadline_seconds=60) if quick else Size(300, 600)


def worker_settings(database_url: str, smtp_port: int) -> Settings:
    return Settings(
        database_url=database_url,
        public_url=PUBLIC_URL,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        webhook_allow_private=True,
    )


# The dispatcher's process ----------------------------------------------------------------


async def serve(database_url: str, smtp_port: int) -> None:
    """Say ``ready`` once connected, deliver from the ``go`` line on stdin until the next
    line (or end of input), then print what this worker's deliveries came to as JSON."""
    settings = worker_settings(database_url, smtp_port)
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
    tally = Tally()
    try:
        sessions = session_factory(engine)
        dispatcher = Dispatcher(
            sessions,
            default_channels(settings, session_factory(engine, read_only=True)),
            WorkerConfig.from_settings(settings),
            report=tally.count,
        )
        async with transaction(sessions) as session:
            await session.execute(text("SELECT 1"))  # connected before the clock starts
        print("ready", flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.readline)
        stop = asyncio.Event()
        told = loop.run_in_executor(None, sys.stdin.readline)
        told.add_done_callback(lambda _: stop.set())
        await dispatcher.run_forever(stop, poll_seconds=POLL_SECONDS)
        said = {**asdict(tally), "worker": dispatcher.worker_id, "batch": dispatcher.config.batch}
        print(json.dumps(said), flush=True)
    finally:
        await engine.dispose()


# Receivers ----------------------------------------------------------------------------------


class Inbox:
    """An aiosmtpd handler that accepts everything and counts Message-IDs."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ids: Counter[str] = Counter()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        found = MESSAGE_ID.search(envelope.content)
        with self.lock:
            self.ids[found.group(1).decode() if found else "(none)"] += 1
        return "250 Message accepted for delivery"

    def take(self) -> Counter[str]:
        with self.lock:
            ids, self.ids = self.ids, Counter()
        return ids


class Hooks:
    """A minimal HTTP/1.1 server answering 200 to every request, counting ``webhook-id``s."""

    def __init__(self) -> None:
        self.ids: Counter[str] = Counter()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers = dict(
                    line.split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line
                )
                fields = {k.strip().lower(): v.strip() for k, v in headers.items()}
                await reader.readexactly(int(fields.get(b"content-length", b"0")))
                self.ids[fields.get(b"webhook-id", b"(none)").decode()] += 1
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the sender closed the connection: it opens one per delivery
        finally:
            writer.close()

    def take(self) -> Counter[str]:
        ids, self.ids = self.ids, Counter()
        return ids


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@contextlib.asynccontextmanager
async def http_server() -> AsyncIterator[tuple[Hooks, int]]:
    hooks = Hooks()
    server = await asyncio.start_server(hooks.handle, "127.0.0.1", 0)
    try:
        yield hooks, int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


# Workers as subprocesses ------------------------------------------------------------------


@dataclass
class Child:
    process: asyncio.subprocess.Process
    log: IO[bytes]

    def failure(self, what: str) -> RuntimeError:
        self.log.seek(0)
        tail = self.log.read()[-2000:].decode(errors="replace")
        return RuntimeError(f"a worker process {what}: {tail}")

    async def line(self) -> str:
        """The next line the worker prints; it has STARTUP_SECONDS to say it."""
        assert self.process.stdout is not None
        try:
            async with asyncio.timeout(STARTUP_SECONDS):
                read = await self.process.stdout.readline()
        except TimeoutError:
            raise self.failure(f"said nothing for {STARTUP_SECONDS:g} s") from None
        if not read:
            await self.process.wait()
            raise self.failure(f"exited with {self.process.returncode}")
        return read.decode().strip()

    async def tell(self, word: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{word}\n".encode())
        await self.process.stdin.drain()


@contextlib.asynccontextmanager
async def children(database_url: str, smtp_port: int, count: int) -> AsyncIterator[list[Child]]:
    """``count`` worker processes, each connected and waiting for ``go``."""
    started: list[Child] = []
    with contextlib.ExitStack() as logs:
        try:
            for _ in range(count):
                log = logs.enter_context(tempfile.TemporaryFile())
                process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "benchmarks.worker",
                    database_url,
                    str(smtp_port),
                    cwd=ROOT,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=log,
                )
                started.append(Child(process, log))
            for child in started:
                if (said := await child.line()) != "ready":
                    raise child.failure(f"said {said!r} instead of ready")
            yield started
        finally:
            for child in started:
                if child.process.returncode is None:
                    child.process.kill()
                    await child.process.wait()


# One drain ------------------------------------------------------------------------------------


@dataclass
class Drain:
    workers: int
    returns: int
    seconds: float = 0.0
    hit_deadline: bool = False
    statuses: Counter[str] = field(default_factory=Counter)
    channels: Counter[str] = field(default_factory=Counter)
    send_ms: dict[str, list[float]] = field(default_factory=dict)  # by channel
    wait_s: list[float] = field(default_factory=list)
    tallies: list[dict[str, Any]] = field(default_factory=list)
    emails: Counter[str] = field(default_factory=Counter)
    webhooks: Counter[str] = field(default_factory=Counter)
    cpu_ms: dict[str, float] = field(default_factory=dict)

    @property
    def delivered(self) -> int:
        return self.statuses[DeliveryStatus.DELIVERED.value]

    @property
    def failed(self) -> int:
        return sum(self.statuses.values()) - self.delivered

    @property
    def sent_twice(self) -> int:
        counts = list(self.emails.values()) + list(self.webhooks.values())
        return sum(count - 1 for count in counts if count > 1)


async def _busy(sessions: Sessions) -> bool:
    """Whether anything is left to fan out or due to send (in flight included)."""
    async with transaction(sessions) as session:
        waiting = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.dispatched_at.is_(None))
        )
        due = await session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(
                Delivery.status == DeliveryStatus.PENDING.value,
                Delivery.next_attempt_at <= utcnow(),
            )
        )
    return bool(waiting or due)


async def _backend_pid(sessions: Sessions) -> int:
    async with transaction(sessions) as session:
        return int(await session.scalar(text("SELECT pg_backend_pid()")) or 0)


def _cpu(pids: Iterable[int]) -> dict[int, float]:
    return {pid: t for pid in pids if (t := process_cpu_seconds(pid)) is not None}


class CpuCount:
    """CPU seconds of the worker processes, of their PostgreSQL backends (whenever they
    connected) and of this process (the receivers and the monitor), from now on."""

    def __init__(self, workers: list[int], postgres_url: str | None, monitor: int | None) -> None:
        self.postgres_url = postgres_url
        self.monitor = monitor
        self.workers = _cpu(workers)
        self.backends = _cpu(self._backends())
        self.here = time.process_time()

    def _backends(self) -> list[int]:
        if self.postgres_url is None:
            return []
        return [pid for pid in postgres_backends(self.postgres_url) if pid != self.monitor]

    def spent(self) -> dict[str, float]:
        workers = _cpu(self.workers)
        backends = _cpu(self._backends())
        return {
            "worker": sum(workers[pid] - self.workers[pid] for pid in workers),
            # A backend that connected meanwhile counts whole: all of its work is the run's.
            "PostgreSQL": sum(t - self.backends.get(pid, 0.0) for pid, t in backends.items()),
            "receivers": time.process_time() - self.here,
        }


async def _collect(sessions: Sessions, result: Drain, first_id: int, started: datetime) -> None:
    async with transaction(sessions) as session:
        rows = (
            await session.execute(
                select(
                    Delivery.status, Delivery.channel, Delivery.created_at, Delivery.delivered_at
                ).where(Delivery.id > first_id)
            )
        ).all()
        attempts = (
            await session.execute(
                select(Delivery.channel, DeliveryAttempt.duration_ms)
                .join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
                .where(Delivery.id > first_id)
            )
        ).all()
    for channel, ms in attempts:
        result.send_ms.setdefault(channel, []).append(float(ms))
    for timings in result.send_ms.values():
        timings.sort()
    result.statuses = Counter(status for status, _, _, _ in rows)
    result.channels = Counter(channel for _, channel, _, _ in rows)
    done = [(created, delivered) for _, _, created, delivered in rows if delivered is not None]
    result.wait_s = sorted((delivered - created).total_seconds() for created, delivered in done)
    if done:
        result.seconds = (max(delivered for _, delivered in done) - started).total_seconds()


async def drain(
    url: str,
    workers: int,
    returns: int,
    prefix: str,
    smtp: tuple[Inbox, int],
    hooks: Hooks,
    limit: float,
) -> Drain:
    """Seed ``returns`` returns, then let ``workers`` processes deliver everything they made."""
    inbox, smtp_port = smtp
    result = Drain(workers, returns)
    engine = create_engine(normalise_database_url(url))
    try:
        sessions = session_factory(engine)
        await seed_approved_returns(sessions, returns, prefix, in_transit=True)
        async with transaction(sessions) as session:
            first_id = int(
                await session.scalar(select(func.coalesce(func.max(Delivery.id), 0))) or 0
            )
    finally:
        # Closed before counting PostgreSQL's CPU: its backends are then the workers' alone.
        await engine.dispose()
    inbox.take()
    hooks.take()
    postgres = not is_sqlite(normalise_database_url(url))
    async with children(url, smtp_port, workers) as started:
        engine = create_engine(normalise_database_url(url), pool_size=1)
        try:
            sessions = session_factory(engine, read_only=True)
            mine = await _backend_pid(sessions) if postgres else None
            cpu = CpuCount(
                [child.process.pid for child in started], url if postgres else None, mine
            )
            begun = utcnow()
            deadline = time.monotonic() + limit
            for child in started:
                await child.tell("go")
            while await _busy(sessions):
                if time.monotonic() > deadline:
                    result.hit_deadline = True
                    break
                await asyncio.sleep(MONITOR_SECONDS)
            result.cpu_ms = cpu.spent()
            for child in started:
                await child.tell("stop")
            for child in started:
                result.tallies.append(json.loads(await child.line()))
            await _collect(sessions, result, first_id, begun)
        finally:
            await engine.dispose()
    result.emails, result.webhooks = inbox.take(), hooks.take()
    return result


def _result(database: str, run: Drain) -> Result:
    seconds = max(run.seconds, 1e-9)
    rate = run.delivered / seconds
    total = sum(run.statuses.values())
    every = sorted(ms for timings in run.send_ms.values() for ms in timings)
    per = ", ".join(
        f"{name} {value * 1000 / max(run.delivered, 1):.1f}"
        for name, value in run.cpu_ms.items()
        if value
    )
    notes = [
        f"{run.returns} returns -> {total} deliveries ({run.channels['email']} e-mails over "
        f"SMTP, {run.channels['webhook']} webhooks) in {run.seconds:.1f} s",
        f"{'each worker' if run.workers > 1 else 'worker'} in a subprocess, batch "
        f"{run.tallies[0]['batch'] if run.tallies else '?'}, poll {POLL_SECONDS:g} s",
        "p50/p99 = one send (SMTP session or signed POST, whole ms, from the delivery log): "
        + ", ".join(
            f"{channel} {percentile(ms, 0.5):.0f}/{percentile(ms, 0.99):.0f}"
            for channel, ms in sorted(run.send_ms.items())
        ),
        f"fan-out to delivered p50 {percentile(run.wait_s, 0.5):.1f} s, "
        f"p99 {percentile(run.wait_s, 0.99):.1f} s",
        f"CPU ms per delivery: {per}",
        f"received {sum(run.emails.values())} e-mails + {sum(run.webhooks.values())} webhooks, "
        f"{run.sent_twice} sent twice",
    ]
    if run.workers > 1:
        shares = " / ".join(str(tally["delivered"]) for tally in run.tallies)
        lost = sum(int(tally["lost"]) for tally in run.tallies)
        notes.append(f"delivered per worker {shares}, {lost} taken over")
    if run.failed:
        failed = ", ".join(f"{status} {count}" for status, count in run.statuses.items())
        notes.append(f"not delivered: {failed}")
    if run.hit_deadline:
        notes.append("stopped at the time limit before the backlog was empty")
    return Result(
        benchmark=benchmark(run.workers),
        database=database,
        throughput=f"{rate:.0f} deliveries/s",
        p50_ms=percentile(every, 0.5),
        p99_ms=percentile(every, 0.99),
        errors=run.failed,
        notes="; ".join(notes),
        rate=rate,
    )


async def _register(url: str, port: int) -> None:
    engine = create_engine(normalise_database_url(url))
    try:
        async with transaction(session_factory(engine)) as session:
            await webhooks.register(
                session,
                url=f"http://127.0.0.1:{port}/hooks",
                topics=["*"],
                description="benchmark receiver",
                allow_private=True,
                now=utcnow(),
            )
    finally:
        await engine.dispose()


async def run(options: Options) -> list[Result]:
    chosen = size(options.quick)
    results: list[Result] = []
    with smtp_server() as smtp:
        async with http_server() as (hooks, port):
            async with sqlite_scratch() as url:
                await _register(url, port)
                one = await drain(
                    url, 1, chosen.returns, "W1-", smtp, hooks, chosen.deadline_seconds
                )
                results.append(_result("SQLite", one))
            try:
                async with postgres_scratch(options.postgres_url) as url:
                    await _register(url, port)
                    for workers, prefix in ((1, "W1-"), (2, "W2-")):
                        drained = await drain(
                            url,
                            workers,
                            chosen.returns,
                            prefix,
                            smtp,
                            hooks,
                            chosen.deadline_seconds,
                        )
                        results.append(_result("PostgreSQL", drained))
            except Skipped as why:
                results += [skipped(benchmark(n), "PostgreSQL", str(why)) for n in (1, 2)]
    return results


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], int(sys.argv[2])))
