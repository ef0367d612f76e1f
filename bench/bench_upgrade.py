"""An upgrade from the oldest release the server offers to its newest (on the source server 4.3.23 -> 4.6.5,
over a hundred migrations, the post-deployment ones included), side by side with a first `up` of each version,
on throwaway sandboxes (`bench-upgrade`, port 39446) with the server of $SANDBOX_SERVER (else the default
sandbox's, else official), labelled with it, and removed afterwards. Usage: python bench/bench_upgrade.py
"""

from __future__ import annotations

import sys

from common import cli, describe, server_settings
from mastodon_sandbox.config import RELEASES, SOURCE_RELEASES
from mastodon_sandbox.lifecycle import destroy
from mastodon_sandbox.progress import Progress
from mastodon_sandbox.state import State

NAME, PORT = "bench-upgrade", 39446
SERVER_ARGS = server_settings()


def main() -> int:
    print(describe(SERVER_ARGS))
    server = SERVER_ARGS[SERVER_ARGS.index("--server") + 1]
    table = SOURCE_RELEASES if server == "source" else RELEASES
    old, new = min(table.values(), key=lambda r: r.key()), max(table.values(), key=lambda r: r.key())
    try:
        first_old = cli("up", "--name", NAME, "--port", str(PORT), *SERVER_ARGS, "--version", old.version, "--pool-size", "0", "--quiet")
        upgrade = cli("up", "--name", NAME, "--version", new.series, "--quiet")
        noop = cli("up", "--name", NAME, "--quiet")
        destroy(NAME, Progress(quiet=True))
        first_new = cli("up", "--name", NAME, "--port", str(PORT), *SERVER_ARGS, "--version", new.version, "--pool-size", "0", "--quiet")
    finally:
        if State(NAME).exists():
            destroy(NAME, Progress(quiet=True))
    print(f"first up at {old.version} (provisioned):   {first_old:6.1f} s")
    print(f"upgrade {old.version} -> {new.version}:          {upgrade:6.1f} s   ({upgrade / first_new:.2f}x a first up at {new.version})")
    print(f"first up at {new.version} (provisioned):    {first_new:6.1f} s")
    print(f"up after the upgrade (no-op):         {noop:6.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
