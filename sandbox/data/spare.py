"""A snapshot's spare database copy, made in the background after a save or restore has returned.

Copying a database takes a second or two (the template is copied and synced to disk); renaming a ready copy
into place takes milliseconds. So a restore renames the spare in, and this process makes the next spare
while the sandbox is already in use. The restore hands it its lock on the snapshots (a file lock on the
host, kept while any process holds the file open): the next save, restore, export or delete waits until
the copy is made, and a copy that fails only means the next restore makes its own.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import IO


def start(db_container, source: str, drop: str | None, held_lock: IO, cwd: Path) -> None:
    """Make the spare of database `source` (and drop `drop`) in a detached process that keeps `held_lock`."""
    # `-m` under this module's own import name (mastodon_sandbox), from a folder holding no
    # module of the user's that could shadow it
    subprocess.Popen([sys.executable, "-m", __name__, db_container.id, source, drop or ""], cwd=cwd,
                     pass_fds=(held_lock.fileno(),), start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main(argv: list[str]) -> int:
    # started while the restore held Ctrl-C and SIGTERM back (journal.signals_held): this process takes them
    signal.pthread_sigmask(signal.SIG_UNBLOCK, (signal.SIGINT, signal.SIGTERM))
    from ..docker_env import docker_client
    from ..stores import Postgres

    container_id, source, drop = argv
    try:
        Postgres(docker_client().containers.get(container_id)).make_spare(source, drop or None)
    except Exception:
        return 1  # the next restore copies the snapshot itself
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
