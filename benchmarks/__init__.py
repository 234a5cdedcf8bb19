"""Reclaim's benchmarks: workloads that report numbers, run with ``python -m benchmarks``.

They are never tests: nothing here fails on speed. Each workload makes and drops its own
scratch database, so a run leaves nothing behind and never touches real data.
"""
