"""``python -m benchmarks``: run the workloads and print one Markdown table.

Speed never fails the run: the exit code is 0 unless a workload crashes. A PostgreSQL server
that can't be reached turns its rows into 'skipped: <why>'.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from benchmarks import (
    analytics,
    dashboard,
    http_returns,
    logistics,
    online_retail_import,
    policy,
    prediction,
    raw_returns,
    refunds,
    simulator,
    warehouse,
    worker,
)
from benchmarks.common import (
    DEFAULT_POSTGRES_URL,
    POSTGRES_ENV,
    Options,
    Result,
    markdown_table,
)

Workload = Callable[[Options], Coroutine[Any, Any, list[Result]]]
# Run in this order: the HTTP and raw rows are compared, so they run back to back.
WORKLOADS: dict[str, Workload] = {
    policy.NAME: policy.run,
    warehouse.NAME: warehouse.run,
    simulator.NAME: simulator.run,
    http_returns.NAME: http_returns.run,
    raw_returns.NAME: raw_returns.run,
    worker.NAME: worker.run,
    logistics.NAME: logistics.run,
    refunds.NAME: refunds.run,
    online_retail_import.NAME: online_retail_import.run,
    analytics.NAME: analytics.run,
    dashboard.NAME: dashboard.run,
    prediction.NAME: prediction.run,
}


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Reclaim's benchmarks, as a Markdown table."
    )
    parser.add_argument("--quick", action="store_true", help="a short run (smaller workloads)")
    parser.add_argument(
        "--only", choices=sorted(WORKLOADS), help="run one workload instead of all of them"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(POSTGRES_ENV, DEFAULT_POSTGRES_URL),
        help=f"a PostgreSQL server URL for scratch databases (env {POSTGRES_ENV}; "
        f"default {DEFAULT_POSTGRES_URL})",
    )
    return parser.parse_args(argv)


def ratio_line(results: Sequence[Result]) -> str | None:
    """How far the HTTP + ORM path is from the raw driver doing the same SQL."""
    by_name = {r.benchmark: r for r in results}
    http = by_name.get(http_returns.BENCHMARK)
    raw = by_name.get(raw_returns.BENCHMARK)
    if not (http and raw and http.rate and raw.rate):
        return None
    line = f"Ratio HTTP/ORM vs raw: throughput {http.rate / raw.rate:.2f}x"
    line += f" (raw is {raw.rate / http.rate:.1f}x faster)"
    if http.p50_ms and raw.p50_ms:
        line += f"; p50 latency {http.p50_ms / raw.p50_ms:.1f}x"
    if http.p99_ms and raw.p99_ms:
        line += f", p99 latency {http.p99_ms / raw.p99_ms:.1f}x"
    return line + "."


def _load() -> str:
    # Other work on the machine moves every number here; the load average shows how much.
    return f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "n/a"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    options = Options(quick=args.quick, postgres_url=args.postgres_url)
    chosen = [args.only] if args.only else list(WORKLOADS)
    results: list[Result] = []
    crashed = False
    started = time.perf_counter()
    load_before = _load()
    for name in chosen:
        print(f"running {name}…", file=sys.stderr, flush=True)
        try:
            results.extend(asyncio.run(WORKLOADS[name](options)))
        except Exception as exc:  # report it in the table, finish the others, then exit 1
            traceback.print_exc()
            results.append(Result(name, "", notes=f"crashed: {type(exc).__name__}: {exc}"))
            crashed = True
    mode = "quick" if args.quick else "full"
    print(
        f"## Reclaim benchmarks ({mode} run, {time.perf_counter() - started:.0f} s; "
        f"Python {platform.python_version()}, {os.cpu_count()} cores, "
        f"1-min load average {load_before} before, {_load()} after)\n"
    )
    print(markdown_table(results))
    ratio = ratio_line(results)
    if ratio:
        print(f"\n{ratio}")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
