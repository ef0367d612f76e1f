"""Killing the CLI midway, and telling whether the sandbox came through whole: used by
tests/integration/test_interruptions.py and bench/fault_kill.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from mastodon_sandbox.data import journal, snapshots
from mastodon_sandbox.environment import DB_NAME
from mastodon_sandbox.handle import Sandbox


def interrupt(args: list[str], after: float, sig: int = signal.SIGKILL, ready_line: str | None = None) -> subprocess.CompletedProcess:
    """Run the CLI with `args` and send it `sig` `after` seconds after it starts (or after it printed a line
    containing `ready_line`, when given); returns how it ended (it may have finished first)."""
    proc = subprocess.Popen([sys.executable, "-m", "mastodon_sandbox.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=os.environ.copy())
    if ready_line:
        for line in proc.stderr:
            if ready_line in line:
                break
    time.sleep(after)
    if proc.poll() is None:
        proc.send_signal(sig)
    out, err = proc.communicate(timeout=600)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def problems(sb: Sandbox) -> list[str]:
    """What is not whole: services not ready, processes left frozen, a save or restore left unfinished,
    databases set aside and never dropped, the live database closed to connections. Waits for the background spare copy first (it holds the lock)."""
    with sb.state.lock("snapshots"):
        found = []
        services = sb.stack.services()
        found += [f"{s.service} is {s.health or s.state}" for s in services if not s.ready]
        found += [f"{c.labels['com.docker.compose.service']} has frozen processes" for c in snapshots.frozen(sb)]
        record = journal.read(sb.state)
        if record:
            found.append(f"unfinished: {journal.describe(record)}")
        aside = [d for d in snapshots.postgres(sb).databases() if d.startswith(f"{DB_NAME}__old_")]
        found += [f"database {d} left behind" for d in aside]
        closed = snapshots.postgres(sb).sql(f"SELECT 'closed:' || datname FROM pg_database WHERE NOT datallowconn AND datname = '{DB_NAME}'")
        found += ["the live database refuses connections" for line in closed.splitlines() if "closed:" in line]
    return found
