"""OAuth token flows against stock Mastodon: authorization code with PKCE (through the real sign-in and
authorization pages), the password grant (Mastodon <= 4.3 only), and client credentials.

Pages and forms (mastodon/mastodon):
  app/views/auth/sessions/new.html.haml          sign-in form: authenticity_token, user[email], user[password]
  app/views/oauth/authorizations/new.html.haml   approve form (POST /oauth/authorize) and deny form
                                                 (same fields plus _method=delete), each with its own
                                                 authenticity_token
  app/controllers/oauth/authorizations_controller.rb  302 straight away when a matching token exists
                                                 (Doorkeeper's can_authorize_response?) unless force_login
  config/initializers/doorkeeper.rb              PKCE S256 only; native redirect /oauth/authorize/native?code=
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

from ..errors import SandboxError
from .credentials import Application
from .http import Http, error_text, raise_if_rate_limited

OOB = "urn:ietf:wg:oauth:2.0:oob"


class OAuthError(SandboxError):
    """The server refused a step of a flow; `error` is the OAuth error code (access_denied, invalid_grant…)."""

    def __init__(self, message: str, error: str = "", status: int | None = None):
        super().__init__(message)
        self.error = error
        self.status = status


# --- PKCE (RFC 7636) ---------------------------------------------------------------------------

def make_pkce() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge): 43 url-safe characters from 32 random bytes."""
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    return verifier, pkce_challenge(verifier)


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


# --- HTML pages --------------------------------------------------------------------------------

@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str]] = field(default_factory=list)  # (name, label)

    @property
    def effective_method(self) -> str:
        """Rails' method override (`_method=delete`) wins over the form's own method."""
        return self.fields.get("_method", self.method).upper()

    def submission(self, **values: str) -> dict[str, str]:
        """What a browser sends when this form's first button is pressed, with `values` filled in."""
        data = dict(self.fields)
        data.update(values)
        for name, _label in self.buttons[:1]:
            if name:
                data.setdefault(name, "")
        return data


@dataclass
class Page:
    forms: list[Form] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    flash: list[str] = field(default_factory=list)  # texts of .flash-message blocks
    oauth_code: str | None = None  # the out-of-band page's <input class="oauth-code">

    def form(self, action: str, method: str = "POST") -> Form | None:
        for f in self.forms:
            if urlsplit(f.action).path == action and f.effective_method == method.upper():
                return f
        return None


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._form: Form | None = None
        self._button: list | None = None
        self._flash_depth = 0  # >0 while inside a .flash-message block
        self._flash_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        classes = a.get("class", "").split()
        if self._flash_depth and tag == "div":
            self._flash_depth += 1
        elif tag == "div" and "flash-message" in classes:
            self._flash_depth = 1
            self._flash_text = []
        if tag == "form":
            self._form = Form(action=a.get("action", ""), method=a.get("method", "get").upper())
            self.page.forms.append(self._form)
        elif tag == "meta" and "name" in a:
            self.page.meta[a["name"]] = a.get("content", "")
        elif tag == "input":
            if "oauth-code" in classes:
                self.page.oauth_code = a.get("value", "")
            if self._form is not None and a.get("name") and a.get("type", "text") not in ("submit", "checkbox", "radio"):
                self._form.fields[a["name"]] = a.get("value", "")
        elif tag == "button" and self._form is not None:
            self._button = [a.get("name", ""), ""]

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "button" and self._button is not None and self._form is not None:
            self._form.buttons.append((self._button[0], self._button[1].strip()))
            self._button = None
        elif tag == "div" and self._flash_depth:
            self._flash_depth -= 1
            if not self._flash_depth:
                text = " ".join("".join(self._flash_text).split())
                if text:
                    self.page.flash.append(text)

    def handle_data(self, data: str) -> None:
        if self._flash_depth:
            self._flash_text.append(data)
        if self._button is not None:
            self._button[1] += data


def parse_page(html: str) -> Page:
    """Forms, meta tags, flash messages and the OOB code of a Mastodon HTML page (stdlib parser)."""
    parser = _PageParser()
    parser.feed(html or "")
    parser.close()
    return parser.page


# --- sign-in -----------------------------------------------------------------------------------

SIGN_IN = "/auth/sign_in"


def sign_in(http: Http, email: str, password: str) -> None:
    """Sign in on the real page; the session cookies stay in `http` (use a fresh Http per account).

    Counts against Rack::Attack's login limit: 25 per 5 minutes per IP (config/initializers/rack_attack.rb)."""
    r = http.get(SIGN_IN)
    raise_if_rate_limited(r, "sign-in page")
    if r.status_code != 200:
        raise SandboxError(f"GET {SIGN_IN} answered {r.status_code}: is the sandbox's web service healthy?")
    form = parse_page(r.text).form(SIGN_IN)
    if form is None or "authenticity_token" not in form.fields:
        raise SandboxError(f"{http.base_url}{SIGN_IN} has no sign-in form with an authenticity_token: is this Mastodon?")
    r = http.post(form.action, data=form.submission(**{"user[email]": email, "user[password]": password}))
    raise_if_rate_limited(r, f"sign-in as {email}")
    if r.status_code in (301, 302, 303) and urlsplit(r.headers.get("Location", "")).path != SIGN_IN:
        return
    flash = parse_page(r.text).flash if r.status_code == 200 else []
    reason = flash[0] if flash else f"HTTP {r.status_code}"
    raise SandboxError(
        f"sign-in as {email} failed: {reason}; if the saved password is stale, reset it with "
        f"`mastodon-sandbox accounts create USER --reset-password`"
    )


# --- authorization -----------------------------------------------------------------------------

@dataclass
class Authorization:
    code: str
    redirect_uri: str
    code_verifier: str
    state: str
    location: str
    immediate: bool  # True when the server skipped the approval form (a matching token existed)


def read_redirect(location: str, redirect_uri: str, state: str) -> str:
    """The code in an authorization redirect; an `error` there (e.g. access_denied) raises OAuthError.

    OOB: Doorkeeper's native page `/oauth/authorize/native?code=` (no state). Otherwise
    `<redirect_uri>?code=…&state=…`, whose state must be ours."""
    parts = urlsplit(location)
    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
    if "state" in q and q["state"] != state:
        raise OAuthError(f"the authorization redirect carried state {q['state']!r}, not ours: refusing it", "state_mismatch")
    if "error" in q:
        desc = q.get("error_description", "")
        raise OAuthError(f"authorization refused: {q['error']} ({desc})" if desc else f"authorization refused: {q['error']}", q["error"])
    if redirect_uri == OOB:
        if not parts.path.endswith("/oauth/authorize/native"):
            raise OAuthError(f"expected the out-of-band code page, got a redirect to {parts.path!r}", "bad_redirect")
    else:
        target = urlsplit(redirect_uri)
        if (parts.scheme, parts.netloc, parts.path) != (target.scheme, target.netloc, target.path):
            raise OAuthError(f"the authorization redirect went to {location.split('?')[0]!r}, not {redirect_uri!r}", "bad_redirect")
        if q.get("state") != state:
            raise OAuthError("the authorization redirect came back without our state: refusing it", "state_mismatch")
    code = q.get("code")
    if not code:
        raise OAuthError(f"no code in the authorization redirect to {location.split('?')[0]!r}", "no_code")
    return code


def authorize(http: Http, app: Application, scopes: str, redirect_uri: str = OOB, *, deny: bool = False,
              force_form: bool = False) -> Authorization:
    """GET /oauth/authorize as the signed-in user, approve (or deny) the form, return the code.

    Handles both answers: the approval form (200) and the immediate 302 Mastodon gives when a matching
    token already exists (app/controllers/oauth/authorizations_controller.rb)."""
    verifier, challenge = make_pkce()
    state = secrets.token_hex(8)
    params = {
        "response_type": "code", "client_id": app.client_id, "redirect_uri": redirect_uri,
        "scope": scopes, "state": state, "code_challenge": challenge, "code_challenge_method": "S256",
    }
    if deny or force_form:
        # `force_login` makes Mastodon render the form even when a matching token exists (render_success).
        params["force_login"] = "true"
    r = http.get("/oauth/authorize", params=params)
    raise_if_rate_limited(r, "authorization")
    immediate = False
    if r.status_code in (301, 302, 303):
        location = r.headers.get("Location", "")
        if urlsplit(location).path == SIGN_IN:
            raise SandboxError("the authorization page sent us to sign in: the web session is not signed in")
        immediate = True
    elif r.status_code == 200:
        page = parse_page(r.text)
        form = page.form("/oauth/authorize", "DELETE" if deny else "POST")
        if form is None:
            raise SandboxError(f"the authorization page of {http.base_url} has no {'Deny' if deny else 'Authorize'} form")
        r = http.post(form.action, data=form.submission())
        raise_if_rate_limited(r, "authorization")
        if r.status_code not in (301, 302, 303):
            raise OAuthError(f"POST /oauth/authorize answered {r.status_code}: {_page_reason(r)}", "server_error", r.status_code)
        location = r.headers.get("Location", "")
    else:
        # e.g. 400 "The requested scope is invalid, unknown, or malformed." (scope not on the app)
        raise OAuthError(f"the server refused the authorization request: {_page_reason(r)}", "invalid_request", r.status_code)
    if immediate and deny:
        raise SandboxError("the server authorized at once (a matching token exists), so there was no form to deny")
    code = read_redirect(location, redirect_uri, state)
    return Authorization(code, redirect_uri, verifier, state, location, immediate)


def _page_reason(r) -> str:
    if "html" in r.headers.get("Content-Type", ""):
        flash = parse_page(r.text).flash
        if flash:
            return flash[0]
    return error_text(r)


# --- token endpoint ----------------------------------------------------------------------------

def _token_request(http: Http, data: dict, what: str) -> dict:
    r = http.post("/oauth/token", data=data)
    raise_if_rate_limited(r, what)
    if r.status_code != 200:
        try:
            body = r.json()
        except ValueError:
            body = {}
        err = body.get("error", "") if isinstance(body, dict) else ""
        raise OAuthError(f"{what} failed: {err or r.status_code} ({error_text(r)})", err, r.status_code)
    return r.json()


def exchange_code(http: Http, app: Application, auth: Authorization, code_verifier: str | None = None) -> dict:
    """POST /oauth/token (authorization_code + PKCE): {"access_token", "scope", ...}."""
    return _token_request(http, {
        "grant_type": "authorization_code", "code": auth.code, "client_id": app.client_id,
        "client_secret": app.client_secret, "redirect_uri": auth.redirect_uri,
        "code_verifier": code_verifier if code_verifier is not None else auth.code_verifier,
    }, "code exchange")


def code_flow(http: Http, app: Application, email: str, password: str, scopes: str, redirect_uri: str = OOB) -> dict:
    """The whole authorization-code flow in a fresh browser session: sign in, authorize, exchange."""
    web = http.fresh()
    sign_in(web, email, password)
    auth = authorize(web, app, scopes, redirect_uri)
    return exchange_code(web, app, auth)


def offers_grant(http: Http, grant: str) -> bool:
    """Whether the server advertises a grant type (grant_types_supported), not a version guess."""
    return grant in (http.metadata().get("grant_types_supported") or [])


def password_grant(http: Http, app: Application, email: str, password: str, scopes: str) -> dict:
    """grant_type=password: removed in Mastodon 4.4.0 (#30960); only where the server advertises it."""
    if not offers_grant(http, "password"):
        raise SandboxError("this server does not offer the password grant; use --flow code")
    return _token_request(http, {
        "grant_type": "password", "username": email, "password": password, "client_id": app.client_id,
        "client_secret": app.client_secret, "scope": scopes,
    }, f"password grant for {email}")


def client_credentials(http: Http, app: Application, scopes: str) -> dict:
    """An app token (no user): grant_type=client_credentials."""
    return _token_request(http, {
        "grant_type": "client_credentials", "client_id": app.client_id,
        "client_secret": app.client_secret, "scope": scopes,
    }, f"client credentials for app {app.name}")


def revoke(http: Http, app: Application, token: str) -> None:
    """POST /oauth/revoke: revokes the token for everyone holding the same string."""
    r = http.post("/oauth/revoke", data={"client_id": app.client_id, "client_secret": app.client_secret, "token": token})
    if r.status_code != 200:
        raise OAuthError(f"revoking a token failed: {error_text(r)}", "", r.status_code)


__all__ = [
    "OOB", "OAuthError", "Form", "Page", "Authorization", "make_pkce", "pkce_challenge",
    "parse_page", "sign_in", "authorize", "read_redirect", "exchange_code", "code_flow", "offers_grant",
    "password_grant", "client_credentials", "revoke",
]
