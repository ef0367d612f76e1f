"""The host locks between processes using one sandbox: the reader-writer lock lets tests share the sandbox
and makes a restore wait until none of them runs, and the restore shuts new tests out while it works."""

from __future__ import annotations

import threading
import time

from mastodon_sandbox.state import State


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


def test_a_lock_handed_to_a_background_process_is_held_until_that_process_ends(tmp_path):
    """What a restore relies on when it leaves the spare database copy to a background process
    (sandbox/data/spare.py): the next holder of the lock waits for that process, not for the restore."""
    import subprocess
    import sys

    state = State("t", root=tmp_path)
    with state.lock("snapshots") as held:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.8)"], pass_fds=(held.fileno(),))
    handed_over = time.monotonic()
    with state.lock("snapshots"):
        waited = time.monotonic() - handed_over
    assert waited > 0.5  # the child's 0.8 s, not the parent's block
    assert child.wait(5) == 0

    with state.lock("snapshots"):  # and without a child, leaving the block frees it at once
        pass
    started = time.monotonic()
    with state.lock("snapshots"):
        assert time.monotonic() - started < 0.5


def test_the_exclusive_side_is_lent_to_the_processes_its_holder_starts(tmp_path):
    """A `mastodon_exclusive` test may run `mastodon-sandbox reset` or an inner pytest run that restores:
    they take the lock their parent holds without waiting for it; an unrelated process still waits."""
    import os
    import subprocess
    import sys

    take = ("import sys, time; from mastodon_sandbox.state import State; s = time.monotonic()\n"
            f"with State('t', root=__import__('pathlib').Path({str(tmp_path)!r})).rwlock('in-use', shared=False):\n"
            "    print(round(time.monotonic() - s, 2))")
    state = State("t", root=tmp_path)
    with state.rwlock("in-use", shared=False):
        child = subprocess.run([sys.executable, "-c", take], capture_output=True, text=True, timeout=20)
        assert child.returncode == 0, child.stderr
        assert float(child.stdout) < 0.5  # lent: no wait
        env = {k: v for k, v in os.environ.items() if k != "SANDBOX_HELD_LOCKS"}
        stranger = subprocess.Popen([sys.executable, "-c", take], env=env, stdout=subprocess.PIPE, text=True)
        time.sleep(1.0)
        assert stranger.poll() is None  # waits for the holder
    assert stranger.wait(20) == 0
    assert "SANDBOX_HELD_LOCKS" not in os.environ  # lent only while held
