"""Return creation over HTTP: the real app under uvicorn, many concurrent API clients.

The server runs in a subprocess (``python -m uvicorn --factory``), not a thread: in a thread it
would share one GIL with the load generator, and the client's own Python work would be billed
to the server. As a process the kernel can run it on one core while the client and PostgreSQL
use the other (this machine has two, so all three still compete; the CPU note says how much
each used).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from importlib.util import find_spec
from typing import IO

import httpx

from benchmarks.common import Options, Result, Skipped, postgres_scratch, skipped
from benchmarks.cpu import CpuSplit
from benchmarks.loadgen import drive, load_result
from benchmarks.seeding import Workload, return_body, seed, workload

NAME = "http"
BENCHMARK = "POST /api/v1/returns (HTTP, FastAPI + ORM)"
# The app imports scipy, polars and LightGBM: on a loaded machine that alone takes many seconds.
STARTUP_SECONDS = 60.0
REQUEST_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def server(database_url: str, pool_size: int) -> Iterator[tuple[str, int]]:
    """The app on a free localhost port; yields its base URL and process id."""
    port = _free_port()
    env = {
        **os.environ,
        "RECLAIM_DATABASE_URL": database_url,
        "RECLAIM_DB_POOL_SIZE": str(pool_size),
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "reclaim.api.app:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        # One log line per request would be measured too, and nobody reads them here.
        "--no-access-log",
    ]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_until_up(base, process, log)
            yield base, process.pid
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _wait_until_up(base: str, process: subprocess.Popen[bytes], log: IO[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    log.seek(0)
    tail = log.read()[-2000:]
    raise RuntimeError(f"the server did not start: {tail.decode(errors='replace')}")


def _stack() -> str:
    # uvicorn picks uvloop and httptools when installed; say which ran, it changes the numbers.
    http = "httptools" if find_spec("httptools") else "h11"
    loop = "uvloop" if find_spec("uvloop") else "asyncio loop"
    return f"{http}, {loop}"


async def measure(url: str, load: Workload, token: str, server_pid: int, base: str) -> Result:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    # One client per worker, each with one keep-alive connection: 64 connections, as 64
    # integrations would hold. A single shared client costs the load generator more CPU (its
    # pool is searched and locked on every request), CPU the server then doesn't get.
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=base,
                    headers=headers,
                    limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
                    timeout=REQUEST_TIMEOUT,
                )
            )
            for _ in range(load.concurrency)
        ]

        async def create(worker: int, index: int) -> str | None:
            response = await clients[worker].post(
                "/api/v1/returns",
                content=return_body(load.order_id(index)),
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
            return None if response.status_code == 201 else f"HTTP {response.status_code}"

        cpu = CpuSplit(server_pids=[server_pid])
        measured = await drive(
            create,
            requests=load.requests,
            concurrency=load.concurrency,
            seconds=load.seconds,
            before_timing=lambda: cpu.start(postgres_url=url),
        )
        cpu_note = cpu.stop(measured.done)
    notes = [
        f"{measured.done} requests, {load.concurrency} connections, uvicorn in a subprocess "
        f"(1 worker, {_stack()}), server pool {load.concurrency}",
        cpu_note,
    ]
    return load_result(BENCHMARK, measured, "req/s", notes)


async def run(options: Options) -> list[Result]:
    load = workload(options.quick)
    try:
        async with postgres_scratch(options.postgres_url) as url:
            key = await seed(url, load)
            # A pool as large as the concurrency: no request waits for a connection, and none
            # falls into SQLAlchemy's overflow, which closes connections when they come back.
            with server(url, pool_size=load.concurrency) as (base, pid):
                return [await measure(url, load, key.token, pid, base)]
    except Skipped as why:
        return [skipped(BENCHMARK, "PostgreSQL", str(why))]
