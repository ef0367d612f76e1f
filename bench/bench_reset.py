"""Getting back to a seeded state: `reset` against what it replaces, a full re-provision (`destroy`, `up`,
`seed`), side by side in one run on a throwaway sandbox (`bench-reset`, port 39447), labelled with the
server. A reset renames a spare copy of the database in and makes the next spare in the background, so a
reset right after another waits for that copy: measured too. A reset keeps Mastodon frozen until the
database connections it ended were last used 2 s before (snapshots.Pause): measured after a quiet moment and
right after an API request. Also seeding's throughput at scale 1 and a
named snapshot's save. Goals: reset in 2 s or less and at least 30 times faster than re-provisioning.
Seeding needs real Mastodon: run it with the source server (SANDBOX_SERVER=source
SANDBOX_MASTODON_SOURCE=...) or the official images. Usage: python bench/bench_reset.py
"""

from __future__ import annotations

import statistics
import sys
import time

from common import cli, describe, server_settings
from mastodon_sandbox.handle import Sandbox
from mastodon_sandbox.lifecycle import destroy
from mastodon_sandbox.progress import Progress
from mastodon_sandbox.state import State

NAME, PORT = "bench-reset", 39447
SERVER_ARGS = server_settings()


def main() -> int:
    print(describe(SERVER_ARGS))
    if "standin" in SERVER_ARGS:  # measured on real Mastodon only; `make bench` goes on with the other scripts
        print("not measured: seeding needs real Mastodon, the stand-in does not offer it (SANDBOX_SERVER=source or official)")
        return 0
    up = ["up", "--name", NAME, "--port", str(PORT), *SERVER_ARGS, "--pool-size", "0", "--quiet"]
    try:
        first_up = cli(*up)
        seeding = cli("seed", "--name", NAME, "--quiet")
        save = cli("snapshot", "save", "bench", "--name", NAME)
        sb = Sandbox.open(NAME)
        quiet, after_request = [], []
        for _ in range(3):
            time.sleep(8)  # the background copy of the spare database is done, the connections idle
            quiet.append(cli("reset", "--name", NAME))
            time.sleep(8)
            if sb.get("/api/v1/instance").status_code != 200:  # as a test does before its reset
                sys.exit("bench: the sandbox did not answer GET /api/v1/instance with 200")
            after_request.append(cli("reset", "--name", NAME))
        back_to_back = cli("reset", "--name", NAME)  # waits for the spare copy the one before left running
        destroy(NAME, Progress(quiet=True))
        again = cli(*up) + cli("seed", "--name", NAME, "--quiet")
    finally:
        if State(NAME).exists():
            destroy(NAME, Progress(quiet=True))
    reset, busy = statistics.median(quiet), statistics.median(after_request)
    print(f"first up (cold, provisioned):          {first_up:6.1f} s")
    print(f"seed, default scenario, scale 1:       {seeding:6.1f} s (with its settle and its `seeded` snapshot)")
    print(f"snapshot save:                         {save:6.1f} s")
    print(f"reset after a quiet moment:            {reset:6.1f} s   (median of 3, CLI start-up in; goal: 2 s or less)")
    print(f"reset right after an API request:      {busy:6.1f} s   (median of 3: waits until Rails checks the "
          f"connection that request used)")
    print(f"reset right after another reset:       {back_to_back:6.1f} s   (waits for the spare database copy)")
    print(f"re-provision (destroy, up, seed):      {again:6.1f} s   ({again / reset:.0f}x the reset after a quiet "
          f"moment, {again / busy:.0f}x right after a request; goal: 30x or more)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
