"""Choosing the contract suite's target and checking it before any test (sandbox/contract/target.py), and
the client every answer goes through (sandbox/contract/client.py), against a tiny local HTTP server."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from mastodon_sandbox.contract.client import (
    Client,
    Context,
    RateLimitedAnyway,
    ReadOnly,
    ServerQuirk,
)
from mastodon_sandbox.contract.pacing import MalformedRateLimit, Paced, Pacer, WriteBudget
from mastodon_sandbox.contract.report import Report
from mastodon_sandbox.contract.target import (
    Settings,
    StandIn,
    TargetError,
    base_url,
    check_account,
    check_remote,
    http_session,
    probe_server,
)
from mastodon_sandbox.contract.validate import ContractViolation


def test_settings_come_from_the_environment_then_ini_and_tokens_only_from_the_environment(tmp_path):
    ini = {"mastodon_contract_url": "https://ini.example", "mastodon_contract_writes": "true",
           "mastodon_contract_target": "remote"}.get
    settings = Settings.read({"MASTODON_CONTRACT_URL": "https://env.example", "MASTODON_CONTRACT_TOKEN": "t1"},
                             lambda name: ini(name, ""))
    assert (settings.target, settings.url, settings.token, settings.writes) == ("remote", "https://env.example", "t1", True)
    assert "t1" not in repr(settings)  # tokens never in a repr, a log or a report
    default = Settings.read({"SANDBOX_STATE_DIR": str(tmp_path)})
    assert (default.target, default.writes, default.state) == ("sandbox", False, tmp_path / "contract-cleanup")
    with pytest.raises(TargetError, match="choose sandbox or remote"):
        Settings.read({"MASTODON_CONTRACT_TARGET": "staging"})
    with pytest.raises(TargetError, match="use 1 to allow writes"):
        Settings.read({"MASTODON_CONTRACT_WRITES": "please"})


@pytest.mark.parametrize("url, says", [
    ("https://botsin.space", "botsin.space closed in December 2024"),
    ("https://BOTSIN.space/@bot", "botsin.space closed in December 2024"),
    ("ftp://example.social", "is not a base URL"),
    ("example.social", "is not a base URL"),
    ("https://example.social/?x=1", "without a query"),
])
def test_bad_urls_are_refused_before_any_request(url, says):
    with pytest.raises(TargetError, match=says):
        base_url(url)


def test_a_base_url_loses_its_trailing_slash():
    assert base_url("https://example.social/") == "https://example.social"


class Fake(BaseHTTPRequestHandler):
    """Answers by path: routes[path] = (status, content type, body, headers)."""

    routes: ClassVar[dict[str, tuple]] = {}
    seen: ClassVar[list[tuple[str, str]]] = []

    def _answer(self):
        Fake.seen.append((self.command, self.path))
        status, kind, body, headers = Fake.routes.get(self.path.split("?")[0], (404, "application/json", '{"error":"Not Found"}', {}))
        self.send_response(status)
        self.send_header("Content-Type", kind)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body.encode() if isinstance(body, str) else json.dumps(body).encode())

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def fake():
    Fake.routes, Fake.seen = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Fake)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def instance(version: str) -> dict:
    return {"domain": "x", "version": version, "configuration": {"urls": {"streaming": "wss://x"}}}


def test_a_server_older_than_4_is_read_from_the_v1_instance(fake):
    Fake.routes["/api/v1/instance"] = (200, "application/json", {"uri": "x", "version": "3.5.3", "urls": {"streaming_api": "wss://x"}}, {})
    server = probe_server(http_session(fake), fake, True)
    assert str(server.version) == "3.5.3" and server.instance_path == "/api/v1/instance" and server.streaming_url == "wss://x"


@pytest.mark.parametrize("route, says", [
    ((200, "text/html", "<!DOCTYPE html><html></html>", {}), "answered an HTML page"),
    ((200, "text/plain", "hello", {}), "not JSON"),
    ((200, "application/json", instance("3.0.0 (compatible; Pleroma 2.5.0)"), {}), "is not Mastodon: .*Pleroma 2.5.0"),
    ((429, "application/json", {"error": "Too many requests"}, {"X-RateLimit-Reset": "2026-12-02T04:00:00Z"}),
     "answered 429 .*resets at 2026-12-02T04:00:00Z"),
])
def test_a_server_that_is_not_mastodon_is_one_line(fake, route, says):
    Fake.routes["/api/v2/instance"] = route
    with pytest.raises(TargetError, match=says) as caught:
        probe_server(http_session(fake), fake, True)
    assert "\n" not in str(caught.value)


def test_the_stand_in_is_named_as_such(fake):
    Fake.routes["/api/v2/instance"] = (200, "application/json", instance("4.6.5+standin"), {})
    with pytest.raises(StandIn, match="offline stand-in, not Mastodon"):
        probe_server(http_session(fake), fake, True)


def test_an_unreachable_server_is_one_line():
    with pytest.raises(TargetError, match="cannot reach 127.0.0.1:9: connection refused"):
        probe_server(http_session("http://127.0.0.1:9"), "http://127.0.0.1:9", True)


@pytest.mark.parametrize("status, error, says", [
    (401, "The access token is invalid", "is not accepted by .*401: The access token is invalid"),
    (403, "This action is outside the authorized scopes", "cannot read its own account .*read scope"),
    (422, "This method requires an authenticated user", "is an app token"),
])
def test_a_token_that_cannot_be_used_is_one_line_without_the_token(fake, status, error, says):
    Fake.routes["/api/v2/instance"] = (200, "application/json", instance("4.6.5"), {})
    Fake.routes["/api/v1/accounts/verify_credentials"] = (status, "application/json", {"error": error}, {})
    server = probe_server(http_session(fake), fake, True)
    with pytest.raises(TargetError, match=says) as caught:
        check_account(http_session(fake), server, "s3cr3t-token", "MASTODON_CONTRACT_TOKEN")
    assert "s3cr3t-token" not in str(caught.value)


def test_remote_writes_need_a_bot_account_and_probe_scopes_without_writing(fake):
    Fake.routes["/api/v2/instance"] = (200, "application/json", instance("4.6.5"), {})
    me = {"id": "7", "username": "me", "acct": "me", "bot": False}
    Fake.routes["/api/v1/accounts/verify_credentials"] = (200, "application/json", me, {})
    settings = Settings(target="remote", url=fake, token="t", writes=True, allow_http=True)  # the fake is plain http
    with pytest.raises(TargetError, match="@me .* is not a bot account"):
        check_remote(settings)
    Fake.routes["/api/v1/accounts/verify_credentials"] = (200, "application/json", {**me, "bot": True}, {})
    Fake.routes["/api/v1/statuses"] = (422, "application/json", {"error": "Validation failed: Text can't be blank"}, {})
    Fake.routes["/api/v1/accounts/0/follow"] = (403, "application/json", {"error": "This action is outside the authorized scopes"}, {})
    with pytest.raises(TargetError, match="lacks the follow .* scope"):
        check_remote(settings)
    Fake.routes["/api/v1/accounts/0/follow"] = (404, "application/json", {"error": "Record not found"}, {})
    assert check_remote(settings).me["bot"] is True
    assert check_remote(Settings(target="remote", url=fake, token="t", allow_http=True)).peer is None  # read-only: no probes
    assert [p for m, p in Fake.seen if m == "POST"] == ["/api/v1/statuses", "/api/v1/accounts/0/follow"] * 2


def test_a_token_never_goes_over_plain_http_unless_asked_for_and_then_only_to_this_machine(fake):
    """Refused before any request: the listener never sees the token (nor anything else)."""
    Fake.routes["/api/v2/instance"] = (200, "application/json", instance("4.6.5"), {})
    Fake.routes["/api/v1/accounts/verify_credentials"] = (200, "application/json", {"id": "7", "username": "me"}, {})
    environ = {"MASTODON_CONTRACT_TARGET": "remote", "MASTODON_CONTRACT_URL": fake, "MASTODON_CONTRACT_TOKEN": "s3cr3t"}
    with pytest.raises(TargetError, match="is plain http: the token would travel in clear text; use https://, or "
                                          "MASTODON_CONTRACT_ALLOW_HTTP=1") as caught:
        check_remote(Settings.read(environ))
    assert "\n" not in str(caught.value) and "s3cr3t" not in str(caught.value)
    assert Fake.seen == []
    for url, says in (("http://example.social", "clear text; use https://$"),
                      ("http://10.0.0.1:3000", "clear text; use https://$")):
        with pytest.raises(TargetError, match=says):
            check_remote(Settings.read({**environ, "MASTODON_CONTRACT_URL": url}))
        with pytest.raises(TargetError, match="allows that to this machine only"):  # the option itself: loopback only
            check_remote(Settings.read({**environ, "MASTODON_CONTRACT_URL": url, "MASTODON_CONTRACT_ALLOW_HTTP": "1"}))
    with pytest.raises(TargetError, match="MASTODON_CONTRACT_ALLOW_HTTP='maybe'"):
        Settings.read({**environ, "MASTODON_CONTRACT_ALLOW_HTTP": "maybe"})
    assert check_remote(Settings.read({**environ, "MASTODON_CONTRACT_ALLOW_HTTP": "1"})).me["id"] == "7"
    assert Fake.seen[-1] == ("GET", "/api/v1/accounts/verify_credentials")


def test_a_plain_ws_streaming_url_is_refused_before_the_token_is_sent(fake):
    Fake.routes["/api/v2/instance"] = (200, "application/json", {**instance("4.6.5"), "configuration": {
        "urls": {"streaming": "ws://streaming.example.social"}}}, {})
    with pytest.raises(TargetError, match="streaming URL 'ws://streaming.example.social' is plain ws"):
        check_remote(Settings(target="remote", url=fake, token="t", allow_http=True))
    assert [path for _, path in Fake.seen] == ["/api/v2/instance"]


def client(fake, read_only: bool = False) -> tuple[Client, Report]:
    report = Report()
    server = probe_server(http_session(fake), fake, True)
    context = Context(server, report, Pacer(), WriteBudget(None), http_session(fake), remote=True, read_only=read_only)
    return Client(context, "t", "me"), report


def test_the_client_checks_counts_and_recognises_quirks(fake):
    Fake.routes["/api/v2/instance"] = (200, "application/json", instance("4.6.5"), {})
    api, report = client(fake)
    Fake.routes["/api/v1/lists"] = (200, "application/json", [{"id": "1", "title": "friends", "replies_policy": "list", "exclusive": False}], {})
    assert api.get("/api/v1/lists").entity == "List[]"
    assert report.bodies == 1 and dict(report.endpoints) == {"GET /api/v1/lists": 1}
    # Rails' 404 page for an unknown route, sent as `*/*` to a client that accepts anything
    Fake.routes["/api/v1/nothing_here"] = (404, "*/*; charset=utf-8", "\n<!DOCTYPE html>\n<html></html>", {})
    with pytest.raises(ServerQuirk, match="unknown-api-route-html-404"):
        api.get("/api/v1/nothing_here", expect=(404,))
    assert set(report.quirks) == {"unknown-api-route-html-404"}
    Fake.routes["/api/v1/markers"] = (200, "application/json", {"home": {"last_read_id": 5}}, {})
    with pytest.raises(ContractViolation):
        api.get("/api/v1/markers")
    assert report.breaks and report.breaks[0].startswith("GET /api/v1/markers: not a valid Markers")


def test_the_client_refuses_read_only_writes_and_malformed_headers_and_stops_at_a_429(fake):
    Fake.routes["/api/v2/instance"] = (200, "application/json", instance("4.6.5"), {})
    read_only, _ = client(fake, read_only=True)
    Fake.seen.clear()
    with pytest.raises(ReadOnly):
        read_only.post("/api/v1/statuses", data={"status": "hello"})
    assert Fake.seen == []  # refused before it was sent
    api, report = client(fake)
    Fake.routes["/api/v1/preferences"] = (200, "application/json", {}, {"X-RateLimit-Limit": "300"})
    with pytest.raises(MalformedRateLimit):
        api.get("/api/v1/preferences")
    assert report.breaks == [("GET /api/v1/preferences: rate-limit headers: X-RateLimit-Limit without "
                              "X-RateLimit-Remaining, X-RateLimit-Reset")]
    reset = (datetime.now(timezone.utc) + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    Fake.routes["/api/v1/timelines/home"] = (429, "application/json", {"error": "Too many requests"},
                                             {"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset})
    with pytest.raises(RateLimitedAnyway, match="answered 429"):
        api.get("/api/v1/timelines/home")
    Fake.seen.clear()
    with pytest.raises(Paced, match="0 of 300 requests left"):  # and the next request waits for the reset, or is not sent
        api.get("/api/v1/lists")
    assert Fake.seen == []
