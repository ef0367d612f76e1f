"""`up` when there is little or nothing to do, and named accounts in one Rails boot, side by side in one run:

- a first `up` (images present, empty volumes, provisioning included) against a no-op `up` on the same,
  healthy sandbox (the median of three);
- a killed web's recovery through `up` against that cold start;
- three named accounts created by tootctl in one Rails boot (tootctl_batch) against one call each.
Runs on a throwaway sandbox (`bench-up`, port 39445) with the server of $SANDBOX_SERVER (else the default
sandbox's, else official), labelled with it, and removes it afterwards. Goals on real Mastodon: a no-op `up`
in 3 s or less, a killed web back in about a Puma boot. Usage: python bench/bench_up.py
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid

import docker

from common import cli, describe, server_settings
from mastodon_sandbox import server_commands
from mastodon_sandbox.lifecycle import destroy
from mastodon_sandbox.progress import Progress
from mastodon_sandbox.provision.tootctl import run, run_batch
from mastodon_sandbox.stack import Stack
from mastodon_sandbox.state import State

NAME, PORT = "bench-up", 39445
SERVER_ARGS = server_settings()


def main() -> int:
    print(describe(SERVER_ARGS))
    try:
        first = cli("up", "--name", NAME, "--port", str(PORT), *SERVER_ARGS, "--pool-size", "2", "--quiet")
        noop = statistics.median(cli("up", "--name", NAME, "--quiet") for _ in range(3))
        state = State(NAME)
        stack = Stack(state.load_config(), state)
        client = docker.from_env()
        web = client.containers.list(filters={"label": [f"com.docker.compose.project={stack.config.project}",
                                                         "com.docker.compose.service=web"]})[0]
        web.kill()
        recovery = cli("up", "--name", NAME, "--quiet")

        tag = uuid.uuid4().hex[:6]
        commands = [server_commands.accounts_create(f"b{tag}_{i}", f"b{tag}_{i}@example.test") for i in range(3)]
        t = time.monotonic()
        assert all(r.ok for r in run_batch(stack, commands))
        batch = time.monotonic() - t
        commands = [server_commands.accounts_create(f"s{tag}_{i}", f"s{tag}_{i}@example.test") for i in range(3)]
        t = time.monotonic()
        assert all(run(stack, c).ok for c in commands)
        single = time.monotonic() - t
    finally:
        if State(NAME).exists():
            destroy(NAME, Progress(quiet=True))

    print(f"first up (cold, provisioned):          {first:6.1f} s")
    print(f"no-op up (healthy, median of 3):       {noop:6.1f} s   ({first / noop:.0f}x faster; goal on real: 3 s or less)")
    print(f"up after a killed web:                 {recovery:6.1f} s   ({recovery / first:.2f}x the first up)")
    print(f"3 named accounts, one Rails boot:      {batch:6.1f} s")
    print(f"3 named accounts, one tootctl each:    {single:6.1f} s   ({single / batch:.1f}x the batch)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
