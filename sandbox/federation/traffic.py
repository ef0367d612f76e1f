"""The traffic between federating sandboxes, as their proxies saw it (nothing in Mastodon is patched):
`deliveries` lists it, and `settle` over a group waits until none is under way.

A group has settled when, at two looks in a row, every member's Sidekiq is idle with nothing to retry
(sandbox/data/settle.py: nothing enqueued, running or due soon) and no proxy logged a request between them:
work crossing from one instance to another is either a Sidekiq job on the sender (a delivery on `push`, a
fetch on `pull`) or a request its receiver's proxy logs, and what arrives becomes a job on the receiver
(`ingress`) before the answer is sent (app/controllers/activitypub/inboxes_controller.rb).
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone

from .. import server_commands
from ..data.settle import LOOK_INTERVAL, SidekiqStats, sidekiq_stats
from ..errors import SandboxError
from ..handle import Sandbox
from ..stack import exec_in
from ..timeouts import timeouts
from ..waiting import Look, wait_for
from .exposure import door, exposures

# Mastodon's User-Agent names its server: "http.rb/5.2.0 (Mastodon/4.6.5; +https://a.localhost/)"
# (Mastodon::Version.user_agent, lib/mastodon/version.rb); a signature's keyId names the actor's.
AGENT_HOST = re.compile(r"\+https?://([^/;)\s]+)")
KEY_ID_HOST = re.compile(r'keyId="https?://([^/"]+)')


@dataclass(frozen=True)
class Delivery:
    """One request between servers, as the receiving proxy logged it."""

    time: float
    sender: str  # the sending server's host ("" when it did not say)
    receiver: str
    method: str
    path: str
    activity: str  # an inbox POST's activity, e.g. "Create(Note)"; "" for fetches
    status: int

    def __str__(self) -> str:
        clock = datetime.fromtimestamp(self.time, timezone.utc).strftime("%H:%M:%S.%f")[:-3]
        what = self.activity or f"{self.method} {self.path}"
        return f"{clock}  {self.sender or '?'} -> {self.receiver}  {what}  {self.status}"


def activity_of(body: str) -> str:
    """'Create(Note)' for a Create of a Note; the type alone when its object is a link or absent."""
    try:
        doc = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(doc, dict):
        return ""
    obj = doc.get("object")
    inner = obj.get("type") if isinstance(obj, dict) else None
    return f"{doc.get('type', '?')}({inner})" if inner else str(doc.get("type", ""))


def parse_log(text: str) -> list[Delivery]:
    out = []
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a line cut by a proxy restart
        sender = AGENT_HOST.search(row.get("agent", "")) or KEY_ID_HOST.search(row.get("signature", ""))
        out.append(Delivery(float(row.get("time") or 0), sender.group(1) if sender else "", row.get("to", ""),
                            row.get("method", ""), row.get("path", ""), activity_of(row.get("body", "")),
                            int(row.get("status") or 0)))
    return out


def doors(members: list[Sandbox]) -> list[tuple[str, object]]:
    """The running doors of the apps exposed to the members' groups (exposure.py), by name: they log what
    Mastodon sends an app as the members' proxies log what reaches an instance."""
    groups = sorted({sb.config.group for sb in members if sb.config.group})
    found = [(e.name, door(e)) for g in groups for e in exposures(g)]
    return [(name, container) for name, container in found if container is not None]


def _run_on_log(name: str, container, command: tuple[str, list[str]]) -> str:
    proc = exec_in(container, command[1], timeout=timeouts().exec)
    if proc.returncode != 0:
        raise SandboxError(f"could not read the federation log of {name}: {proc.stderr.strip()[-200:] or 'is it up?'}")
    return proc.stdout


def _proxy(sandbox: Sandbox) -> tuple[str, object]:
    return sandbox.config.domain, sandbox.stack.container("proxy")


def deliveries(members: list[Sandbox]) -> list[Delivery]:
    """Every request the members' proxies, and the doors of apps exposed to them, logged as federation
    traffic, oldest first."""
    sources = [_proxy(sb) for sb in members] + doors(members)
    with ThreadPoolExecutor(max_workers=max(1, len(sources))) as pool:
        logs = pool.map(lambda source: parse_log(_run_on_log(*source, server_commands.federation_log())), sources)
        return sorted((d for found in logs for d in found), key=lambda d: d.time)


def log_size(name: str, container) -> int:
    first = _run_on_log(name, container, server_commands.federation_log_size()).split()[:1]
    if not first or not first[0].isdigit():
        raise SandboxError(f"could not read the size of the federation log of {name}: see `docker logs` of its proxy")
    return int(first[0])


def federation_idle(stats: SidekiqStats) -> bool:
    """Nothing enqueued or running, nothing due soon but what no other server waits for, no federation job to retry."""
    return (stats.enqueued == 0 and stats.busy == 0 and stats.due_soon == stats.deferred_due_soon
            and stats.federation_retries == 0)


def settle_group(members: list[Sandbox], timeout: float | None = None) -> dict[str, SidekiqStats]:
    """Wait until no federation work is under way between `members` (see the module's docstring); past
    `timeout`, one line naming what is pending on which instance, with the first retry's error."""
    last: list[tuple[int, ...]] = []

    def stats_of(sandbox: Sandbox) -> SidekiqStats | str:
        try:
            return sidekiq_stats(sandbox)
        except SandboxError as e:  # a member stopped or restarting: not settled, and said so if it stays so
            return str(e)

    def size_of(where: Sandbox | tuple[str, object]) -> int:
        try:
            return log_size(*(where if isinstance(where, tuple) else _proxy(where)))
        except SandboxError:
            return -1  # a member stopped (its Sidekiq's look says so) or a door removed meanwhile

    logs = [*members, *doors(members)]  # the apps exposed now (one added meanwhile is not waited for)

    def look() -> Look[dict[str, SidekiqStats]]:
        # Every command of a look at once: each waits a tenth of a second or more on the engine.
        with ThreadPoolExecutor(max_workers=len(members) + len(logs)) as pool:
            seen, sizes = pool.map(stats_of, members), tuple(pool.map(size_of, logs))
            stats = dict(zip((sb.config.domain for sb in members), seen))
        pending = "; ".join(f"{domain}: {st}" for domain, st in stats.items()
                            if isinstance(st, str) or not federation_idle(st))
        settled = not pending and last == [sizes]
        last[:] = [] if pending else [sizes]
        return Look(settled, stats, pending or "a request between them was under way")

    names = ", ".join(sb.config.domain for sb in members)
    return wait_for(look, timeout=timeout or timeouts().settle, interval=LOOK_INTERVAL,
                    what=f"federation between {names} did not settle",
                    hint="`mastodon-sandbox deliveries` shows what was sent and how each side answered")
