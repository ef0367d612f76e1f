"""Waiting for Mastodon's background work: Sidekiq does fan-out to home timelines, notifications, media
processing and mail after the API has answered. Settled means nothing enqueued, nothing busy and nothing
scheduled to run soon — Sidekiq's `schedule` set always holds far-future jobs (onboarding mails, poll
expiries), so only those due within `horizon` seconds count."""

from __future__ import annotations

import time
from dataclasses import dataclass

from .. import server_commands
from ..errors import SandboxError
from ..handle import Sandbox
from ..timeouts import timeouts
from ..waiting import Look, wait_for


@dataclass(frozen=True)
class SidekiqStats:
    enqueued: int
    busy: int
    due_soon: int
    retries: int

    @property
    def idle(self) -> bool:
        return self.enqueued == 0 and self.busy == 0 and self.due_soon == 0

    def __str__(self) -> str:
        return f"{self.enqueued} enqueued, {self.busy} busy, {self.due_soon} due soon, {self.retries} to retry"


def parse_stats(output: str, ok: bool = True) -> SidekiqStats:
    """The four numbers server_commands.SIDEKIQ_STATS_LUA prints."""
    numbers = [line.strip() for line in output.splitlines() if line.strip()]
    if not ok or len(numbers) != 4 or not all(n.isdigit() for n in numbers):
        raise SandboxError(f"could not read Sidekiq's queues from Redis: {output.strip()[:200] or 'no output'}")
    return SidekiqStats(*(int(n) for n in numbers))


def sidekiq_stats(sandbox: Sandbox, horizon: float = 10.0) -> SidekiqStats:
    proc = sandbox.stack.exec(*server_commands.sidekiq_stats(time.time() + horizon))
    return parse_stats(proc.stdout if proc.returncode == 0 else (proc.stderr or proc.stdout), ok=proc.returncode == 0)


def settle(sandbox: Sandbox, timeout: float | None = None, horizon: float = 10.0, quiet_for: float = 6.0,
           on_poll=None) -> SidekiqStats:
    """Wait until Sidekiq is idle and has stayed idle for `quiet_for` seconds (a worker's `busy` count is
    refreshed by its heartbeat every 5 s, and a finishing job may enqueue another)."""
    idle_since: list[float] = []  # when Sidekiq was last seen going idle

    def look() -> Look[SidekiqStats]:
        stats = sidekiq_stats(sandbox, horizon)
        if on_poll:
            on_poll(stats)
        if not stats.idle:
            idle_since.clear()
        elif not idle_since:
            idle_since.append(time.monotonic())
        return Look(bool(idle_since) and time.monotonic() - idle_since[0] >= quiet_for, stats, str(stats))

    return wait_for(look, timeout=timeout or timeouts().settle, interval=timeouts().poll,
                    what="background work did not settle", hint="see `mastodon-sandbox logs sidekiq`")
