"""Provisioning time, side by side in one run: 5 and 50 pool accounts with tokens through the bulk
runner (one Rails boot), and 5 accounts through one `tootctl accounts create` each.

Runs on a throwaway sandbox (`bench-prov`, port 39444) with the server of $SANDBOX_SERVER (else the default
sandbox's, else official), labelled with it, and removes it afterwards. Goal on real Mastodon: 50 in under 2x the time
of 5. Usage: python bench/bench_provision.py
"""

from __future__ import annotations

import sys
import time
import uuid

from mastodon_sandbox import server_commands
from common import cli, describe, server_settings
from mastodon_sandbox.lifecycle import destroy
from mastodon_sandbox.progress import Progress
from mastodon_sandbox.provision import bulk
from mastodon_sandbox.stack import Stack
from mastodon_sandbox.state import State

NAME, PORT = "bench-prov", 39444
SERVER_ARGS = server_settings()


def bulk_run(stack: Stack, n: int, tag: str) -> float:
    accounts = [{"username": f"b{tag}_{n}_{i:02d}", "email": f"b{tag}_{n}_{i:02d}@example.test", "role": None} for i in range(n)]
    spec = bulk.make_spec(accounts, bulk.new_password(), "example.test")
    t = time.monotonic()
    out = bulk.run_bulk(stack, spec)
    elapsed = time.monotonic() - t
    assert len(out["accounts"]) == n and all(a["token"] for a in out["accounts"])
    return elapsed


def tootctl_run(stack: Stack, n: int, tag: str) -> float:
    t = time.monotonic()
    for i in range(n):
        service, argv = server_commands.accounts_create(f"t{tag}_{i:02d}", f"t{tag}_{i:02d}@example.test")
        proc = stack.exec(service, argv)
        assert proc.returncode == 0, proc.stderr
    return time.monotonic() - t


def main() -> int:
    print(describe(SERVER_ARGS))
    cli("up", "--name", NAME, "--port", str(PORT), *SERVER_ARGS, "--no-provision", "--quiet")
    state = State(NAME)
    stack = Stack(state.load_config(), state)
    tag = uuid.uuid4().hex[:6]
    try:
        five = bulk_run(stack, 5, tag)
        fifty = bulk_run(stack, 50, tag)
        single = tootctl_run(stack, 5, tag)
    finally:
        destroy(NAME, Progress(quiet=True))
    print(f"bulk runner, 5 accounts with tokens:   {five:6.2f} s")
    print(f"bulk runner, 50 accounts with tokens:  {fifty:6.2f} s")
    print(f"50 / 5:                                {fifty / five:6.2f}x  (goal on real Mastodon: under 2x)")
    print(f"tootctl, 5 accounts one call each:     {single:6.2f} s  ({single / five:.1f}x the bulk runner for 5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
