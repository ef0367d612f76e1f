"""How long a snapshot keeps Mastodon frozen (sandbox/data/snapshots.py `Pause`): until every database
connection the swap ended was last used longer ago than the server's Rails trusts one without checking it
(activerecord 8.1.3 abstract_adapter.rb `with_raw_connection`: 2 s on 4.6.5; 7.1.6 on 4.3 checks each one)."""

from __future__ import annotations

import time

import pytest

from mastodon_sandbox.config import release
from mastodon_sandbox.data.snapshots import LAST_USE_SLACK, Pause


def test_the_pause_lasts_until_the_most_recently_used_connection_is_old_enough():
    pause = Pause(release("4.6.5", "source").db_verify_timeout)
    start = time.monotonic()
    pause.connections_ended(1.5)  # used 1.5 s ago: half a second more
    pause.connections_ended(0.2)  # another, used 0.2 s ago: this one decides
    pause.connections_ended(None)  # none ended: changes nothing
    assert pause.until - start == pytest.approx(2.0 + LAST_USE_SLACK - 0.2, abs=0.05)


def test_no_pause_for_connections_idle_long_enough_or_none_ended():
    pause = Pause(2.0)
    start = time.monotonic()
    pause.connections_ended(3.0)
    pause.connections_ended(None)
    assert pause.until - start < 0.05


@pytest.mark.parametrize("version,server", [("4.3.23", "source"), ("4.3", "official")])
def test_no_pause_on_43_whose_rails_checks_every_connection(version, server):
    pause = Pause(release(version, server).db_verify_timeout)
    start = time.monotonic()
    pause.connections_ended(0.0)  # one in use right up to the freeze
    assert pause.until - start < 0.05


def test_a_swap_that_fails_midway_is_waited_out_as_if_it_had_just_used_a_connection(monkeypatch):
    # it may have ended connections before it could say how recently they were used
    from types import SimpleNamespace

    from mastodon_sandbox.data import snapshots

    slept = []
    monkeypatch.setattr(snapshots, "_containers", lambda sandbox, services: [])
    monkeypatch.setattr(snapshots.time, "sleep", slept.append)
    sandbox = SimpleNamespace(config=SimpleNamespace(release=release("4.6.5", "source")))
    with pytest.raises(RuntimeError):
        with snapshots.paused(sandbox):
            raise RuntimeError("the swap failed")
    assert slept and slept[0] == pytest.approx(2.0 + LAST_USE_SLACK, abs=0.05)
