"""The one wait helper every wait of the harness goes through (sandbox/waiting.py)."""

from __future__ import annotations

import time

import pytest

from mastodon_sandbox.errors import SandboxError
from mastodon_sandbox.waiting import Look, wait_for


def test_the_value_of_the_first_look_that_is_done_comes_back():
    looks = iter([Look(False, None, "1 queued"), Look(False, None, "0 queued, 1 busy"), Look(True, "settled")])
    assert wait_for(lambda: next(looks), timeout=5, interval=0.01, what="background work did not settle") == "settled"


def test_a_wait_that_runs_out_says_what_it_waited_for_and_what_it_saw_last():
    seen = iter(f"HTTP {code}" for code in (502, 502, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503))
    started = time.monotonic()
    with pytest.raises(SandboxError) as e:
        wait_for(lambda: Look(False, None, next(seen)), timeout=0.05, interval=0.01,
                 what="https://localhost/api/v2/instance did not answer 200", hint="see `mastodon-sandbox logs web`")
    assert str(e.value) == "https://localhost/api/v2/instance did not answer 200 within 0 s (last: HTTP 503): see `mastodon-sandbox logs web`"
    assert time.monotonic() - started < 1


def test_giving_up_returns_none_and_a_probe_may_end_the_wait_early():
    assert wait_for(lambda: Look(False, 1), timeout=0.02, interval=0.01, what="x", give_up=True) is None

    def failed() -> Look[None]:
        raise SandboxError("service web failed (exited, exit 1)")

    with pytest.raises(SandboxError, match="service web failed"):
        wait_for(failed, timeout=60, interval=1, what="the sandbox was not ready")


def test_it_takes_a_last_look_at_the_deadline_before_giving_up():
    started, looks = time.monotonic(), []
    with pytest.raises(SandboxError):
        wait_for(lambda: looks.append(time.monotonic() - started) or Look(False, None), timeout=0.1, interval=0.04, what="x")
    assert len(looks) >= 2 and looks[-1] >= 0.1  # however late a sleep wakes, the last look is not before the deadline
    assert looks[-2] < 0.1  # and the one before it was: no look past the deadline but that last one
