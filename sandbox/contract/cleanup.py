"""What a run against a remote server created, written down the moment it exists, so that the run deletes it
at the end, and the next run finishes what a rate limit, a crash or Ctrl-C left.

One file per server, `<folder>/<host>.json` (0600, its folder 0700; the folder is
`<state root>/contract-cleanup` unless MASTODON_CONTRACT_STATE names another), shared by the processes of
a run under a lock:
  {"base_url": "https://example.social", "entries": [{"kind": "status", "id": "1131", "owner": "1094",
   "owner_acct": "mybot", "created": "2026-12-02T03:40:00Z", "run": "5f2c…", "worker": "gw0"}]}
It holds ids, never tokens. `run` and `worker` keep the processes of one run (xdist workers) from
undoing each other's things: a run first undoes what other runs left, and at its end what it made itself.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import SandboxError
from ..state import write_private

# How each kind is undone. A status goes with its media (delete_media=true, else the server keeps them
# for a redraft: app/controllers/api/v1/statuses_controller.rb#destroy), its reblogs, favourites,
# bookmarks, pin and poll votes; unattached media can be deleted since 4.4 (api/v1/media_controller.rb).
UNDO = {
    "status": ("DELETE", "/api/v1/statuses/{id}?delete_media=true"),
    "scheduled_status": ("DELETE", "/api/v1/scheduled_statuses/{id}"),
    "media": ("DELETE", "/api/v1/media/{id}"),
    "follow": ("POST", "/api/v1/accounts/{id}/unfollow"),
    # a v2 filter goes with its keywords, so with the v1 filters they are (a v1 DELETE leaves the v2 filter);
    # a push subscription is one per token, the token that undoes it
    "filter": ("DELETE", "/api/v2/filters/{id}"),
    "filter_v1": ("DELETE", "/api/v1/filters/{id}"),
    "push_subscription": ("DELETE", "/api/v1/push/subscription"),
    # a user's block of a whole domain (its id is the domain); a collection goes with its items (4.6.0+)
    "domain_block": ("DELETE", "/api/v1/domain_blocks?domain={id}"),
    "collection": ("DELETE", "/api/v1/collections/{id}"),
    # the admin API's server-wide records (an admin token's, on a remote only with writes allowed)
    "admin_domain_block": ("DELETE", "/api/v1/admin/domain_blocks/{id}"),
    "admin_domain_allow": ("DELETE", "/api/v1/admin/domain_allows/{id}"),
    "admin_email_domain_block": ("DELETE", "/api/v1/admin/email_domain_blocks/{id}"),
    "admin_ip_block": ("DELETE", "/api/v1/admin/ip_blocks/{id}"),
    "admin_canonical_email_block": ("DELETE", "/api/v1/admin/canonical_email_blocks/{id}"),
}
# Answers that mean "nothing left to undo": gone already, or (media) attached to a status that goes with it.
GONE = {404, 410, 422}


@dataclass(frozen=True)
class Leftover:
    kind: str
    id: str
    owner: str  # the id of the account that made it: only its token can undo it
    owner_acct: str = ""
    created: str = ""
    run: str = ""
    worker: str = ""

    @property
    def undo(self) -> tuple[str, str]:
        method, template = UNDO[self.kind]
        return method, template.format(id=self.id)


def host_key(base_url: str) -> str:
    """A file name for a server: its host, and port when there is one (`localhost-8443`)."""
    netloc = urlsplit(base_url).netloc.lower().rsplit("@", 1)[-1]
    return re.sub(r"[^a-z0-9.-]", "-", netloc.replace(":", "-"))


class CleanupList:
    """The leftovers of one server; `path` None keeps them in memory only (the sandbox, whose leased accounts
    are never used again)."""

    def __init__(self, path: Path | None, base_url: str, run: str = "", worker: str = "main"):
        self.path, self.base_url = path, base_url
        self.run, self.worker = run, worker
        self._memory: list[Leftover] = []
        self.created = 0  # by this process: added, and removed again (deleted or undone)
        self.removed = 0

    @classmethod
    def for_server(cls, folder: Path, base_url: str, run: str = "", worker: str = "main") -> CleanupList:
        return cls(folder / f"{host_key(base_url)}.json", base_url, run, worker)

    @contextmanager
    def _entries(self) -> Iterator[list[Leftover]]:
        """The entries, read and written back under an exclusive lock (several xdist workers share a file)."""
        if self.path is None:
            yield self._memory
            return
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path.with_name(f".{self.path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            fields = set(Leftover.__dataclass_fields__)
            entries = [Leftover(**{k: v for k, v in e.items() if k in fields}) for e in self._read().get("entries", [])]
            before = list(entries)
            yield entries
            if entries != before:
                body = {"base_url": self.base_url, "entries": [asdict(e) for e in entries]}
                write_private(self.path, json.dumps(body, indent=2) + "\n")
        finally:
            os.close(fd)

    def _read(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except ValueError:
            # A damaged list must not stop the run; what it named is lost, say so rather than guess.
            broken = self.path.with_suffix(".damaged")
            self.path.replace(broken)
            return {}

    def add(self, kind: str, id: str, owner: str, owner_acct: str = "") -> None:
        if kind not in UNDO:
            raise ValueError(f"unknown kind {kind!r}")
        created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        with self._entries() as entries:
            if not any(e.kind == kind and e.id == str(id) and e.owner == str(owner) for e in entries):
                entries.append(Leftover(kind, str(id), str(owner), owner_acct, created, self.run, self.worker))
                self.created += 1

    def done(self, kind: str, id: str, owner: str) -> None:
        with self._entries() as entries:
            kept = [e for e in entries if not (e.kind == kind and e.id == str(id) and e.owner == str(owner))]
            self.removed += len(entries) - len(kept)
            entries[:] = kept

    def counted_here(self, entries: list[Leftover], owners: set[str]) -> list[Leftover]:
        """Of the pending `entries`, those this process reports as left for the next run: its own, and those
        of earlier runs (counted by the run's first process only). A report adds up its workers' counts, and
        a sibling worker's leftovers are its own to count (it may still be undoing them)."""
        first = self.worker in ("main", "gw0")
        return [e for e in entries if e.owner in owners
                and ((e.run == self.run and e.worker == self.worker) or (e.run != self.run and first))]

    def pending(self) -> list[Leftover]:
        if self.path is not None and not self.path.exists():
            return []  # nothing written down yet: a read-only run leaves no file behind
        with self._entries() as entries:
            return list(entries)


@dataclass
class Finished:
    undone: int
    left: list[Leftover]
    stopped: str = ""  # why undoing stopped early (a rate limit), empty when it did not


def finish(cleanup: CleanupList, send: Callable[[Leftover], int], owners: set[str], earlier: bool = False) -> Finished:
    """Undo, newest first, the leftovers of the accounts in `owners` that this process made (or, `earlier`,
    that other runs made); `send` makes the request and returns the status. It may raise a SandboxError
    (paced, rate-limited): then the rest stays for the next run."""
    undone, stopped = 0, ""
    for leftover in reversed(cleanup.pending()):
        mine = leftover.run == cleanup.run and leftover.worker == cleanup.worker
        other_run = leftover.run != cleanup.run
        if leftover.owner not in owners or not (other_run if earlier else mine):
            continue
        try:
            status = send(leftover)
        except (SandboxError, OSError) as e:  # paced, rate-limited or unreachable: the rest waits for the next run
            stopped = str(e)
            break
        if 200 <= status < 300 or status in GONE:
            cleanup.done(leftover.kind, leftover.id, leftover.owner)
            undone += 1
    return Finished(undone, cleanup.pending(), stopped)
