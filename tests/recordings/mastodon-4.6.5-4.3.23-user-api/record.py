"""Record the user-API exchanges of the contract suite (test_user_api.py) from the two sandboxes.

Run from the project root: `.venv/bin/python tests/recordings/mastodon-4.6.5-4.3.23-user-api/record.py`.
Writes `<sandbox>.jsonl` here, one exchange a line, in the format of ../mastodon-4.6.5-4.3.23-contract (label,
request, response {status, headers, json, text}), the request's form fields added as `body`; the bearer
token is replaced by `<token>`. Its writes are undone at the end but for the report, which no user can
withdraw: bob's status it names is deleted, the report stays in the sandbox's moderation queue.
"""

from __future__ import annotations

import base64
import json
import secrets
import sys
from pathlib import Path

import requests
import websocket
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

# Run as a script, from the project root: the project root goes on sys.path for the plumbing the record.py
# scripts share, tests/recordings/recording.py.
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from tests.recordings.recording import ROOT, cli_token, line, main, write  # noqa: E402

HERE = Path(__file__).resolve().parent
SERVERS = {"default": "https://localhost", "fed-b": "https://b.localhost"}
KEEP_HEADERS = ("content-type", "link", "deprecation")
ENDPOINT = "https://push.example/contract/recording"  # a reserved name (RFC 2606): nothing is ever delivered


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def push_keys() -> dict[str, str]:
    point = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return {"subscription[keys][p256dh]": b64url(point), "subscription[keys][auth]": b64url(secrets.token_bytes(16))}


class Recorder:
    def __init__(self, sandbox: str):
        self.base = SERVERS[sandbox]
        self.tokens = {who: cli_token(who, sandbox) for who in ("alice", "bob")}
        self.session = requests.Session()
        self.ca = str(ROOT / f".sandbox/{sandbox}/tls/ca.pem")
        self.lines: list[dict] = []

    def send(self, method: str, path: str, who: str | None = "alice", data: dict | None = None,
             params: dict | None = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return self.session.request(method, self.base + path, headers=headers, data=data, params=params,
                                    timeout=30, verify=self.ca)

    def record(self, label: str, method: str, path: str, who: str | None = "alice", data: dict | None = None,
               params: dict | None = None) -> dict | list | None:
        response = self.send(method, path, who, data, params)
        self.lines.append(line(label, method, response, who, KEEP_HEADERS, body=data))
        return self.lines[-1]["response"]["json"]

    def record_stream_error(self, label: str, streaming: str) -> None:
        """Subscribe to a stream that does not exist and keep the error frame the server answers."""
        url = streaming.rstrip("/") + "/api/v1/streaming"
        ws = websocket.create_connection(url, timeout=15, sslopt={"ca_certs": self.ca},
                                         header=[f"Authorization: Bearer {self.tokens['alice']}"])
        message = {"type": "subscribe", "stream": "nosuch"}
        try:
            ws.send(json.dumps(message))
            frame = json.loads(ws.recv())
        finally:
            ws.close()
        self.lines.append({
            "label": label,
            "request": {"method": "WEBSOCKET", "url": url, "headers": {"Authorization": "Bearer <token>"}, "body": message},
            "response": {"status": 101, "headers": {}, "json": frame, "text": None},
        })


def record(sandbox: str) -> None:
    r = Recorder(sandbox)
    r.record("nodeinfo 2.0", "GET", "/nodeinfo/2.0", None)

    # announcements: none is published on a sandbox (no API publishes one), so the list is empty
    r.record("announcements", "GET", "/api/v1/announcements")
    r.record("announcements without a token", "GET", "/api/v1/announcements", None)
    r.record("dismiss an unknown announcement", "POST", "/api/v1/announcements/1234567890123/dismiss")
    r.record("react to an unknown announcement", "PUT", "/api/v1/announcements/1234567890123/reactions/%F0%9F%91%8D")

    # a report of bob's status, as alice
    bob = r.send("GET", "/api/v1/accounts/verify_credentials", "bob").json()
    status = r.send("POST", "/api/v1/statuses", "bob", data={"status": "a status to report", "visibility": "unlisted"}).json()
    r.record("report", "POST", "/api/v1/reports", data={"account_id": bob["id"], "status_ids[]": status["id"],
                                                         "comment": "contract recording", "category": "other"})
    r.send("DELETE", f"/api/v1/statuses/{status['id']}", "bob").raise_for_status()

    # the push subscription of alice's token, from start to end
    keys = push_keys()
    r.record("push subscription before", "GET", "/api/v1/push/subscription")
    r.record("push subscribe", "POST", "/api/v1/push/subscription",
             data={"subscription[endpoint]": ENDPOINT, **keys, "data[alerts][mention]": "true",
                   "data[alerts][favourite]": "false", "data[policy]": "followed"})
    r.record("push subscription", "GET", "/api/v1/push/subscription")
    r.record("push update", "PUT", "/api/v1/push/subscription",
             data={"data[alerts][follow]": "true", "data[policy]": "none"})
    r.record("push subscribe with a bad key", "POST", "/api/v1/push/subscription",
             data={"subscription[endpoint]": ENDPOINT, **keys, "subscription[keys][p256dh]": "not-a-key"})
    r.record("push subscription after the refused subscribe", "GET", "/api/v1/push/subscription")
    r.record("push subscribe with a bad endpoint", "POST", "/api/v1/push/subscription",
             data={"subscription[endpoint]": "not a url", **keys})
    r.record("push subscribe standard", "POST", "/api/v1/push/subscription",
             data={"subscription[endpoint]": ENDPOINT, **push_keys(), "subscription[standard]": "true"})
    r.record("push unsubscribe", "DELETE", "/api/v1/push/subscription")
    r.record("push unsubscribe again", "DELETE", "/api/v1/push/subscription")
    r.record("push update without a subscription", "PUT", "/api/v1/push/subscription", data={"data[policy]": "all"})

    # a v1 filter, and the v2 filter it is a keyword of
    v1 = r.record("v1 filter create", "POST", "/api/v1/filters",
                  data={"phrase": "contractrecording", "context[]": ["home", "public"], "whole_word": "true",
                        "irreversible": "false", "expires_in": "3600"})
    r.record("v1 filters", "GET", "/api/v1/filters")
    r.record("v1 filter", "GET", f"/api/v1/filters/{v1['id']}")
    r.record("v1 filter update", "PUT", f"/api/v1/filters/{v1['id']}",
             data={"phrase": "contractrecording2", "context[]": ["notifications"], "whole_word": "false"})
    v2 = next(f for f in r.send("GET", "/api/v2/filters").json() if any(k["id"] == v1["id"] for k in f["keywords"]))
    r.record("v1 filter delete", "DELETE", f"/api/v1/filters/{v1['id']}")
    r.record("v1 filter after delete", "GET", f"/api/v1/filters/{v1['id']}")
    r.record("v2 filter left by the v1 delete", "GET", f"/api/v2/filters/{v2['id']}")
    r.record("v2 filter delete", "DELETE", f"/api/v2/filters/{v2['id']}")
    r.record("v1 filter with an unknown context", "POST", "/api/v1/filters",
             data={"phrase": "contractrecording3", "context[]": ["nowhere"]})

    # e-mail confirmation
    r.record("check confirmation", "GET", "/api/v1/emails/check_confirmation")
    r.record("check confirmation without a token", "GET", "/api/v1/emails/check_confirmation", None)
    r.record("resend confirmation", "POST", "/api/v1/emails/confirmations")

    # the instance's documents
    r.record("terms of service", "GET", "/api/v1/instance/terms_of_service", None)
    r.record("terms of service of a date", "GET", "/api/v1/instance/terms_of_service/2001-01-01", None)
    r.record("privacy policy", "GET", "/api/v1/instance/privacy_policy", None)
    r.record("translation languages", "GET", "/api/v1/instance/translation_languages", None)

    instance = r.send("GET", "/api/v2/instance", None).json()
    r.record_stream_error("streaming unknown stream", instance["configuration"]["urls"]["streaming"])
    write(HERE, sandbox, r.lines)


if __name__ == "__main__":
    main(record, sys.argv[1:] or SERVERS)
