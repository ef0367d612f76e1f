"""What a snapshot save or restore is in the middle of, written to the state folder before it changes
anything and removed when it is done, so that when the process doing it dies (SIGKILL, a crash, the machine
going down) the next command finds the record and finishes the work (snapshots.recover).

A record is only trusted as abandoned while its reader holds the snapshots' lock: the process that wrote it
held that lock for as long as the record existed, so finding the record under the lock means its writer is
gone. SIGINT and SIGTERM never leave one behind: they are held back while the data is being swapped
(`signals_held`) and take effect right after.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from contextlib import contextmanager

from ..state import State


def read(state: State) -> dict | None:
    """The unfinished operation's record, or None."""
    return state.read_json(state.operation_file, default=None)


def begin(state: State, op: str, snapshot: str, **details) -> None:
    """Record that `op` ("save" or "restore") of `snapshot` starts; it stays until `end`."""
    state.write_json(state.operation_file, {"op": op, "snapshot": snapshot, "pid": os.getpid(),
                                            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **details})


def end(state: State) -> None:
    state.operation_file.unlink(missing_ok=True)


def describe(record: dict) -> str:
    what = {"save": "snapshot save", "restore": "snapshot restore"}.get(record.get("op"), str(record.get("op")))
    return f"{what} of {record.get('snapshot')!r} (pid {record.get('pid')}, {record.get('started')})"


HELD = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def signals_held():
    """Ctrl-C and SIGTERM wait while the body runs (a few seconds: the data is swapped and the processes
    resumed), then take effect: an interrupted restore is never half done. Only the main thread can hold
    them (it is the one Python delivers them to); elsewhere the body just runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD)  # a signal that came meanwhile is delivered here
