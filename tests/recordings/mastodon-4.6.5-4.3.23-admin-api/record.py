"""Record the admin API's exchanges from the two sandboxes, as each one's Owner.

Run from the project root: `.venv/bin/python tests/recordings/mastodon-4.6.5-4.3.23-admin-api/record.py`.
Writes `<sandbox>.jsonl` here, one exchange a line, in the format of ../mastodon-4.6.5-live (label, request
{method, url, headers, and here `data`, the form fields of a POST or PUT}, response {status, headers, json,
text}); bearer tokens are replaced by `<token>`. What it makes it undoes: the domain, e-mail domain, IP and
canonical e-mail blocks and the domain allow are deleted (each named for the run, under .invalid or in
TEST-NET-1), the statuses deleted, the moderation actions undone and the report resolved. What stays: the
report itself (reports cannot be deleted), the warnings on the leased account (a pool account no test gets
again) and a hashtag marked not trendable (its name is the run's own).
"""

from __future__ import annotations

import random
import secrets
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests

from mastodon_sandbox.handle import Sandbox
from mastodon_sandbox.provision import env_exports
from mastodon_sandbox.testing.leases import lease

# Run as a script, from the project root: the project root goes on sys.path for the plumbing the record.py
# scripts share, tests/recordings/recording.py.
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from tests.recordings.recording import StateRecorder, line, main, paced, write  # noqa: E402

HERE = Path(__file__).resolve().parent
SANDBOXES = ("default", "fed-b")
KEEP_HEADERS = ("content-type", "link")
MEASURES = ["active_users", "new_users", "interactions", "opened_reports", "resolved_reports", "instance_media_attachments"]
DIMENSIONS = ["languages", "sources", "servers", "space_usage", "software_versions"]


class Recorder(StateRecorder):
    def __init__(self, sandbox: str):
        super().__init__(sandbox)
        exports = env_exports(self.state)
        self.tokens = {"admin": exports["MASTODON_ADMIN_ACCESS_TOKEN"], "alice": exports["MASTODON_ACCESS_TOKEN_ALICE"],
                       "bob": exports["MASTODON_ACCESS_TOKEN_BOB"]}

    def add_token(self, who: str, token: str) -> None:
        self.tokens[who] = token

    def send(self, method: str, path: str, who: str = "admin", label: str | None = None, expect: tuple[int, ...] = (200,),
             **kw) -> requests.Response:
        """One request as `who`; recorded under `label` when there is one (setup calls are not)."""
        # tests share the Owner's rate limit: a 429 is waited out
        r = paced(self.session, method, self.base, path, expect, headers={"Authorization": f"Bearer {self.tokens[who]}"},
                  timeout=60, verify=self.ca, **kw)
        if label:
            sent = {"data": kw["data"]} if kw.get("data") is not None else {}  # the form fields, when there are any
            self.lines.append(line(label, method, r, who, KEEP_HEADERS, **sent))
        return r


def days(count: int = 3) -> dict[str, str]:
    today = datetime.now(timezone.utc).date()
    return {"start_at": (today - timedelta(days=count - 1)).isoformat(), "end_at": today.isoformat()}


def read_and_delete(rec: Recorder, plural: str, singular: str, record_id: str, update: dict | None = None,
                    first: dict | None = None) -> None:
    """A server-wide record just made: a POST of `first`'s keywords (when given), then the record updated (when
    `update` is), read and listed, and deleted whatever happened; each recorded under `singular`'s labels."""
    path = f"/api/v1/admin/{plural}"
    try:
        if first:
            rec.send("POST", **first)
        if update is not None:
            rec.send("PUT", f"{path}/{record_id}", label=f"{singular} update", data=update)
        rec.send("GET", f"{path}/{record_id}", label=singular)
        rec.send("GET", path, label=f"{singular}s")
    finally:
        rec.send("DELETE", f"{path}/{record_id}", label=f"{singular} delete")


def record(sandbox: str) -> None:
    rec = Recorder(sandbox)
    run = "rec" + secrets.token_hex(4)
    host = rec.base.split("://", 1)[1]
    alice = rec.json("GET", "/api/v1/accounts/verify_credentials", "alice")
    bob = rec.json("GET", "/api/v1/accounts/verify_credentials", "bob")
    # an account of the recording's own for the moderation actions (sandbox/testing/leases.py: never handed out again)
    leased = lease(Sandbox.open(sandbox), 1, holder=f"{HERE.name}/record.py")[0]
    rec.add_token("leased", leased.token)

    # --- accounts
    rec.send("GET", "/api/v1/admin/accounts", label="accounts v1", params={"limit": 3})
    rec.send("GET", "/api/v1/admin/accounts", label="accounts v1 staff", params={"staff": "true"})
    rec.send("GET", "/api/v2/admin/accounts", label="accounts v2 local staff", params={"origin": "local", "permissions": "staff"})
    rec.send("GET", "/api/v2/admin/accounts", label="accounts v2 remote", params={"origin": "remote", "limit": 3})
    rec.send("GET", "/api/v2/admin/accounts", label="accounts v2 by username", params={"origin": "local", "username": "alice"})
    rec.send("GET", f"/api/v1/admin/accounts/{alice['id']}", label="account")
    rec.send("GET", "/api/v1/admin/accounts/0", label="account unknown", expect=(404,))
    rec.send("GET", "/api/v1/admin/accounts", "alice", label="accounts as a user", expect=(403,))

    # --- a report: alice reports bob, with one of his statuses
    status = rec.json("POST", "/api/v1/statuses", "bob", data={"status": f"reported in {run}", "visibility": "unlisted"})
    report = rec.json("POST", "/api/v1/reports", "alice", data={"account_id": bob["id"], "status_ids[]": [status["id"]],
                                                               "comment": f"recording {run}", "category": "other", "forward": "false"})
    path = f"/api/v1/admin/reports/{report['id']}"
    rec.send("GET", "/api/v1/admin/reports", label="reports", params={"target_account_id": bob["id"]})
    rec.send("GET", path, label="report")
    rec.send("POST", f"{path}/assign_to_self", label="report assign to self")
    rec.send("POST", f"{path}/unassign", label="report unassign")
    rec.send("PUT", path, label="report update", data={"category": "spam"})
    rec.send("POST", f"{path}/resolve", label="report resolve")
    rec.send("GET", "/api/v1/admin/reports", label="reports resolved", params={"resolved": "true", "target_account_id": bob["id"]})
    rec.send("POST", f"{path}/reopen", label="report reopen")
    # 4.6.0 lists both with `unresolved` too; 4.3.23 knows no `unresolved` and lists the resolved ones only
    rec.send("GET", "/api/v1/admin/reports", label="reports resolved and unresolved",
             params={"resolved": "true", "unresolved": "true", "target_account_id": bob["id"]})
    rec.send("POST", f"{path}/resolve")
    rec.send("DELETE", f"/api/v1/statuses/{status['id']}", "bob")

    # --- moderation actions on the leased account, each undone
    account = f"/api/v1/admin/accounts/{leased.id}"
    for kind, undo in (("none", None), ("sensitive", "unsensitive"), ("silence", "unsilence"), ("disable", "enable")):
        rec.send("POST", f"{account}/action", label=f"account action {kind}",
                 data={"type": kind, "text": f"recording {run}: {kind}", "send_email_notification": "false"})
        if undo:
            rec.send("GET", account, label=f"account after {kind}")
            rec.send("POST", f"{account}/{undo}", label=f"account {undo}")

    # --- server-wide records, each made, read, listed and deleted
    block = rec.json("POST", "/api/v1/admin/domain_blocks", label="domain block create",
                     data={"domain": f"{run}-block.invalid", "severity": "silence", "reject_media": "true",
                           "private_comment": f"recording {run}"})
    read_and_delete(rec, "domain_blocks", "domain block", block["id"], update={"public_comment": "a test", "obfuscate": "true"},
                    first={"path": "/api/v1/admin/domain_blocks", "label": "domain block create again", "expect": (422,),
                           "data": {"domain": f"{run}-block.invalid", "severity": "silence"}})
    rec.send("GET", f"/api/v1/admin/domain_blocks/{block['id']}", label="domain block deleted", expect=(404,))

    for plural, singular, data in (
        ("domain_allows", "domain allow", {"domain": f"{run}-allow.invalid"}),
        ("email_domain_blocks", "email domain block", {"domain": f"{run}-mail.invalid", "allow_with_approval": "true"}),
        ("canonical_email_blocks", "canonical email block", {"email": f"{run}.X+recording@example.invalid"}),
    ):
        made = rec.json("POST", f"/api/v1/admin/{plural}", label=f"{singular} create", data=data)
        test = {"path": "/api/v1/admin/canonical_email_blocks/test", "label": "canonical email block test",
                "data": {"email": f"{run.upper()}x+other@example.invalid"}}
        read_and_delete(rec, plural, singular, made["id"], first=test if plural == "canonical_email_blocks" else None)

    taken = {b["ip"] for b in rec.json("GET", "/api/v1/admin/ip_blocks", params={"limit": 100})}
    ip = random.choice([f"192.0.2.{n}" for n in range(1, 255) if f"192.0.2.{n}/32" not in taken])
    ip_block = rec.json("POST", "/api/v1/admin/ip_blocks", label="ip block create",
                        data={"ip": ip, "severity": "sign_up_block", "comment": f"recording {run}", "expires_in": str(24 * 3600)})
    read_and_delete(rec, "ip_blocks", "ip block", ip_block["id"], update={"severity": "sign_up_requires_approval", "comment": "a test"})

    # --- trends and hashtags: a hashtag of the run's own, reviewed
    tagged = rec.json("POST", "/api/v1/statuses", "alice", data={"status": f"#{run}", "visibility": "unlisted"})
    for kind in ("links", "statuses", "tags", "links/publishers"):
        rec.send("GET", f"/api/v1/admin/trends/{kind}", label=f"trends {kind}")
    tags = rec.json("GET", "/api/v1/admin/tags", label="tags", params={"limit": 20})
    tag = next(t for t in tags if t["name"] == run)
    rec.send("GET", f"/api/v1/admin/tags/{tag['id']}", label="tag")
    rec.send("PUT", f"/api/v1/admin/tags/{tag['id']}", label="tag update", data={"trendable": "false"})
    rec.send("DELETE", f"/api/v1/statuses/{tagged['id']}", "alice")

    # --- the dashboard's metrics
    rec.send("POST", "/api/v1/admin/measures", label="measures",
             data={"keys[]": MEASURES, **days(3), "instance_media_attachments[domain]": host})
    rec.send("POST", "/api/v1/admin/dimensions", label="dimensions", data={"keys[]": DIMENSIONS, **days(3), "limit": 3})
    rec.send("POST", "/api/v1/admin/retention", label="retention", data={**days(3), "frequency": "day"})
    # without their parameters: 400 on 4.6.5 (params.require), an empty list on 4.3.23
    rec.send("POST", "/api/v1/admin/measures", label="measures without parameters", data={}, expect=(200, 400))
    rec.send("POST", "/api/v1/admin/retention", label="retention without parameters", data={}, expect=(200, 400))

    # the version, read the same way as the other recordings' files say it
    rec.send("GET", "/api/v2/instance", label="instance")

    write(HERE, sandbox, rec.lines)


if __name__ == "__main__":
    main(record, SANDBOXES)
