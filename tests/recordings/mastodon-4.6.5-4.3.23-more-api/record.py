"""Record the exchanges of the contract suite's test_more_user_api.py from the two sandboxes.

Run from the project root: `.venv/bin/python tests/recordings/mastodon-4.6.5-4.3.23-more-api/record.py [sandbox]`.
Writes `<sandbox>.jsonl` here, one exchange a line, in the format of ../mastodon-4.6.5-4.3.23-user-api (label,
request {method, url, headers, body: the form fields sent or null}, response {status, headers, json, text});
bearer tokens, client secrets and the tokens introspected are replaced by `<token>`/`<secret>`. It acts as two
accounts leased from the sandbox's pool (sandbox/testing/leases.py: never handed out again), so what cannot be
undone through the API (a notification request accepted, a suggestion dismissed, notifications cleared) stays
with accounts nobody uses again. What it makes it undoes: the domain block, collection, media, statuses, avatar
and header, the profile's changes and the client-credentials token; the application it registers stays (the API
cannot delete one). A 4.3 server is asked only what 4.3.23's config/routes/api.rb draws.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import requests

from mastodon_sandbox.contract.suite.support import png
from mastodon_sandbox.contract.versions import ServerVersion
from mastodon_sandbox.handle import Sandbox
from mastodon_sandbox.testing.leases import lease

# Run as a script, from the project root: the project root goes on sys.path for the plumbing the record.py
# scripts share, tests/recordings/recording.py.
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from tests.recordings.recording import StateRecorder, line, main, paced, write  # noqa: E402

HERE = Path(__file__).resolve().parent
SANDBOXES = ("default", "fed-b")
KEEP_HEADERS = ("content-type", "link", "deprecation", "mastodon-async-refresh")
NEVER = 2001  # a year without an annual report, outside any campaign


class Recorder(StateRecorder):
    def __init__(self, sandbox: str):
        super().__init__(sandbox)
        me, peer = lease(Sandbox.open(sandbox), 2, holder=f"{HERE.name}/record.py")
        self.tokens = {"me": me.token, "peer": peer.token}
        self.secrets: set[str] = set(self.tokens.values())
        self.version = ServerVersion.parse(self.json("GET", "/api/v2/instance", None)["version"])

    def send(self, method: str, path: str, who: str | None = "me", label: str | None = None,
             expect: tuple[int, ...] = (200,), **kw) -> requests.Response:
        """One request as `who` (None: no token); recorded under `label` when there is one."""
        headers = {**kw.pop("headers", {}), **({"Authorization": f"Bearer {self.tokens[who]}"} if who else {})}
        r = paced(self.session, method, self.base, path, expect, headers=headers, timeout=60, verify=self.ca, **kw)
        if label:
            data = kw.get("data")
            self.lines.append(line(label, method, r, who, KEEP_HEADERS, body=self._hide(data) if data is not None else None))
        return r

    def _hide(self, data: dict) -> dict:
        return {k: ("<secret>" if k == "client_secret" else "<token>" if isinstance(v, str) and v in self.secrets else v) for k, v in data.items()}


def record(sandbox: str) -> None:
    r = Recorder(sandbox)
    v44, v46 = r.version >= "4.4.0", r.version >= "4.6.0"
    me = r.json("GET", "/api/v1/accounts/verify_credentials", "me")
    peer = r.json("GET", "/api/v1/accounts/verify_credentials", "peer")
    r.send("GET", "/nodeinfo/2.0", None, label="nodeinfo 2.0")

    # --- accounts
    r.send("GET", f"/api/v1/accounts/{me['id']}/identity_proofs", label="identity proofs")
    domain = f"recording-{me['id']}.example"
    r.send("POST", "/api/v1/domain_blocks", label="domain block", data={"domain": domain})
    r.send("GET", "/api/v1/domain_blocks", label="domain blocks")
    r.send("GET", "/api/v1/domain_blocks/preview", label="domain block preview", params={"domain": domain})
    r.send("DELETE", "/api/v1/domain_blocks", label="domain unblock", params={"domain": domain})
    r.send("GET", "/api/v1/domain_blocks", label="domain blocks after")
    r.send("GET", "/api/v1/suggestions", label="v1 suggestions", params={"limit": 5})
    r.send("DELETE", f"/api/v1/suggestions/{peer['id']}", label="dismiss a suggestion")

    # the profile (4.6.0): changed and put back; 4.3.23 has no route (a 404 page)
    if v46:
        before = r.json("GET", "/api/v1/profile", label="profile")
        r.send("PATCH", "/api/v1/profile", label="profile update",
               data={"display_name": "Recording", "note": "A note with #recording"})
        r.send("PATCH", "/api/v1/profile", label="profile update refused", data={"display_name": "x" * 100}, expect=(422,))
        r.send("PATCH", "/api/v1/profile", label="profile restored",
               data={"display_name": before["display_name"], "note": before["note"]})
    else:
        r.send("GET", "/api/v1/profile", label="profile", expect=(404,))
    images = {"avatar": ("avatar.png", png(), "image/png"), "header": ("header.png", png(8, 4), "image/png")}
    r.send("PATCH", "/api/v1/accounts/update_credentials", label="avatar and header set", files=images)
    r.send("DELETE", "/api/v1/profile/avatar", label="avatar removed")
    r.send("DELETE", "/api/v1/profile/header", label="header removed")
    # anyone may subscribe by e-mail when it is turned on (4.6.0): `head 404` here; no route on 4.3.23
    r.send("POST", f"/api/v1/accounts/{me['id']}/email_subscriptions", None, label="email subscription",
           data={"email": "not an address"}, expect=(404, 422))

    # --- collections (4.6.0): the peer made discoverable for it, and put back
    if v46:
        r.send("PATCH", "/api/v1/profile", "peer", data={"discoverable": "true"})
        created = r.json("POST", "/api/v1/collections", label="collection create",
                         data={"name": "Recording", "description": "a recorded collection", "tag_name": "recording",
                               "sensitive": "false", "discoverable": "true", "account_ids[]": [peer["id"]]})["collection"]
        path = f"/api/v1/collections/{created['id']}"
        item = created["items"][0]
        r.send("GET", path, None, label="collection")
        r.send("PATCH", path, label="collection update", data={"name": "Recording, renamed"})
        r.send("GET", f"/api/v1/accounts/{me['id']}/collections", label="account collections")
        r.send("GET", f"/api/v1/accounts/{peer['id']}/in_collections", "peer", label="in collections")
        r.send("GET", f"/api/v1/accounts/{peer['id']}/in_collections", label="in collections of another", expect=(403,))
        r.send("POST", f"{path}/items/{item['id']}/revoke", "peer", label="collection item revoke")
        r.send("GET", path, label="collection after revoke")
        r.send("DELETE", f"{path}/items/{item['id']}", label="collection item delete")
        added = r.json("POST", f"{path}/items", label="collection item add", data={"account_id": peer["id"]})
        r.send("DELETE", f"{path}/items/{added['collection_item']['id']}", label="collection item delete again")
        r.send("POST", f"{path}/items", label="collection item without account", data={}, expect=(422,))
        r.send("POST", "/api/v1/collections", label="collection refused",
               data={"name": "x" * 41, "sensitive": "false", "discoverable": "false"}, expect=(422,))
        r.send("DELETE", path, label="collection delete")
        r.send("GET", path, label="collection after delete", expect=(404,))
        r.send("PATCH", "/api/v1/profile", "peer", data={"discoverable": ""})

    # --- annual reports, async refreshes, donation campaigns
    r.send("GET", "/api/v1/annual_reports", label="annual reports")
    r.send("POST", f"/api/v1/annual_reports/{NEVER}/read", label="annual report read never made", expect=(404,))
    if v44:
        r.send("GET", f"/api/v1/annual_reports/{NEVER}", label="annual report never made", expect=(404,))
        r.send("GET", "/api/v1_alpha/async_refreshes/nosuchrefresh", label="async refresh unknown", expect=(404,))
    if v46:
        r.send("GET", f"/api/v1/annual_reports/{NEVER}/state", label="annual report state past")
        r.send("GET", f"/api/v1/annual_reports/{datetime.now(timezone.utc).year}/state", label="annual report state this year")
        r.send("POST", f"/api/v1/annual_reports/{NEVER}/generate", label="annual report generate past")
        r.send("GET", "/api/v1/donation_campaigns", label="donation campaigns", expect=(204,))
        r.send("GET", "/api/v1/donation_campaigns", None, label="donation campaigns without a token", expect=(422,))

    # --- the instance and discovery
    r.send("GET", "/api/v1/peers/search", None, label="peers search", params={"q": "a"})
    r.send("GET", "/api/v1/trends", None, label="trends alias", params={"limit": 3})
    status = r.json("POST", "/api/v1/statuses", data={"status": "to embed and translate", "visibility": "public"})
    r.send("GET", "/api/oembed", None, label="oembed", params={"url": status["url"], "maxwidth": "300"})
    r.send("GET", "/api/oembed", None, label="oembed with a height", params={"url": status["url"], "maxheight": "200"})
    r.send("GET", "/api/oembed", None, label="oembed unknown", params={"url": f"{r.base}/@nobody/1"}, expect=(404,))
    r.send("POST", f"/api/v1/statuses/{status['id']}/translate", label="translate without a service", expect=(404,))
    r.send("DELETE", f"/api/v1/statuses/{status['id']}")
    r.send("GET", "/.well-known/host-meta", None, label="host-meta xml", headers={"Accept": "application/xrd+xml"})
    r.send("GET", "/.well-known/host-meta", None, label="host-meta json", headers={"Accept": "application/json"})

    # --- v1 media: processed at once; deleted unattached (4.4.0), else with a status
    media = r.json("POST", "/api/v1/media", label="v1 media", files={"file": ("square.png", png(), "image/png")},
                   data={"description": "a small red square"})
    if v44:
        r.send("DELETE", f"/api/v1/media/{media['id']}", label="media delete")
        r.send("GET", f"/api/v1/media/{media['id']}", label="media after delete", expect=(404,))
    else:
        holder = r.json("POST", "/api/v1/statuses", data={"status": "v1 media", "media_ids[]": [media["id"]]})
        r.send("DELETE", f"/api/v1/statuses/{holder['id']}", params={"delete_media": "true"})

    # --- a conversation, marked read and unread, then removed
    dm = r.json("POST", "/api/v1/statuses", data={"status": f"@{peer['username']} a conversation", "visibility": "direct"})
    conversation = next(c for c in wait(lambda: r.json("GET", "/api/v1/conversations"), lambda b: b)
                        if (c.get("last_status") or {}).get("id") == dm["id"])
    path = f"/api/v1/conversations/{conversation['id']}"
    r.send("POST", f"{path}/read", label="conversation read")
    r.send("POST", f"{path}/unread", label="conversation unread")
    r.send("DELETE", path, label="conversation remove")
    r.send("DELETE", path, label="conversation remove again", expect=(404,))
    r.send("DELETE", f"/api/v1/statuses/{dm['id']}")

    # --- notification requests: the peer's private mentions, filtered (the leased accounts follow nobody)
    mentions, seen = [], set()

    def request() -> dict:
        mentions.append(r.json("POST", "/api/v1/statuses", "peer",
                               data={"status": f"@{me['username']} private mention {len(mentions) + 1}", "visibility": "direct"}))
        found = wait(lambda: r.json("GET", "/api/v1/notifications/requests"),
                     lambda b: [x for x in b if x["account"]["id"] == peer["id"] and x["id"] not in seen])
        seen.add(found[0]["id"])
        return found[0]

    one = request()
    r.send("POST", f"/api/v1/notifications/requests/{one['id']}/dismiss", label="request dismiss")
    r.send("GET", f"/api/v1/notifications/requests/{one['id']}", label="request after dismiss", expect=(404,))
    two = request()
    r.send("POST", "/api/v1/notifications/requests/dismiss", label="requests dismiss", data={"id[]": [two["id"]]})
    three = request()
    r.send("GET", "/api/v1/notifications/requests", label="requests")
    r.send("POST", "/api/v1/notifications/requests/accept", label="requests accept", data={"id[]": [three["id"]]})
    r.send("GET", f"/api/v1/notifications/requests/{three['id']}", label="request after accept", expect=(404,))
    for mention in mentions:
        r.send("DELETE", f"/api/v1/statuses/{mention['id']}", "peer")

    # --- a notification group's accounts, then every notification cleared
    faved = r.json("POST", "/api/v1/statuses", data={"status": "to favourite", "visibility": "public"})
    r.send("POST", f"/api/v1/statuses/{faved['id']}/favourite", "peer")
    groups = wait(lambda: r.json("GET", "/api/v2/notifications", params={"types[]": ["favourite"]}),
                  lambda b: [g for g in b["notification_groups"] if g.get("status_id") == faved["id"]])
    r.send("GET", f"/api/v2/notifications/{groups[0]['group_key']}/accounts", label="notification group accounts")
    r.send("GET", "/api/v2/notifications/no-such-group/accounts", label="notification group accounts unknown")
    r.send("POST", f"/api/v1/statuses/{faved['id']}/unfavourite", "peer")
    r.send("DELETE", f"/api/v1/statuses/{faved['id']}")
    r.send("POST", "/api/v2/notifications/clear", label="notifications clear v2")
    r.send("POST", "/api/v1/notifications/clear", label="notifications clear v1")

    # --- OAuth: token info and introspection, with a bearer token and with client credentials
    r.send("GET", "/oauth/token/info", label="token info")
    r.send("GET", "/oauth/token/info", None, label="token info without a token", expect=(401,))
    r.send("POST", "/oauth/introspect", label="introspect another token of the app", data={"token": r.tokens["peer"]})
    r.send("POST", "/oauth/introspect", label="introspect itself", data={"token": r.tokens["me"]}, expect=(401,))
    r.send("POST", "/oauth/introspect", None, label="introspect unauthorised", data={"token": r.tokens["me"]}, expect=(400,))
    app = r.json("POST", "/api/v1/apps", None, data={"client_name": "recording", "scopes": "read",
                                                    "redirect_uris": "urn:ietf:wg:oauth:2.0:oob"})
    credentials = {"client_id": app["client_id"], "client_secret": app["client_secret"]}
    token = r.json("POST", "/oauth/token", None, data={"grant_type": "client_credentials", "scope": "read", **credentials})
    r.secrets.add(token["access_token"])
    r.tokens["app"] = token["access_token"]
    r.send("POST", "/oauth/introspect", None, label="introspect with client credentials", data={"token": token["access_token"], **credentials})
    r.send("POST", "/oauth/introspect", None, label="introspect another app's token", data={"token": r.tokens["me"], **credentials})
    r.send("GET", "/oauth/token/info", "app", label="token info of an app token")
    r.send("POST", "/oauth/revoke", None, data={"token": token["access_token"], **credentials})
    r.send("POST", "/oauth/introspect", None, label="introspect a revoked token", data={"token": token["access_token"], **credentials})

    write(HERE, sandbox, r.lines)


def wait(get, pick, timeout: float = 30.0):
    """What `pick` finds in `get()`'s answer, once it finds something (Sidekiq works in the background)."""
    end = time.monotonic() + timeout
    while True:
        found = pick(get())
        if found or time.monotonic() > end:
            if not found:
                raise AssertionError("nothing came within the time")
            return found
        time.sleep(0.5)


if __name__ == "__main__":
    main(record, sys.argv[1:] or SANDBOXES)
