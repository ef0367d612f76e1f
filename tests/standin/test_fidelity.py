"""Fidelity of a running stand-in against REAL Mastodon v4.6.5 recordings.

Replays requests from tests/recordings/mastodon-4.6.5-live/ against the running sandbox (the `sandbox`
fixture of tests/conftest.py: `make up` starts it), and compares what clients rely on: status code, content type,
JSON keys, value types and nullability, rate-limit header presence, HTML form fields. Values (ids, times,
tokens, the version string) are not compared."""
from __future__ import annotations

import os
import re
import secrets
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.corpus import exchange, exchanges
from tests.flows import F3, F4, F5, base_ct, has_header, replay_f4, shape_diff
from tests.flows import client as _client
from tests.flows import forms as _forms
from tests.flows import path_of as _path
from tests.flows import query as _query
from tests.flows import ref_base as _ref_base
from tests.flows import sign_in_body as _sign_in_body

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

pytestmark = [
    pytest.mark.docker,
]


@pytest.fixture(scope="module")
def http(mastodon_sandbox):
    return _client(mastodon_sandbox)


def check(flow: str, label: str, resp, compare_json: bool = True) -> None:
    ref = exchange(flow, label)["response"]
    problems = []
    if resp.status_code != ref["status"]:
        problems.append(f"status {resp.status_code}, Mastodon {ref['status']}")
    if base_ct(resp.headers) != base_ct(ref["headers"]):
        problems.append(f"content-type {base_ct(resp.headers)!r}, Mastodon {base_ct(ref['headers'])!r}")
    for h in ("x-ratelimit-limit", "www-authenticate"):
        if has_header(ref["headers"], h) != has_header(resp.headers, h):
            problems.append(f"header {h} presence differs")
    if compare_json and ref["json"] is not None:
        try:
            got = resp.json()
        except ValueError:
            got = "<not JSON>"
        problems += shape_diff(ref["json"], got)
    assert not problems, f"{flow} / {label}: " + "; ".join(problems)


@pytest.mark.parametrize("label", ["health over https", "instance v2", "instance v1", "oauth metadata",
                                   "nodeinfo discovery", "streaming health"])
def test_f1_public_endpoints(http, label):
    req = exchange("f1-health-https.jsonl", label)["request"]
    check("f1-health-https.jsonl", label, http(req["method"], _path(req["url"])))


def test_f1_foreign_host_is_refused(http):
    resp = http("GET", "/api/v2/instance", headers={"Host": "other.test"})
    check("f1-health-https.jsonl", "wrong Host header", resp, compare_json=False)
    assert resp.text == ""


def test_f1_oauth_metadata_values(http):
    got = http("GET", "/.well-known/oauth-authorization-server").json()
    ref = exchange("f1-health-https.jsonl", "oauth metadata")["response"]["json"]
    for k in ("scopes_supported", "grant_types_supported", "code_challenge_methods_supported",
              "response_types_supported", "token_endpoint_auth_methods_supported"):
        assert got[k] == ref[k], k


@pytest.mark.parametrize("label,token", [("verify_credentials no token", None),
                                         ("verify_credentials bad token", "nope")])
def test_f5_token_errors(http, label, token):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    resp = http("GET", "/api/v1/accounts/verify_credentials", headers=headers)
    check("f5-tokens.jsonl", label, resp)
    assert resp.json() == exchange("f5-tokens.jsonl", label)["response"]["json"]


def test_f3_unknown_client_is_invalid_client(http):
    resp = http("POST", "/oauth/token", data={"grant_type": "client_credentials", "client_id": "no-such-client",
                                               "client_secret": "wrong"})
    check("f3-apps.jsonl", "client credentials bad secret", resp)
    assert resp.json() == exchange("f3-apps.jsonl", "client credentials bad secret")["response"]["json"]


def test_f4_sign_in_page_form(http):
    resp = http("GET", "/auth/sign_in")
    check("f4-oauth-code.jsonl", "alice: GET sign_in", resp, compare_json=False)
    ref = _forms(exchange("f4-oauth-code.jsonl", "alice: GET sign_in")["response"]["text"])
    got = _forms(resp.text)
    assert [(f["action"], f["fields"]) for f in got] == [(f["action"], f["fields"]) for f in ref]
    cookie = resp.headers.get("Set-Cookie", "")
    assert re.search(r"_mastodon_session=.*; ?secure", cookie, re.IGNORECASE) and "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()


# ---------------------------------------------------------------- f3 / f5: the module's one app and its tokens
#
# Budgets (Rack::Attack is real on the stand-in, and its counters are shared with every other test of the run):
# ONE app registration for this module (5 per 10 minutes per address) and three sign-in posts (25 per 5 minutes).



def _equal_error(flow: str, label: str, resp) -> None:
    """The whole error body, and the WWW-Authenticate challenge when Mastodon sends one, as recorded."""
    ref = exchange(flow, label)["response"]
    assert resp.json() == ref["json"], label
    want = {k.lower(): v for k, v in ref["headers"].items()}.get("www-authenticate")
    assert resp.headers.get("WWW-Authenticate") == want, label


@pytest.fixture(scope="module")
def app(http):
    """The module's only registration: f3's "register app" (both redirect URIs, its scopes and website), sent as a
    JSON body with `redirect_uris` as a list, as in f3's "register app json body"."""
    form = exchange(F3, "register app")["request"]["body"]
    body = {**form, "redirect_uris": form["redirect_uris"].split("\n")}
    resp = http("POST", "/api/v1/apps", json=body)
    if resp.status_code == 429:  # a guard only: other tests of the run, or other runs, may have spent the budget
        pytest.skip("app registrations are rate limited right now (5 per 10 minutes)")
    assert resp.status_code == 200, resp.text
    return SimpleNamespace(resp=resp, sent=body, json=resp.json(),
                           remaining=int(resp.headers.get("X-RateLimit-Remaining", "0")))


def test_f3_app_registration_json_body(app):
    check(F3, "register app", app.resp)
    # The JSON body of "register app json body" gives the same answer as the form body (that one had no website).
    check(F3, "register app json body", app.resp, compare_json=False)
    ref = exchange(F3, "register app json body")["response"]["json"]
    assert shape_diff({**ref, "website": app.json["website"]}, app.json) == []
    assert app.json["redirect_uris"] == app.sent["redirect_uris"]
    assert app.json["redirect_uri"] == "\n".join(app.sent["redirect_uris"])
    assert app.json["scopes"] == app.sent["scopes"].split()
    assert app.json["website"] == app.sent["website"] and app.json["name"] == app.sent["client_name"]
    assert app.json["client_secret_expires_at"] == 0


def test_f3_unknown_scope_at_registration(http, app):
    if app.remaining < 1:  # a refused registration counts against the same throttle
        pytest.skip("no app registration left in this 10-minute window")
    resp = http("POST", "/api/v1/apps", data=exchange(F3, "register app unknown scope")["request"]["body"])
    check(F3, "register app unknown scope", resp)
    assert resp.json() == exchange(F3, "register app unknown scope")["response"]["json"]


def test_f3_client_credentials_and_app_token(http, app):
    creds = {"client_id": app.json["client_id"], "client_secret": app.json["client_secret"]}
    tok = http("POST", "/oauth/token", data={"grant_type": "client_credentials", **creds, "scope": "read"})
    check(F3, "client credentials", tok)
    assert tok.json()["scope"] == "read" and tok.json()["token_type"] == "Bearer"
    token = tok.json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    check(F3, "verify app credentials", http("GET", "/api/v1/apps/verify_credentials", headers=auth))
    resp = http("GET", "/api/v1/accounts/verify_credentials", headers=auth)
    check(F5, "verify_credentials app token", resp)
    _equal_error(F5, "verify_credentials app token", resp)
    resp = http("GET", "/api/v1/timelines/home", headers=auth)  # f5 used this read-scoped app token here too
    check(F5, "home with app token", resp)
    _equal_error(F5, "home with app token", resp)
    pw = http("POST", "/oauth/token", data={"grant_type": "password", **creds, "username": "x@example.test",
                                             "password": "x", "scope": "read"})
    meta = http("GET", "/.well-known/oauth-authorization-server").json()
    if "password" not in meta["grant_types_supported"]:  # 4.4+: refused before any credential check
        check(F3, "password grant", pw)
        _equal_error(F3, "password grant", pw)
    revoke = http("POST", "/oauth/revoke", data={**creds, "token": token})
    check(F5, "revoke bob", revoke)
    assert revoke.json() == {}
    # f5's "verify revoked" is a revoked user token (see the f4 flow below); an app token is refused the same way.
    resp = http("GET", "/api/v1/apps/verify_credentials", headers=auth)
    check(F5, "verify revoked", resp)
    _equal_error(F5, "verify revoked", resp)


def test_f5_write_only_client_token(http, app):
    tok = http("POST", "/oauth/token", data={"grant_type": "client_credentials", "client_id": app.json["client_id"],
                                              "client_secret": app.json["client_secret"], "scope": "write"})
    check(F5, "client credentials write-only", tok)
    ref = exchange(F5, "client credentials write-only")["response"]["json"]
    assert (tok.json()["scope"], tok.json()["token_type"]) == (ref["scope"], ref["token_type"])


# ---------------------------------------------------------------- f4: sign-in and the authorization code flow

@pytest.fixture(scope="module")
def user(mastodon_sandbox):
    """A throwaway confirmed, approved account (never alice/bob/admin), deleted afterwards."""
    name = f"fid{secrets.token_hex(4)}"
    email = f"{name}@{mastodon_sandbox.config.email_domain}"
    p = mastodon_sandbox.stack.exec("web", ["tootctl", "accounts", "create", name, "--email", email, "--confirmed",
                                   "--approve"])
    m = re.search(r"^New password: (\S+)\s*$", p.stdout, re.MULTILINE)
    assert p.returncode == 0 and m, p.stdout + p.stderr
    yield SimpleNamespace(name=name, email=email, password=m.group(1))
    mastodon_sandbox.stack.exec("web", ["tootctl", "accounts", "delete", name])


@pytest.fixture(scope="module")
def f4(mastodon_sandbox, app, user):
    return replay_f4(mastodon_sandbox, app, user)


F4_LABELS = [r["label"] for r in exchanges(F4) if not r["label"].startswith("bob: ") or "sign_in" not in r["label"]]


@pytest.mark.parametrize("flow,label", [(F4, x) for x in F4_LABELS] +
                         [(F5, "verify_credentials"), (F5, "revoke bob"), (F5, "verify revoked")])
def test_f4_exchange(f4, flow, label):
    """Status, content type, rate-limit header presence, JSON shape of every replayed exchange."""
    check(flow, label, f4.got[flow, label])


def test_f4_wrong_password_rerenders_the_form(f4):
    label = "alice: POST sign_in wrong password"
    ref, resp = exchange(F4, label), f4.got[F4, label]
    ref_forms, got_forms = _forms(ref["response"]["text"]), _forms(resp.text)
    assert [(f["action"], f["fields"]) for f in got_forms] == [(f["action"], f["fields"]) for f in ref_forms]
    # The e-mail address typed is kept, the password is not.
    assert ref_forms[0]["values"]["user[email]"] == ref["request"]["body"]["user[email]"]
    assert got_forms[0]["values"]["user[email]"] == f4.user.email
    assert ref_forms[0]["values"]["user[password]"] == got_forms[0]["values"]["user[password]"] == ""
    flash = re.compile(r'<div class="flash-message alert">\s*<strong>(.*?)</strong>', re.DOTALL)
    m = flash.search(resp.text)
    assert m and m.group(1) == flash.search(ref["response"]["text"]).group(1)
    assert "Location" not in resp.headers


def _set_cookies(headers) -> dict:
    """{cookie name: its attributes, lower case}; requests joins several Set-Cookie headers with ', '."""
    raw = headers.getlist("Set-Cookie") if hasattr(headers, "getlist") else \
        re.split(r", (?=_[a-z_]+=)", headers.get("set-cookie", ""))
    out = {}
    for c in raw:
        name, _, rest = c.partition("=")
        attrs = {a.strip().split("=")[0].lower() for a in rest.split(";")[1:]}
        out[name.strip()] = attrs
    return out


def test_f4_sign_in_redirects_with_secure_session_cookies(mastodon_sandbox, f4):
    ref, resp = exchange(F4, "alice: POST sign_in")["response"], f4.got[F4, "alice: POST sign_in"]
    want_location = ref["headers"]["location"].replace(_ref_base(ref["headers"]["location"]), mastodon_sandbox.url)
    assert resp.headers.get("Location") == want_location
    want, got = _set_cookies(ref["headers"]), _set_cookies(resp.raw.headers)
    assert set(got) == set(want)
    for name, attrs in want.items():
        assert got[name] == attrs, name  # path, httponly, samesite, secure (and expires for _session_id)
        assert {"secure", "httponly", "samesite"} <= got[name]
    assert re.search(r"samesite=lax", resp.raw.headers.get("Set-Cookie", ""), re.IGNORECASE)


@pytest.mark.parametrize("label", ["alice: GET authorize", "alice: GET authorize narrower scope",
                                   "bob: GET authorize", "bob: GET authorize narrower scope",
                                   "bob: GET authorize for deny"])
def test_f4_authorization_page_forms(f4, label):
    """Authorize and Deny forms: actions and field names exactly as recorded; values echo the request where
    Mastodon's do, and are the same constants elsewhere (_method, button)."""
    ref = exchange(F4, label)
    ref_q = _query(ref["request"]["url"])
    ref_forms, got_forms = _forms(ref["response"]["text"]), _forms(f4.got[F4, label].text)
    assert [(f["action"], f["fields"]) for f in got_forms] == [(f["action"], f["fields"]) for f in ref_forms]
    for rf, gf in zip(ref_forms, got_forms):
        for name, value in rf["values"].items():
            if name == "authenticity_token":
                assert gf["values"][name]
            elif name in ref_q and value == ref_q[name]:
                assert gf["values"][name] == f4.sent[label][name], name
            else:
                assert gf["values"][name] == value, name


def _location_pattern(ref_location: str, base: str) -> re.Pattern:
    code = parse_qs(urlsplit(ref_location).query)["code"][0]
    ref_base = _ref_base(ref_location)
    shape = re.escape(ref_location.replace(code, "\0"))
    if ref_base.startswith("https://localhost"):
        shape = shape.replace(re.escape(ref_base), re.escape(base), 1)
    return re.compile(shape.replace("\0", r"[A-Za-z0-9_-]{43}"))


@pytest.mark.parametrize("label", ["alice: POST authorize (approve)", "alice: GET authorize again (token exists)",
                                   "bob: POST authorize (approve)", "bob: GET authorize again (token exists)"])
def test_f4_code_redirects(mastodon_sandbox, f4, label):
    """…/oauth/authorize/native?code=… out of band; http://127.0.0.1:8765/cb?code=…&state=… on loopback."""
    ref_location = exchange(F4, label)["response"]["headers"]["location"]
    assert _location_pattern(ref_location, mastodon_sandbox.url).fullmatch(f4.got[F4, label].headers.get("Location", ""))


def test_f4_native_code_page(f4):
    def code_input(text):
        m = re.search(r'<input[^>]*class="oauth-code"[^>]*>', text)
        assert m, "no oauth-code input"
        return dict(re.findall(r'([\w-]+)="([^"]*)"', m.group(0)))
    ref = code_input(exchange(F4, "alice: GET native code page")["response"]["text"])
    got = code_input(f4.got[F4, "alice: GET native code page"].text)
    assert got["value"] == f4.sent["alice: code"]
    assert {k: v for k, v in got.items() if k != "value"} == {k: v for k, v in ref.items() if k != "value"}


@pytest.mark.parametrize("label", ["alice: token with bad verifier", "alice: token reuse code",
                                   "bob: token with bad verifier", "bob: token reuse code"])
def test_f4_token_errors_as_recorded(f4, label):
    _equal_error(F4, label, f4.got[F4, label])


@pytest.mark.parametrize("who", ["alice", "bob"])
def test_f4_token_scope(f4, who):
    ref = exchange(F4, f"{who}: token")["response"]["json"]
    got = f4.got[F4, f"{who}: token"].json()
    assert (got["token_type"], got["scope"]) == (ref["token_type"], ref["scope"])


@pytest.mark.parametrize("who", ["alice", "bob"])
def test_f4_scope_outside_the_app(f4, who):
    label = f"{who}: GET authorize scope outside app"
    flash = re.compile(r'<div class="flash-message">\s*(.*?)\s*</div>', re.DOTALL)
    want = flash.search(exchange(F4, label)["response"]["text"]).group(1)
    m = flash.search(f4.got[F4, label].text)
    assert m and m.group(1) == want
    assert _forms(f4.got[F4, label].text) == []


def test_f4_deny_redirects_with_access_denied(f4):
    label = "bob: DELETE authorize (deny)"
    assert f4.got[F4, label].headers.get("Location") == exchange(F4, label)["response"]["headers"]["location"]


def test_f5_revoked_user_token(f4):
    _equal_error(F5, "verify revoked", f4.got[F5, "verify revoked"])


def test_f5_verify_credentials_is_the_user(f4):
    assert f4.got[F5, "verify_credentials"].json()["username"] == f4.user.name


def test_sign_in_with_a_wrong_csrf_token(mastodon_sandbox, user):
    """No recording: ApplicationController has `protect_from_forgery with: :exception` and
    `rescue_from ActionController::InvalidAuthenticityToken, with: :unprocessable_entity`, which renders
    errors/422 in the `error` layout (h1 "Security verification failed. Are you blocking cookies?") with status
    422 for an HTML request; nobody is signed in, even with the right password. The request asks for HTML as a
    browser does: Rails renders for the request's format (real v4.6.5 answers `*/*` to `Accept: */*`)."""
    go = _client(mastodon_sandbox)
    page = go("GET", "/auth/sign_in")
    body = {**_sign_in_body(page.text, user.email, user.password), "authenticity_token": "not-the-token"}
    resp = go("POST", "/auth/sign_in", data=body, headers={"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"})
    assert resp.status_code == 422
    assert base_ct(resp.headers) == "text/html"
    assert re.search(r"<h1>\s*Security verification failed\. Are you blocking cookies\?\s*</h1>", resp.text)
    # layouts/error.html.haml: %title= safe_join([yield(:page_title), site_title], ' - ')
    assert re.search(r"<title>\s*Security verification failed\s*- Mastodon\s*</title>", resp.text)
    assert "Location" not in resp.headers and "_session_id" not in _set_cookies(resp.raw.headers)
    # Still signed out: the sign-in page answers, not a redirect.
    assert go("GET", "/auth/sign_in").status_code == 200


@pytest.mark.parametrize("accept,content_type", [
    ("application/json", "application/json"),  # f11 "unknown route json"
    ("*/*", "*/*"),  # Rails renders errors/404 for Mime::ALL, and says so (seen on real v4.6.5)
    ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "text/html"),  # a browser's Accept
])
def test_unknown_route_answers_in_the_requests_format(http, accept, content_type):
    """ApplicationController#respond_with_error: format.any renders the HTML error page with the request's
    format as Content-Type; format.json renders {"error": "Not Found"}."""
    resp = http("GET", "/api/v1/no-such-route", headers={"Accept": accept})
    assert resp.status_code == 404 and base_ct(resp.headers) == content_type
    if content_type == "application/json":
        assert resp.json() == exchange("f11-pagination-errors.jsonl", "unknown route json")["response"]["json"]
    else:
        assert "<title>" in resp.text
