"""The code flow, step by step, against the REAL exchanges of a v4.6.5 server (corpus f4): with the recorded
state and PKCE pair, every request the harness makes must be the one the recorder made (and the server
accepted), and every answer must be read as the server meant it."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from requests.adapters import BaseAdapter

from mastodon_sandbox.errors import SandboxError
from mastodon_sandbox.provision import oauth
from mastodon_sandbox.provision.credentials import Application
from mastodon_sandbox.provision.http import Http
from tests.corpus import exchanges



def load(name: str) -> dict[str, dict]:
    return {d["label"]: d for d in exchanges(name)}


class Replay(BaseAdapter):
    """Serves the recorded exchanges in order; each request must match its recording."""

    def __init__(self, recs: list[dict], ignore_query: tuple[str, ...] = ()):
        super().__init__()
        self.recs = list(recs)
        self.ignore_query = ignore_query
        self.verify_seen: list = []

    def send(self, request, verify=None, **kw):
        self.verify_seen.append(verify)
        rec = self.recs.pop(0)
        want, got = urlsplit(rec["request"]["url"]), urlsplit(request.url)
        assert (request.method, got.path) == (rec["request"]["method"], want.path), rec["label"]
        strip = lambda q: {k: v for k, v in parse_qs(q).items() if k not in self.ignore_query}  # noqa: E731
        assert strip(got.query) == strip(want.query), rec["label"]
        if rec["request"]["method"] == "POST":
            body = {k: v[0] for k, v in parse_qs(request.body or "", keep_blank_values=True).items()}
            assert body == rec["request"]["body"], rec["label"]
        r = requests.Response()
        r.status_code = rec["response"]["status"]
        r.headers.update({k: v for k, v in rec["response"]["headers"].items() if k.lower() != "set-cookie"})
        text = rec["response"]["text"] if rec["response"]["text"] is not None else json.dumps(rec["response"]["json"])
        r._content = (text or "").encode()
        r.encoding = "utf-8"
        r.url = request.url
        r.request = request
        return r

    def close(self):
        pass


def http_with(adapter: Replay) -> Http:
    http = Http("https://localhost", "/nonexistent/ca.pem")
    http.session.mount("https://", adapter)
    return http


@pytest.fixture
def app():
    reg = load("f3-apps.jsonl")["register app"]["response"]["json"]
    return Application(reg["name"], str(reg["id"]), reg["client_id"], reg["client_secret"], tuple(reg["scopes"]),
                       tuple(reg["redirect_uris"]), "api")


def recorded_pkce(monkeypatch, get_label: str, token_label: str):
    f4 = load("f4-oauth-code.jsonl")
    q = parse_qs(urlsplit(f4[get_label]["request"]["url"]).query)
    verifier = f4[token_label]["request"]["body"]["code_verifier"]
    monkeypatch.setattr(oauth, "make_pkce", lambda: (verifier, q["code_challenge"][0]))
    monkeypatch.setattr(oauth.secrets, "token_hex", lambda n=None: q["state"][0])
    return q


@pytest.mark.parametrize("who,redirect_kind", [("alice", "oob"), ("bob", "loopback")])
def test_code_flow_matches_the_recording(monkeypatch, app, who, redirect_kind):
    f4 = load("f4-oauth-code.jsonl")
    q = recorded_pkce(monkeypatch, f"{who}: GET authorize", f"{who}: token")
    redirect_uri = q["redirect_uri"][0]
    assert (redirect_uri == oauth.OOB) == (redirect_kind == "oob")
    labels = [f"{who}: GET sign_in again", f"{who}: POST sign_in", f"{who}: GET authorize",
              f"{who}: POST authorize (approve)", f"{who}: token"]
    adapter = Replay([f4[label] for label in labels])
    http = http_with(adapter)
    email = f4[f"{who}: POST sign_in"]["request"]["body"]["user[email]"]
    password = f4[f"{who}: POST sign_in"]["request"]["body"]["user[password]"]
    oauth.sign_in(http, email, password)
    auth = oauth.authorize(http, app, q["scope"][0], redirect_uri)
    assert not auth.immediate
    assert auth.code == f4[f"{who}: token"]["request"]["body"]["code"]
    tok = oauth.exchange_code(http, app, auth)
    assert tok["access_token"] == f4[f"{who}: token"]["response"]["json"]["access_token"]
    assert adapter.recs == []  # every recorded step was taken, in order
    assert set(adapter.verify_seen) == {"/nonexistent/ca.pem"}  # verify= on every request


def test_immediate_redirect_is_taken_without_a_form(monkeypatch, app):
    f4 = load("f4-oauth-code.jsonl")
    recorded_pkce(monkeypatch, "alice: GET authorize again (token exists)", "alice: token")
    http = http_with(Replay([f4["alice: GET authorize again (token exists)"]]))
    auth = oauth.authorize(http, app, "read write follow push", oauth.OOB)
    assert auth.immediate and auth.code in f4["alice: GET authorize again (token exists)"]["response"]["headers"]["location"]


def test_wrong_password_is_one_line(app):
    f4 = load("f4-oauth-code.jsonl")
    http = http_with(Replay([f4["alice: GET sign_in"], f4["alice: POST sign_in wrong password"]]))
    with pytest.raises(SandboxError) as e:
        oauth.sign_in(http, "alice@example.test", "wrong-password")
    assert "Invalid e-mail address or password" in str(e.value) and "\n" not in str(e.value)


def test_bad_verifier_and_reused_code_are_invalid_grant(monkeypatch, app):
    f4 = load("f4-oauth-code.jsonl")
    recorded_pkce(monkeypatch, "alice: GET authorize", "alice: token")
    auth = oauth.Authorization(f4["alice: token"]["request"]["body"]["code"], oauth.OOB,
                               f4["alice: token"]["request"]["body"]["code_verifier"], "", "", False)
    http = http_with(Replay([f4["alice: token with bad verifier"], f4["alice: token"], f4["alice: token reuse code"]]))
    with pytest.raises(oauth.OAuthError) as e:
        oauth.exchange_code(http, app, auth, code_verifier=f4["alice: token with bad verifier"]["request"]["body"]["code_verifier"])
    assert e.value.error == "invalid_grant"
    oauth.exchange_code(http, app, auth)
    with pytest.raises(oauth.OAuthError) as e:
        oauth.exchange_code(http, app, auth)
    assert e.value.error == "invalid_grant"


def test_deny_ends_in_access_denied(monkeypatch, app):
    f4 = load("f4-oauth-code.jsonl")
    q = recorded_pkce(monkeypatch, "bob: GET authorize for deny", "bob: token")
    # The recorder sent force_login=false; the harness sends true so the form shows even if a token exists.
    http = http_with(Replay([f4["bob: GET authorize for deny"], f4["bob: DELETE authorize (deny)"]],
                            ignore_query=("force_login", "code_challenge")))
    with pytest.raises(oauth.OAuthError) as e:
        oauth.authorize(http, app, q["scope"][0], q["redirect_uri"][0], deny=True)
    assert e.value.error == "access_denied"


def test_scope_outside_the_app_is_the_400_page(monkeypatch, app):
    f4 = load("f4-oauth-code.jsonl")
    q = recorded_pkce(monkeypatch, "bob: GET authorize scope outside app", "bob: token")
    http = http_with(Replay([f4["bob: GET authorize scope outside app"]]))
    with pytest.raises(oauth.OAuthError) as e:
        oauth.authorize(http, app, q["scope"][0], q["redirect_uri"][0])
    assert e.value.status == 400 and "The requested scope is invalid" in str(e.value)


class Answer(BaseAdapter):
    """Answers every request with one recorded response (no request matching)."""

    def __init__(self, rec: dict):
        super().__init__()
        self.rec = rec

    def send(self, request, **kw):
        return Replay([dict(self.rec, request={"method": request.method, "url": request.url,
                                                "body": {k: v[0] for k, v in parse_qs(request.body or "").items()}})]).send(request)

    def close(self):
        pass


def answering(label_file: str, label: str) -> Http:
    http = Http("https://localhost", "/nonexistent/ca.pem")
    http.session.mount("https://", Answer(load(label_file)[label]))
    return http


def test_app_registration_answers():
    from mastodon_sandbox.errors import RateLimited
    from mastodon_sandbox.provision.apps import app_is_known, register_app
    rec = register_app(answering("f3-apps.jsonl", "register app"), "sandbox-probe", "read write follow push")
    reg = load("f3-apps.jsonl")["register app"]["response"]["json"]
    assert (rec.client_id, rec.client_secret, list(rec.scopes), list(rec.redirect_uris)) == \
        (reg["client_id"], reg["client_secret"], reg["scopes"], reg["redirect_uris"])
    with pytest.raises(SandboxError) as e:
        register_app(answering("f3-apps.jsonl", "register app unknown scope"), "bad", "read bogus:scope")
    assert "Scopes doesn't match those configured on the server" in str(e.value)
    with pytest.raises(RateLimited) as e:
        register_app(answering("f3-apps.jsonl", "register app #6"), "n2", "read")
    assert e.value.reset == load("f3-apps.jsonl")["register app #6"]["response"]["headers"]["x-ratelimit-reset"]
    probe = Application("probe", "1", "x", "y", ("read",), (oauth.OOB,), "api")
    assert app_is_known(answering("f3-apps.jsonl", "client credentials"), probe)
    assert not app_is_known(answering("f3-apps.jsonl", "client credentials bad secret"), probe)


def test_password_grant_refusal_is_unsupported_grant_type(app):
    """Asked anyway (a server that advertised it but refuses): the server's own error code comes through."""
    http = answering("f3-apps.jsonl", "password grant")
    http._metadata = {"grant_types_supported": ["authorization_code", "password", "client_credentials"]}
    with pytest.raises(oauth.OAuthError) as e:
        oauth.password_grant(http, app, "alice@example.test", "pw", "read")
    assert e.value.error == "unsupported_grant_type"
