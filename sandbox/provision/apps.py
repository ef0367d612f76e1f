"""OAuth apps: registered once per scope set with POST /api/v1/apps, saved, and reused.

Mastodon allows 5 registrations per 10 minutes per IP (config/initializers/rack_attack.rb,
`throttle_oauth_application_registrations/ip`), and behind the sandbox's proxy every client shares one IP.
A token may only name scopes listed on its app literally (Doorkeeper's enforce_configured_scopes and
scope matching): an app registered with `read` cannot mint `read:statuses`.
"""

from __future__ import annotations

import hashlib

from ..errors import SandboxError
from .credentials import Application, Credentials, scope_key
from .http import Http, error_text, raise_if_rate_limited
from .oauth import OOB, OAuthError, client_credentials

DEFAULT_APP = "mastodon-sandbox"
# Never listened on: the code is read from the Location header, not from a callback.
LOOPBACK_PORT = 47615


def loopback_uri(port: int = LOOPBACK_PORT) -> str:
    return f"http://127.0.0.1:{port}/callback"


def redirect_uris() -> list[str]:
    return [OOB, loopback_uri()]


def supported_scopes(http: Http) -> list[str]:
    """The server's scopes (scopes_supported): a scope unknown to the server makes registration fail."""
    scopes = http.metadata().get("scopes_supported") or []
    if not scopes:
        raise SandboxError(f"{http.base_url} lists no scopes_supported in its OAuth metadata: is it Mastodon 4.3 or newer?")
    return list(scopes)


def covers(app: Application, scopes: str) -> bool:
    """Whether every requested scope is listed on the app, literally."""
    return set(scopes.split()) <= set(app.scopes)


def register_app(http: Http, name: str, scopes: str, uris: list[str] | None = None, website: str | None = None) -> Application:
    """POST /api/v1/apps (app/controllers/api/v1/apps_controller.rb): the saved record."""
    uris = uris or redirect_uris()
    data = {"client_name": name, "redirect_uris": "\n".join(uris), "scopes": scope_key(scopes)}
    if website:
        data["website"] = website
    r = http.post("/api/v1/apps", data=data)
    raise_if_rate_limited(r, f"registering the app {name!r} (5 per 10 minutes per IP)")
    if r.status_code != 200:
        listed = scope_key(scopes)
        listed = listed if len(listed.split()) <= 6 else f"{len(listed.split())} scopes"
        raise SandboxError(f"registering the app {name!r} ({listed}) failed: {error_text(r)}")
    body = r.json()
    scopes_out = body.get("scopes") or scopes.split()
    return Application(body.get("name", name), str(body.get("id", "")), body["client_id"], body["client_secret"],
                       tuple(scopes_out.split() if isinstance(scopes_out, str) else scopes_out),
                       tuple(body.get("redirect_uris") or uris), "api")


def app_name_for(scopes: str, prefix: str = DEFAULT_APP) -> str:
    """One app per scope set, named after a digest of it (names are at most 60 characters)."""
    return f"{prefix}-{hashlib.sha1(scope_key(scopes).encode()).hexdigest()[:8]}"


def app_is_known(http: Http, app: Application) -> bool:
    """Whether the server still knows the app's client credentials (the database may have been replaced)."""
    try:
        client_credentials(http, app, app.scopes[0] if app.scopes else "read")
    except OAuthError as e:
        if e.error == "invalid_client":
            return False
        raise
    return True


def ensure_app(http: Http, creds: Credentials, name: str, scopes: str, *, check: bool = False) -> Application:
    """The saved app of that name and scope set, or a newly registered one (saved at once)."""
    app = creds.app(name)
    if app is not None and scope_key(app.scopes) == scope_key(scopes):
        if not check or app_is_known(http, app):
            return app
        creds.drop_tokens_of_app(name)
    elif app is not None:
        raise SandboxError(
            f"the saved app {name!r} has scopes {scope_key(app.scopes)!r}, not {scope_key(scopes)!r}: "
            "choose another app name"
        )
    app = creds.set_app(register_app(http, name, scopes))
    creds.save()
    return app


def app_for_scopes(http: Http, creds: Credentials, scopes: str) -> Application:
    """A saved web app (one with redirect URIs) that lists every requested scope, else a new one."""
    default = creds.app(DEFAULT_APP)
    if default is not None and covers(default, scopes):
        return default
    for app in creds.apps.values():
        if app.source == "api" and covers(app, scopes):
            return app
    return ensure_app(http, creds, app_name_for(scopes), scopes)
