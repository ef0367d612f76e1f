"""The suite's run: the server under test, its accounts, and the writes every test makes through one door,
so that each is budgeted, written down for cleanup before anything else happens, and undone."""

from __future__ import annotations

import secrets
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, NoReturn, TypeVar

import pytest

from ...errors import SandboxError
from ...waiting import Look, wait_for
from ..cleanup import CleanupList, Finished, Leftover, finish
from ..client import Answer, Client, Context
from ..report import Report
from ..target import Server, send

T = TypeVar("T")


class Lacks(Exception):
    """The server lacks a capability a test needs: the test is skipped with the reason (conftest.py)."""


@dataclass
class Actor:
    """An account the run acts as: its client and its account as verify_credentials showed it."""

    api: Client
    account: dict

    @property
    def id(self) -> str:
        return str(self.account["id"])

    @property
    def username(self) -> str:
        return self.account["username"]


@dataclass
class ContractRun:
    context: Context
    target: str  # "sandbox 'default'" or "remote"
    writes: bool
    cleanup: CleanupList
    me: Actor | None = None
    peer: Actor | None = None
    why_no_peer: str = ""
    # An account the admin API answers (admin:read admin:write and a role that may use it): found by the
    # `admin` fixture (plugin.py) on first use; why_no_admin says why there is none.
    admin: Actor | None = None
    why_no_admin: str = ""
    why_no_writes: str = ""
    earlier: int = 0  # leftovers of earlier runs this run deleted first
    # A word and a hashtag no other post has, so searches and tag timelines find this run's posts only.
    tag: str = field(default_factory=lambda: "contract" + secrets.token_hex(4))

    @property
    def server(self) -> Server:
        return self.context.server

    @property
    def report(self) -> Report:
        return self.context.report

    @property
    def remote(self) -> bool:
        return self.context.remote

    @property
    def visibility(self) -> str:
        # Public on the sandbox (the public and hashtag streams see it); unlisted on a remote, as servers that
        # allow bots ask (shared/reference/api-contract.md section 4.2).
        return "unlisted" if self.remote else "public"

    def client(self, token: str | None, who: str) -> Client:
        return Client(self.context, token, who)

    def lacks(self, capability: str, reason: str) -> NoReturn:
        """The server does not offer this: recorded for the report, and the test is skipped, not failed."""
        self.report.lacks(capability, reason)
        raise Lacks(f"capability: {capability}: {reason}")

    # --- writes: each one budgeted (in the client), written down, undone ------------------------------

    def post(self, actor: Actor, text: str, *, headers: dict[str, str] | None = None, **fields: Any) -> dict:
        """POST /api/v1/statuses; the status (or scheduled status) goes on the cleanup list at once."""
        data = {"status": text, "visibility": fields.pop("visibility", self.visibility), **fields}
        answer = actor.api.post("/api/v1/statuses", data=data, headers=headers)
        body = answer.body
        kind = "scheduled_status" if "scheduled_at" in body and "params" in body else "status"
        self.cleanup.add(kind, body["id"], actor.id, actor.username)
        return body

    def delete_status(self, actor: Actor, status_id: str) -> Answer:
        answer = actor.api.delete(f"/api/v1/statuses/{status_id}", params={"delete_media": "true"})
        self.cleanup.done("status", status_id, actor.id)
        return answer

    def follow(self, actor: Actor, other: Actor) -> Answer:
        answer = actor.api.post(f"/api/v1/accounts/{other.id}/follow")
        self.cleanup.add("follow", other.id, actor.id, actor.username)
        return answer

    def unfollow(self, actor: Actor, other: Actor) -> Answer:
        answer = actor.api.post(f"/api/v1/accounts/{other.id}/unfollow")
        self.cleanup.done("follow", other.id, actor.id)
        return answer

    def admin_create(self, actor: Actor, kind: str, path: str, data: dict[str, Any], expect: tuple[int, ...] = (200,)) -> Answer:
        """POST a server-wide admin record (a domain block, an IP block, …); one made (200) goes on the cleanup
        list at once (kind: one of cleanup.UNDO's admin_* kinds)."""
        answer = actor.api.post(path, data=data, expect=expect)
        if answer.status == 200:
            self.cleanup.add(kind, answer.body["id"], actor.id, actor.username)
        return answer

    def admin_delete(self, actor: Actor, kind: str, path: str, record_id: str) -> Answer:
        answer = actor.api.delete(f"{path}/{record_id}")
        self.cleanup.done(kind, record_id, actor.id)
        return answer

    def mutual_follows(self, a: Actor, b: Actor) -> None:
        """On 4.x a private mention from an account you do not follow lands among filtered notification
        requests (NotificationPolicy for_private_mentions: filter): accounts that DM each other follow first."""
        for x, y in ((a, b), (b, a)):
            relationship = self.follow(x, y).body
            assert relationship["following"] or relationship["requested"], relationship

    # --- the end of a run -----------------------------------------------------------------------------

    def undo(self, leftover: Leftover) -> int:
        """Undo one leftover with its owner's token; the answer's status."""
        owner = next((a for a in (self.me, self.peer, self.admin) if a and a.id == leftover.owner), None)
        method, path = leftover.undo
        # Not checked against the contract: a break here must not stop the cleanup (the tests check these answers).
        return owner.api.request(method, path, expect=(200, 404, 410, 422), entity=None).status

    @property
    def owners(self) -> set[str]:
        return {a.id for a in (self.me, self.peer, self.admin) if a}

    def finish(self, earlier: bool = False) -> Finished:
        """Undo what this process made (or, `earlier`, what earlier runs left) with the run's accounts, as far
        as pacing allows."""
        return finish(self.cleanup, self.undo, self.owners, earlier=earlier)

    def finish_admin(self) -> Finished | None:
        """The sandbox's end of a run (its cleanup list lives in memory and is otherwise never finished): the
        server-wide admin records a test could not delete (paced mid-test), deleted as far as pacing allows."""
        return finish(self.cleanup, self.undo, {self.admin.id}) if self.admin else None

    def report_cleanup(self, done: Finished, earlier: int = 0) -> None:
        self.report.cleanup = {"created": self.cleanup.created, "removed": self.cleanup.removed - earlier,
                               "earlier": earlier, "left": len(self.cleanup.counted_here(done.left, self.owners)),
                               "file": str(self.cleanup.path), "stopped": done.stopped}


def needs(run: ContractRun, version: str, what: str) -> None:
    """Skip the test on a server older than `version`, the release that added `what`: it is never asked for it."""
    if run.server.version < version:
        pytest.skip(f"Mastodon {run.server.version} has no {what} (added in {version})")


def favourite_group(me: Actor, peer: Actor, status: dict) -> dict:
    """`peer` favourites `me`'s status; the favourite's notification group in me's /api/v2/notifications, once
    it is there (the caller unfavourites it)."""
    peer.api.post(f"/api/v1/statuses/{status['id']}/favourite")

    def groups() -> list:
        body = me.api.get("/api/v2/notifications", params={"types[]": ["favourite"], "limit": 5}).body
        return [g for g in body["notification_groups"] if g.get("status_id") == status["id"]]
    return eventually("the favourite's notification group", groups)[0]


def not_on_a_remote(run: ContractRun, why: str) -> None:
    """Skip the test on a remote server, saying `why`: what it does cannot be undone there, only on a sandbox."""
    if run.remote:
        pytest.skip(f"not done on a remote server: {why}")


def unless_turned_off(run: ContractRun, client: Client, path: str, method: str = "GET", data: Any = None,
                      expect: tuple[int, ...] = (200,)) -> Answer | None:
    """The checked answer of an endpoint a setting can turn off, None when it is off. Off is `head 404`: an
    empty body sent as text/html whatever was asked for, which the client would take for the quirk
    unknown-api-route-html-404 (an HTML page for an unknown route); so a first, bare request tells the two
    apart (an empty 404 is the setting) and only an endpoint that is on is asked through the client (a write
    only with what may be sent twice)."""
    auth = {"Authorization": f"Bearer {client.token}"} if client.token else {}
    probe = send(run.context.session, method, run.server.base_url + path, run.server.verify, headers=auth, data=data)
    if probe.status_code == 404 and not probe.content:
        return None
    return client.request(method, path, data=data, expect=expect)


def eventually(what: str, probe: Callable[[], T], timeout: float = 30.0, interval: float = 0.3) -> T:
    """Poll until `probe` answers something truthy: Sidekiq delivers notifications, conversations and
    fan-out in the background."""
    def look() -> Look[T]:
        value = probe()
        return Look(bool(value), value)

    try:
        return wait_for(look, timeout=timeout, interval=interval, what=f"{what}: not")
    except SandboxError as e:
        raise AssertionError(str(e)) from None


def in_a_day(days: int = 1) -> str:
    """A scheduled_at the server accepts (at least 5 minutes ahead), in ISO 8601."""
    return (datetime.now(timezone.utc) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def png(width: int = 4, height: int = 4) -> bytes:
    """A real PNG (a red square), made here so the suite ships no file."""
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
