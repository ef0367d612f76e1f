"""Federation on one machine, on two sandboxes of one group (fed-a and fed-b; brought up when not running, on
the server bench/common.py picks; SANDBOX_FEDERATION as for the plugin, e.g. fed:a,b@4.3):
- a round trip: a post on a mentioning b's account → the notification on b → a reply back → its notification on a,
  each leg waited for by `settle` (median and slowest of ROUNDS), beside the same legs waited for by polling the
  API (what settle's exactness costs);
- a member's `up` (a new group of two, made and destroyed here): the second's against the first's;
- the idle memory of the two instances.
Usage: python bench/bench_federation.py [ROUNDS]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import docker

from common import cli, describe, federation, memory_mb, server_settings
from mastodon_sandbox.testing.fixtures import _mastodon_py
from mastodon_sandbox.testing.leases import lease
from mastodon_sandbox.testing.targets import Endpoint
from mastodon_sandbox.federation.traffic import settle_group


def client(sandbox, who):
    return _mastodon_py(Endpoint(sandbox.url, str(sandbox.state.ca_file)), who.token)


def until(check, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            sys.exit("bench: what was posted did not arrive within 60 s")
        time.sleep(0.05)


def round_trip(a, b, by_settle: bool) -> float:
    (alice,), (bob,) = lease(a, 1, holder="bench"), lease(b, 1, holder="bench")
    ca, cb = client(a, alice), client(b, bob)
    wait = (lambda check: settle_group([a, b])) if by_settle else until
    started = time.perf_counter()
    ca.status_post(f"@{bob.username}@{b.config.domain} ping")
    wait(lambda: cb.notifications(types=["mention"]))
    mention = cb.notifications(types=["mention"])[0]
    cb.status_reply(mention["status"], "pong")
    wait(lambda: ca.notifications(types=["mention"]))
    elapsed = time.perf_counter() - started
    if not (cb.notifications(types=["mention"]) and ca.notifications(types=["mention"])):
        sys.exit("bench: settle returned before the notifications were there")
    return elapsed


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    args = server_settings()
    print(describe(args))
    a, b = federation(args)[1][:2]
    print(f"instances: {a.config.domain} (Mastodon {a.config.release.version}), {b.config.domain} (Mastodon {b.config.release.version})")
    settled = sorted(round_trip(a, b, True) for _ in range(rounds))
    polled = sorted(round_trip(a, b, False) for _ in range(rounds))
    print(f"post → notification → reply → notification, with settle:  median {statistics.median(settled):5.2f} s   "
          f"slowest {settled[-1]:5.2f} s   ({rounds} rounds)")
    print(f"the same, polling the API every 50 ms:                     median {statistics.median(polled):5.2f} s   "
          f"slowest {polled[-1]:5.2f} s   (settle: {statistics.median(settled) / statistics.median(polled):.2f}x)")

    mem = sum(sum(memory_mb(docker.from_env(), sb.config.project).values()) for sb in (a, b))
    print(f"idle memory of the two instances:                          {mem / 1024:5.2f} GiB")

    took = []
    try:
        for short in ("x", "y"):
            took.append(cli("up", "--name", f"bench-fed-{short}", "--domain", f"bench{short}.localhost", "--group", "benchfed",
                            *args, "--no-provision", "--quiet"))
    finally:
        for short in ("x", "y"):
            subprocess.run([sys.executable, "-m", "mastodon_sandbox.cli", "destroy", "--name", f"bench-fed-{short}", "--yes"],
                           capture_output=True)
    print(f"a new member's up (images ready): first {took[0]:5.1f} s, second {took[1]:5.1f} s ({took[1] / took[0]:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
