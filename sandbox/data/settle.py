"""Waiting for Mastodon's background work: Sidekiq does fan-out to home timelines, notifications, media
processing, mail and federation after the API has answered.

Settled means, at one moment: nothing enqueued, nothing running and nothing scheduled to run soon (Sidekiq's
`schedule` set always holds far-future jobs — onboarding mails, poll expiries — so only those due within
`horizon` seconds count). What runs is read from Redis' own client list, not from Sidekiq's heartbeat (written
every 10 s, BEAT_PAUSE in lib/sidekiq/launcher.rb, so its busy count can be 10 s old): a processor waiting for
work is blocked in BRPOP on its queues (lib/sidekiq/fetch.rb), so when as many are blocked as the running
Sidekiq processes have threads, none runs a job — and their queues are empty, or BRPOP would have returned.
No quiet period, no sleep: the first look that sees that is the answer.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Callable

from .. import server_commands
from ..errors import SandboxError
from ..handle import Sandbox
from ..timeouts import timeouts
from ..waiting import Look, wait_for


# Between two looks: each costs two commands in the containers (a tenth of a second or more), which paces it.
LOOK_INTERVAL = 0.1


@dataclass(frozen=True)
class Retry:
    """The first job of Sidekiq's retry set: what failed and why (a delivery's inbox, its last error)."""

    job: str
    queue: str
    error: str
    target: str = ""

    def __str__(self) -> str:
        to = f" to {self.target}" if self.target else ""
        return f"{self.job}{to} on {self.queue}: {self.error}"


@dataclass(frozen=True)
class SidekiqStats:
    enqueued: int
    busy: int  # processor threads not waiting for work; -1: the running Sidekiq has not registered yet
    due_soon: int
    retries: int
    first_retry: Retry | None = None
    deferred_due_soon: int = 0  # of due_soon: mails and remote statuses' link previews (put off on purpose)
    federation_retries: int = 0  # of retries: deliveries, fetches and inbound processing (push, pull, ingress)

    @property
    def idle(self) -> bool:
        return self.enqueued == 0 and self.busy == 0 and self.due_soon == 0

    def __str__(self) -> str:
        busy = "Sidekiq starting" if self.busy < 0 else f"{self.busy} busy"
        retry = f" (first: {self.first_retry})" if self.first_retry else ""
        return f"{self.enqueued} enqueued, {busy}, {self.due_soon} due soon, {self.retries} to retry{retry}"


def waiting_fetchers(client_list: str) -> int:
    """Redis clients blocked in BRPOP: Sidekiq processors waiting for a job."""
    count = 0
    for line in client_list.splitlines():
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        count += "b" in fields.get("flags", "") and fields.get("cmd") == "brpop"
    return count


def parse_retry(raw: str) -> Retry | None:
    """A retry entry (Sidekiq's job JSON with error_message); a delivery's inbox is its third argument
    (ActivityPub::DeliveryWorker#perform(json, source_account_id, inbox_url))."""
    if not raw.strip():
        return None
    try:
        job = json.loads(raw)
    except ValueError:
        return Retry("?", "?", raw[:200])
    args = job.get("args") or []
    target = args[2] if job.get("class") == "ActivityPub::DeliveryWorker" and len(args) > 2 else ""
    error = f"{job.get('error_class', '')}: {job.get('error_message', '')}".strip(": ")
    return Retry(str(job.get("wrapped") or job.get("class")), str(job.get("queue")), error[:300], str(target))


def parse_stats(output: str, client_list: str, hostnames: list[str], ok: bool = True,
                title_threads: Callable[[], int | None] = lambda: None) -> SidekiqStats:
    """The numbers server_commands.SIDEKIQ_STATS_LUA prints, with Redis' client list and the host names of the
    running Sidekiq containers (a process's registration outlives it: only a running container's count). A running
    Sidekiq not registered in Redis (a restore put back a copy without it, until its next heartbeat) counts the
    threads its process title names, asked of `title_threads` then only (it looks into the container)."""
    lines = output.splitlines()
    if not ok or len(lines) < 6 or not all(n.strip().isdigit() for n in lines[:3] + lines[4:6]):
        raise SandboxError(f"could not read Sidekiq's queues from Redis: {output.strip()[:200] or 'no output'}")
    enqueued, due_soon, retries = (int(n) for n in lines[:3])
    latest: dict[str, tuple[float, int]] = {}  # per host, the newest heartbeat's thread count
    for line in lines[6:]:
        host, beat, concurrency = (line.split() + ["", "0", "0"])[:3]
        if host in hostnames and float(beat or 0) >= latest.get(host, (-1.0, 0))[0]:
            latest[host] = (float(beat or 0), int(concurrency or 0))
    threads = sum(c for _, c in latest.values()) if set(latest) == set(hostnames) else title_threads()
    busy = -1 if threads is None else max(0, threads - waiting_fetchers(client_list))
    return SidekiqStats(enqueued, busy, due_soon, retries, parse_retry(lines[3]), int(lines[4]), int(lines[5]))


# Sidekiq's process title, set at each heartbeat: "sidekiq 8.1.6 mastodon [0 of 5 busy]" (lib/sidekiq/launcher.rb).
TITLE_THREADS = re.compile(r"\[\d+ of (\d+) busy\]")


def sidekiq_stats(sandbox: Sandbox, horizon: float = 10.0) -> SidekiqStats:
    running = sandbox.stack.container("sidekiq")  # one line when Sidekiq does not run: nothing would settle
    # The queues first, then the clients (one command, server_commands' `sidekiq look`): a job the scheduler moves
    # to a queue in between was due (counted), and one pushed and taken in between keeps its processor out of
    # BRPOP when the clients are read.
    proc = sandbox.stack.exec(*server_commands.sidekiq_look(time.time() + horizon))
    stats, mark, clients = proc.stdout.partition(server_commands.CLIENTS_MARK + "\n")
    ok = proc.returncode == 0 and bool(mark)

    def title_threads() -> int | None:
        titles = " ".join(" ".join(p) for p in running.top(ps_args="-eo pid,args").get("Processes") or [])  # top needs the pid
        title = TITLE_THREADS.search(titles)
        return int(title.group(1)) if title else None

    return parse_stats(stats if ok else (proc.stderr or proc.stdout), clients,
                       [running.attrs["Config"]["Hostname"]], ok=ok, title_threads=title_threads)


def settle(sandbox: Sandbox, timeout: float | None = None, horizon: float = 10.0, on_poll=None) -> SidekiqStats:
    """Wait until Sidekiq has nothing enqueued, running or due soon."""

    def look() -> Look[SidekiqStats]:
        stats = sidekiq_stats(sandbox, horizon)
        if on_poll:
            on_poll(stats)
        return Look(stats.idle, stats, str(stats))

    return wait_for(look, timeout=timeout or timeouts().settle, interval=LOOK_INTERVAL,
                    what="background work did not settle", hint="see `mastodon-sandbox logs sidekiq`")
