"""Checking a token before handing it out, and saying plainly what is wrong with a bad one.

User tokens: GET /api/v1/accounts/verify_credentials; app tokens: GET /api/v1/apps/verify_credentials.
Error bodies (app/controllers/api/base_controller.rb, Doorkeeper):
  401 "The access token is invalid" / "The access token was revoked"
  403 "This action is outside the authorized scopes"
      "Your login is currently pending approval"            (require_functional!)
      "Your login is missing a confirmed e-mail address"
  422 "This method requires an authenticated user"           (an app token on a user endpoint)
"""

from __future__ import annotations

from ..errors import SandboxError
from .http import Http, error_text, raise_if_rate_limited


class TokenProblem(SandboxError):
    """A token failed its check; `kind` is one of invalid, revoked, scope, pending, unconfirmed,
    disabled, app-token, other."""

    def __init__(self, message: str, kind: str, status: int, server_error: str):
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.server_error = server_error


def classify(status: int, server_error: str) -> str:
    text = server_error.lower()
    if status == 401:
        return "revoked" if "revoked" in text else "invalid"
    if status == 403:
        if "outside the authorized scopes" in text:
            return "scope"
        if "pending approval" in text:
            return "pending"
        if "confirmed e-mail" in text:
            return "unconfirmed"
        if "disabled" in text or "suspended" in text:
            return "disabled"
    if status == 422 and "authenticated user" in text:
        return "app-token"
    return "other"


def explain(kind: str, who: str, server_error: str) -> str:
    """One line: the cause, then the fix."""
    user = who if not who.startswith("app:") else "USER"
    fixes = {
        "invalid": f"the token of {who} is unknown to the server ({server_error}); mint a new one with `mastodon-sandbox token {user}`",
        "revoked": f"the token of {who} was revoked ({server_error}); mint a new one with `mastodon-sandbox token {user}`",
        "scope": f"the token of {who} lacks the scope this call needs ({server_error}); mint one with `mastodon-sandbox token {user} --scopes ...`",
        "pending": f"the account {who} is pending approval ({server_error}); approve it with `tootctl accounts approve {user}` in the web container",
        "unconfirmed": f"the account {who} has no confirmed e-mail ({server_error}); confirm it with `tootctl accounts modify {user} --confirm` in the web container",
        "disabled": f"the account {who} cannot log in ({server_error}); re-enable it with `tootctl accounts modify {user} --enable` in the web container",
        "app-token": f"the token of {who} is an app token, not a user's ({server_error}); use a user token from `mastodon-sandbox token {user} --flow code`",
    }
    return fixes.get(kind, f"the token of {who} failed its check: {server_error}")


def check_token(http: Http, token: str, who: str, *, app_token: bool = False) -> dict:
    """The account (or app) the token belongs to; a TokenProblem naming the cause and fix otherwise."""
    path = "/api/v1/apps/verify_credentials" if app_token else "/api/v1/accounts/verify_credentials"
    r = http.get(path, headers={"Authorization": f"Bearer {token}"})
    raise_if_rate_limited(r, f"checking the token of {who}")
    if r.status_code == 200:
        return r.json()
    server_error = error_text(r)
    kind = classify(r.status_code, server_error)
    raise TokenProblem(explain(kind, who, server_error), kind, r.status_code, server_error)
