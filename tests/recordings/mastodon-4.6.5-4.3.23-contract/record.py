"""Record the notification and discovery exchanges of the contract suite from the two sandboxes.

Run from the project root: `.venv/bin/python tests/recordings/mastodon-4.6.5-4.3.23-contract/record.py`.
Writes `<sandbox>.jsonl` here, one exchange a line, in the format of ../mastodon-4.6.5-live (label, request,
response {status, headers, json, text}); the bearer token is replaced by `<token>`. Its only writes (alice posts, bob favourites
and replies, so that she has notifications) are undone at the end.
"""

from __future__ import annotations

import sys
from pathlib import Path

import requests

# Run as a script, from the project root: the project root goes on sys.path for the plumbing the record.py
# scripts share, tests/recordings/recording.py.
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from tests.recordings.recording import ROOT, cli_token, line, main, settle, write  # noqa: E402

HERE = Path(__file__).resolve().parent
SERVERS = {"default": ("https://localhost", "localhost"), "fed-b": ("https://b.localhost", "b.localhost")}
KEEP_HEADERS = ("content-type", "link")


def exchanges(domain: str) -> list[tuple[str, str, str | None, dict | None]]:
    """(label, path, who, params); who is None for an anonymous request."""
    return [
        ("grouped notifications", "/api/v2/notifications", "alice", {"limit": 5}),
        ("grouped notifications, partial accounts", "/api/v2/notifications", "alice",
         {"limit": 3, "expand_accounts": "partial_avatars"}),
        ("grouped unread count", "/api/v2/notifications/unread_count", "alice", None),
        ("unread count", "/api/v1/notifications/unread_count", "alice", None),
        ("policy v1", "/api/v1/notifications/policy", "alice", None),
        ("policy v2", "/api/v2/notifications/policy", "alice", None),
        ("notification requests", "/api/v1/notifications/requests", "alice", None),
        ("notification requests merged", "/api/v1/notifications/requests/merged", "alice", None),
        ("webfinger", "/.well-known/webfinger", None, {"resource": f"acct:alice@{domain}"}),
        ("webfinger unknown", "/.well-known/webfinger", None, {"resource": f"acct:nobody-here@{domain}"}),
        ("nodeinfo index", "/.well-known/nodeinfo", None, None),
        ("nodeinfo 2.0", "/nodeinfo/2.0", None, None),
        ("oauth metadata", "/.well-known/oauth-authorization-server", None, None),
        ("userinfo", "/oauth/userinfo", "alice", None),
        ("instance rules", "/api/v1/instance/rules", None, None),
        ("instance peers", "/api/v1/instance/peers", None, None),
        ("instance activity", "/api/v1/instance/activity", None, None),
        ("instance languages", "/api/v1/instance/languages", None, None),
        ("instance domain blocks", "/api/v1/instance/domain_blocks", None, None),
        ("instance translation languages", "/api/v1/instance/translation_languages", None, None),
    ]


def record(sandbox: str) -> None:
    base, domain = SERVERS[sandbox]
    tokens = {who: cli_token(who, sandbox) for who in ("alice", "bob")}
    session = requests.Session()
    ca = str(ROOT / f".sandbox/{sandbox}/tls/ca.pem")

    def call(method: str, path: str, who: str, **kw) -> dict:
        r = session.request(method, base + path, headers={"Authorization": f"Bearer {tokens[who]}"},
                            timeout=30, verify=ca, **kw)
        r.raise_for_status()
        return r.json()

    # A few notifications for alice, undone at the end: bob favourites her status and replies to it.
    mine = call("POST", "/api/v1/statuses", "alice", data={"status": "contract recording", "visibility": "unlisted"})
    call("POST", f"/api/v1/statuses/{mine['id']}/favourite", "bob")
    reply = call("POST", "/api/v1/statuses", "bob", data={"status": f"@alice@{domain} hello",
                                                         "in_reply_to_id": mine["id"], "visibility": "unlisted"})
    # Sidekiq makes the notifications: wait until it has nothing left to do (exact, not a guess)
    settle(sandbox)
    lines = []
    for label, path, who, params in exchanges(domain):
        headers = {"Authorization": f"Bearer {tokens[who]}"} if who else {}
        response = session.get(base + path, params=params, headers=headers, timeout=30, verify=ca)
        lines.append(line(label, "GET", response, who, KEEP_HEADERS))
    call("DELETE", f"/api/v1/statuses/{reply['id']}", "bob")
    call("POST", f"/api/v1/statuses/{mine['id']}/unfavourite", "bob")
    call("DELETE", f"/api/v1/statuses/{mine['id']}", "alice")
    write(HERE, sandbox, lines)


if __name__ == "__main__":
    main(record, SERVERS)
