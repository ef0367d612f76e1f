"""The host locks between processes using one sandbox: the reader-writer lock lets tests share the sandbox
and makes a restore wait until none of them runs, and the restore shuts new tests out while it works."""

from __future__ import annotations

import threading
import time

from sandbox.state import State


def test_shared_holders_run_together_and_the_exclusive_side_waits_for_them(tmp_path):
    state = State("t", root=tmp_path)
    events: list[str] = []
    both_in = threading.Barrier(2, timeout=5)

    def reader(name: str) -> None:
        with state.rwlock("in-use", shared=True):
            events.append(f"{name} in")
            both_in.wait()  # would time out if the second reader were kept out
            time.sleep(0.2)
            events.append(f"{name} out")

    def writer() -> None:
        time.sleep(0.05)
        with state.rwlock("in-use", shared=False):
            events.append("restore")

    threads = [threading.Thread(target=reader, args=(n,)) for n in ("a", "b")] + [threading.Thread(target=writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert events.index("restore") > max(events.index("a out"), events.index("b out"))


def test_a_reader_waits_while_the_exclusive_side_is_held(tmp_path):
    state = State("t", root=tmp_path)
    events: list[str] = []
    held = threading.Event()

    def writer() -> None:
        with state.rwlock("in-use", shared=False):
            held.set()
            time.sleep(0.2)
            events.append("restore done")

    t = threading.Thread(target=writer)
    t.start()
    held.wait(5)
    with state.rwlock("in-use", shared=True):
        events.append("test starts")
    t.join(5)
    assert events == ["restore done", "test starts"]
