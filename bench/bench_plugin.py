"""The pytest plugin's costs on the running default sandbox (`make up` first), labelled with its server:
a leased isolated account per test (median and p95 of 40 leases, the pool already grown), and the example
bot suite (tests/example_bot) run with -n 0 and with -n 2, side by side. Usage: python bench/bench_plugin.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from mastodon_sandbox.describe import describe
from mastodon_sandbox.errors import SandboxError
from mastodon_sandbox.handle import Sandbox
from mastodon_sandbox.testing.leases import ensure_free, lease

ROOT = Path(__file__).resolve().parents[1]
LEASES = 40


def example_suite(workers: int) -> float:
    """The suite's wall time; the pool already holds its accounts (a refill is not what is compared)."""
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/example_bot", "-n", str(workers)]
    started = time.monotonic()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        sys.exit(f"bench: the example suite failed with -n {workers}: {done.stdout.strip().splitlines()[-1:]}")
    return time.monotonic() - started


def main() -> int:
    try:
        sandbox = Sandbox.open("default")
    except SandboxError as e:
        sys.exit(f"bench: {e}")
    print(f"server: {describe('default')}")
    ensure_free(sandbox, LEASES + 12, refill=LEASES + 12)  # the pool grown first: what is timed is the lease
    times = []
    for _ in range(LEASES):
        started = time.perf_counter()
        lease(sandbox, 1, holder="bench")
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    p95 = times[int(len(times) * 0.95) - 1]
    print(f"a leased account per test:   median {statistics.median(times):6.1f} ms   p95 {p95:6.1f} ms   ({LEASES} leases)")
    serial, parallel = example_suite(0), example_suite(2)
    print(f"example bot suite, -n 0:      {serial:6.1f} s")
    print(f"example bot suite, -n 2:      {parallel:6.1f} s   ({parallel / serial:.2f}x the time of -n 0, worker start-up included)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
