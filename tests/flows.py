"""Flows replayed against a running server, and how their answers are compared: shared by the fidelity
tests (a server against the real recordings in tests/recordings/) and the differential check (the stand-in
against a real Mastodon, live)."""
from __future__ import annotations

import base64
import hashlib
import secrets
from html.parser import HTMLParser
from types import SimpleNamespace
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

from tests.corpus import exchange

F3, F4, F5 = "f3-apps.jsonl", "f4-oauth-code.jsonl", "f5-tokens.jsonl"


def shape_diff(ref, got, path: str = "$") -> list[str]:
    """Keys, value types and nulls of `got` against the real response `ref`."""
    if ref is None:
        return [] if got is None else [f"{path}: {type(got).__name__} where Mastodon has null"]
    if got is None:
        return [f"{path}: null where Mastodon has {type(ref).__name__}"]
    if isinstance(ref, dict):
        if not isinstance(got, dict):
            return [f"{path}: {type(got).__name__} where Mastodon has an object"]
        out = [f"{path}.{k}: missing" for k in ref if k not in got]
        out += [f"{path}.{k}: extra" for k in got if k not in ref]
        for k in ref:
            if k in got:
                out += shape_diff(ref[k], got[k], f"{path}.{k}")
        return out
    if isinstance(ref, list):
        if not isinstance(got, list):
            return [f"{path}: {type(got).__name__} where Mastodon has a list"]
        # every element, each against the real list's element at the same place (its last one beyond it)
        out = []
        for i, item in enumerate(got if ref else []):
            out += shape_diff(ref[min(i, len(ref) - 1)], item, f"{path}[{i}]")
        return out
    if type(ref) is not type(got) and not (isinstance(ref, (int, float)) and isinstance(got, (int, float))
                                           and not isinstance(got, bool) and not isinstance(ref, bool)):
        return [f"{path}: {type(got).__name__} where Mastodon has {type(ref).__name__}"]
    return []


def base_ct(headers: dict) -> str:
    for k, v in headers.items():
        if k.lower() == "content-type":
            return v.split(";")[0].strip()
    return ""


def has_header(headers, name: str) -> bool:
    return any(k.lower() == name for k in headers)


def client(sandbox):
    """A requests.Session of its own (its own cookies), relative paths, no redirects followed."""
    import requests

    s = requests.Session()

    def call(method: str, path: str, **kw):
        kw.setdefault("allow_redirects", False)
        kw.setdefault("timeout", 30)
        return s.request(method, sandbox.url + path, verify=str(sandbox.state.ca_file), **kw)
    return call


def path_of(url: str) -> str:
    p = urlsplit(url)
    return p.path + (f"?{p.query}" if p.query else "")


class FormParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action"), "fields": set(), "values": {}})
        elif tag in ("input", "button", "textarea", "select") and self.forms and a.get("name"):
            self.forms[-1]["fields"].add(a["name"])
            self.forms[-1]["values"][a["name"]] = a.get("value") or ""


def forms(text: str) -> list[dict]:
    p = FormParser()
    p.feed(text)
    return p.forms


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(32)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def query(url: str) -> dict:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def form_data(text: str, index: int) -> dict:
    """What a browser posts for the index-th form of a page (hidden values, the button)."""
    return dict(forms(text)[index]["values"])


def ref_base(url: str) -> str:
    p = urlsplit(url)
    return f"{p.scheme}://{p.netloc}"


def sign_in_body(page_text: str, email: str, password: str) -> dict:
    return {**form_data(page_text, 0), "user[email]": email, "user[password]": password}


def replay_f4(sandbox, app, user) -> SimpleNamespace:
    """Replays f4-oauth-code.jsonl in one browser session of the throwaway user, with two sign-in posts (wrong
    password, right one): the "alice:" steps (out-of-band redirect), then the "bob:" steps (loopback redirect,
    same `state` as recorded). Between them the first user token is checked and revoked (f5's "verify_credentials",
    "revoke bob", "verify revoked"), so that no matching token skips the second authorization form.
    Returns {(flow, label): response}, and what was sent where values matter."""
    go = client(sandbox)
    got, sent = {}, {}
    creds = {"client_id": app.json["client_id"], "client_secret": app.json["client_secret"]}

    page = got[F4, "alice: GET sign_in"] = go("GET", "/auth/sign_in")
    got[F4, "alice: POST sign_in wrong password"] = go(
        "POST", "/auth/sign_in", data=sign_in_body(page.text, user.email, "wrong-password"))
    page = got[F4, "alice: GET sign_in again"] = go("GET", "/auth/sign_in")
    got[F4, "alice: POST sign_in"] = go("POST", "/auth/sign_in",
                                        data=sign_in_body(page.text, user.email, user.password))

    def authorize(label: str, challenge: str):
        q = query(exchange(F4, label)["request"]["url"])
        q.update(client_id=app.json["client_id"], code_challenge=challenge)
        sent[label] = q
        got[F4, label] = resp = go("GET", "/oauth/authorize?" + urlencode(q))
        return resp

    def token(label: str, code: str, verifier: str | None = None):
        body = dict(exchange(F4, label)["request"]["body"])
        body.update(creds, code=code, **({"code_verifier": verifier} if verifier else {}))
        got[F4, label] = resp = go("POST", "/oauth/token", data=body)
        return resp

    for who in ("alice", "bob"):
        verifier, challenge = pkce()
        page = authorize(f"{who}: GET authorize", challenge)
        assert page.status_code == 200, f"{who}: GET authorize: {page.status_code} {page.headers.get('Location')}"
        approve = got[F4, f"{who}: POST authorize (approve)"] = go("POST", "/oauth/authorize",
                                                                   data=form_data(page.text, 0))
        code = parse_qs(urlsplit(approve.headers["Location"]).query)["code"][0]
        sent[f"{who}: code"] = code
        if who == "alice":
            got[F4, "alice: GET native code page"] = go("GET", path_of(approve.headers["Location"]))
        token(f"{who}: token with bad verifier", code)  # the recorded verifier: 43 x
        tok = token(f"{who}: token", code, verifier)
        token(f"{who}: token reuse code", code, verifier)
        authorize(f"{who}: GET authorize again (token exists)", challenge)
        authorize(f"{who}: GET authorize narrower scope", challenge)
        authorize(f"{who}: GET authorize scope outside app", challenge)
        if who == "alice":
            auth = {"Authorization": f"Bearer {tok.json()['access_token']}"}
            got[F5, "verify_credentials"] = go("GET", "/api/v1/accounts/verify_credentials", headers=auth)
            got[F5, "revoke bob"] = go("POST", "/oauth/revoke", data={**creds, "token": tok.json()["access_token"]})
            got[F5, "verify revoked"] = go("GET", "/api/v1/accounts/verify_credentials", headers=auth)
    page = authorize("bob: GET authorize for deny", challenge)
    got[F4, "bob: DELETE authorize (deny)"] = go("POST", "/oauth/authorize", data=form_data(page.text, 1))
    return SimpleNamespace(got=got, sent=sent, user=user)


