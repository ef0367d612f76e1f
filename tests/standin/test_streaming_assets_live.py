"""Streaming authentication and the asset URLs of the API, through the TLS proxy of the running sandbox (the
`sandbox` fixture of tests/conftest.py), against the real v4.6.5 recordings where there is one:
f9 "ws bad token" (WebSocket handshake refused with 401) and f1 "instance v1"/"instance v2"."""
from __future__ import annotations

import ast
import json
import os
import secrets

import pytest
import requests

from mastodon_sandbox import server_commands
from tests.corpus import exchange

# What the stand-in says, in one line, where real Mastodon would stream events (compose/standin/standin/streaming.py).
NOT_OFFERED = "The mastodon-sandbox stand-in does not offer streaming events: real Mastodon does (SANDBOX_SERVER=source or official)"

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

pytestmark = [pytest.mark.docker]


@pytest.fixture(scope="module")
def wss(mastodon_sandbox) -> str:
    return mastodon_sandbox.get("/api/v1/instance").json()["urls"]["streaming_api"]


def handshake(sandbox, url: str, **kw):
    """A real WebSocket handshake through the proxy: (status, lower-case headers, body) of a refusal, or
    (101, …) when the upgrade went through."""
    import websocket
    try:
        ws = websocket.create_connection(url, sslopt={"ca_certs": str(sandbox.state.ca_file)}, timeout=10, **kw)
    except websocket.WebSocketBadStatusException as e:
        return e.status_code, {k.lower(): v for k, v in (e.resp_headers or {}).items()}, e.resp_body or b""
    ws.close()
    return 101, {}, b""


@pytest.fixture(scope="module")
def pool(mastodon_sandbox):
    """Two fresh users (each with a read write follow push token) and their app, made by bulk_accounts in the
    web container; nothing is registered through POST /api/v1/apps (rate limited). The first token gets
    revoked by a test, the second stays valid."""
    tag = secrets.token_hex(3)
    spec = {"app": {"name": f"stream-{tag}", "scopes": "read write follow push",
                    "redirect_uri": "urn:ietf:wg:oauth:2.0:oob"},
            "password": secrets.token_hex(16), "email_domain": "example.test",
            "accounts": [{"username": f"strm{tag}_{i}", "email": f"strm{tag}_{i}@example.test", "role": None}
                         for i in range(2)]}
    p = mastodon_sandbox.stack.exec("web", ["bin/rails", "runner", server_commands.script_text("bulk_accounts")],
                           input=json.dumps(spec))
    assert p.returncode == 0, p.stderr
    doc = json.loads([x for x in p.stdout.splitlines() if x.startswith("SANDBOX-JSON ")][-1][13:])
    return {"app": doc["app"], "token": doc["accounts"][0]["token"], "kept": doc["accounts"][1]["token"]}


# ------------------------------------------------------------------ WebSocket handshake

def test_ws_bad_token_is_refused_as_recorded(mastodon_sandbox, wss):
    ref = exchange("f9-tootctl-streaming.jsonl", "ws bad token")
    # websocket-client's message: "Handshake status 401 Unauthorized -+-+- {headers} -+-+- b''"
    status_line, ref_headers, ref_body = [p.strip() for p in ref["body"].split("-+-+-")]
    ref_headers = {k.lower(): v for k, v in ast.literal_eval(ref_headers).items()}
    status, headers, body = handshake(mastodon_sandbox, f"{wss}/api/v1/streaming?stream=user&access_token=nope")
    assert f"Handshake status {status} Unauthorized" == status_line == "Handshake status 401 Unauthorized"
    assert body == ast.literal_eval(ref_body) == b""
    for h in ("content-type", "content-length", "x-error-message"):
        assert headers.get(h) == ref_headers[h], h
    assert set(ref_headers) - {"date", "server", "connection"} <= set(headers)
    assert len(headers["x-request-id"]) == len(ref_headers["x-request-id"])  # a UUID, as pino-http's


@pytest.mark.parametrize("how", ["none", "authorization", "protocol"])
def test_ws_missing_or_bad_token_by_every_source(mastodon_sandbox, wss, how):
    # streaming/index.js accountFromRequest: Authorization, access_token, then Sec-WebSocket-Protocol.
    kw = {"none": {}, "authorization": {"header": ["Authorization: Bearer nope"]},
          "protocol": {"subprotocols": ["nope"]}}[how]
    status, headers, body = handshake(mastodon_sandbox, f"{wss}/api/v1/streaming?stream=public", **kw)
    assert (status, body, headers.get("content-type")) == (401, b"", "text/plain")
    assert headers["x-error-message"] == ("Missing access token" if how == "none" else "Invalid access token")


def test_ws_user_token_passes_authentication_and_revoked_token_does_not(mastodon_sandbox, wss, pool):
    url = f"{wss}/api/v1/streaming?stream=user"
    for kw in ({"header": [f"Authorization: Bearer {pool['token']}"]}, {"subprotocols": [pool["token"]]}):
        status, headers, _ = handshake(mastodon_sandbox, url, **kw)
        if mastodon_sandbox.config.server == "standin":  # authenticated, then told in one line that events are not offered
            assert (status, headers.get("x-error-message")) == (501, NOT_OFFERED), headers
        else:
            assert status == 101, headers
    app = pool["app"]
    # An app (client_credentials) token has no user: refused like an unknown one (INNER JOIN users).
    tok = requests.post(mastodon_sandbox.url + "/oauth/token", verify=str(mastodon_sandbox.state.ca_file), timeout=10, data={
        "grant_type": "client_credentials", "client_id": app["client_id"], "client_secret": app["client_secret"],
        "scope": "read"}).json()["access_token"]
    status, headers, _ = handshake(mastodon_sandbox, f"{url}&access_token={tok}")
    assert (status, headers["x-error-message"]) == (401, "Invalid access token")
    r = requests.post(mastodon_sandbox.url + "/oauth/revoke", verify=str(mastodon_sandbox.state.ca_file), timeout=10, data={
        "client_id": app["client_id"], "client_secret": app["client_secret"], "token": pool["token"]})
    assert r.status_code == 200
    status, headers, _ = handshake(mastodon_sandbox, f"{url}&access_token={pool['token']}")
    assert (status, headers["x-error-message"]) == (401, "Invalid access token")


# ------------------------------------------------------------------ server-sent events (HTTP)

@pytest.mark.parametrize("path,headers,status,error", [
    ("/api/v1/streaming/public/local", {}, 401, "Missing access token"),
    ("/api/v1/streaming/user", {"Authorization": "Bearer nope"}, 401, "Invalid access token"),
    ("/api/v1/streaming/public?access_token=nope", {}, 401, "Invalid access token"),
    ("/api/v1/streaming/nope", {}, 400, "Unknown channel requested"),
])
def test_sse_refusals(mastodon_sandbox, path, headers, status, error):
    r = mastodon_sandbox.get(path, headers=headers, timeout=10)
    assert (r.status_code, r.headers["Content-Type"], r.json()) == (status, "application/json", {"error": error})
    # Express headers as on the recorded SSE responses (f7 "sse open"), but no Cache-Control: streaming/index.js
    # sets it only on the health route and the event stream itself (real v4.6.5 sends none here).
    ref = exchange("f7-streaming.jsonl", "sse open")["headers"]
    for h in ("X-Powered-By", "Access-Control-Allow-Origin", "Transfer-Encoding"):
        assert r.headers.get(h) == ref[h], h
    assert "Cache-Control" not in r.headers
    assert r.headers.get("X-Request-Id")


def test_streaming_health_headers_as_recorded(mastodon_sandbox):
    ref = exchange("f1-health-https.jsonl", "streaming health")["response"]
    r = mastodon_sandbox.get("/api/v1/streaming/health", timeout=10)
    assert (r.status_code, r.text) == (ref["status"], ref["text"])
    for h in ("Content-Type", "Transfer-Encoding", "X-Powered-By", "Access-Control-Allow-Origin", "Cache-Control"):
        assert r.headers.get(h) == ref["headers"][h], h


def test_sse_with_a_user_token_passes_authentication(mastodon_sandbox, pool):
    headers = {"Authorization": f"Bearer {pool['kept']}"}
    r = mastodon_sandbox.get("/api/v1/streaming/hashtag", headers=headers, timeout=10)
    assert (r.status_code, r.json()) == (400, {"error": "Missing tag name parameter"})
    r = mastodon_sandbox.get("/api/v1/streaming/public/local", headers=headers, timeout=10, stream=True)
    try:
        if mastodon_sandbox.config.server == "standin":
            assert (r.status_code, r.json()) == (501, {"error": NOT_OFFERED})
        else:
            assert (r.status_code, r.headers["Content-Type"].split(";")[0]) == (200, "text/event-stream")
    finally:
        r.close()


# ------------------------------------------------------------------ asset URLs

def _urls(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _urls(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _urls(v)
    elif isinstance(obj, str) and obj.startswith("https://") and obj.endswith((".png", ".jpg", ".gif", ".svg")):
        yield obj


def test_every_image_url_of_the_instance_loads(mastodon_sandbox):
    v1 = mastodon_sandbox.get("/api/v1/instance").json()
    v2 = mastodon_sandbox.get("/api/v2/instance").json()
    urls = list(dict.fromkeys([*_urls(v1), *_urls(v2)]))
    # The thumbnail, in both versions, and the icons; the contact account's avatar and header when there is one.
    assert v2["thumbnail"]["url"] in urls and v1["thumbnail"] in urls and len(urls) >= 10
    for acct in (v2["contact"]["account"], v1["contact_account"]):
        if acct:
            assert {acct["avatar"], acct["header"]} <= set(urls)
    # Same places as on real Mastodon: under /packs/ (the recording's front end was not built: /packs/stub/).
    ref = exchange("f1-health-https.jsonl", "instance v2")["response"]["json"]
    assert ref["thumbnail"]["url"].startswith("https://localhost/packs/")
    assert v2["thumbnail"]["url"].startswith(mastodon_sandbox.url + "/packs/")
    for url in urls:
        assert url.startswith(mastodon_sandbox.url + "/"), url
        r = requests.get(url, verify=str(mastodon_sandbox.state.ca_file), timeout=10, allow_redirects=False)
        assert (r.status_code, r.headers.get("Content-Type")) == (200, "image/png"), url
        assert r.content[:8] == b"\x89PNG\r\n\x1a\n", url


def test_account_avatar_and_header_load(mastodon_sandbox, pool):
    r = mastodon_sandbox.get("/api/v1/accounts/verify_credentials", headers={"Authorization": f"Bearer {pool['kept']}"})
    assert r.status_code == 200
    acct = r.json()
    for key in ("avatar", "avatar_static", "header", "header_static"):
        got = requests.get(acct[key], verify=str(mastodon_sandbox.state.ca_file), timeout=10)
        assert (got.status_code, got.headers.get("Content-Type")) == (200, "image/png"), acct[key]
