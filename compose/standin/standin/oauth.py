"""Doorkeeper as Mastodon configures it (config/initializers/doorkeeper.rb): scopes, apps, grants, tokens, PKCE.

Pure functions plus small SQL helpers; the HTTP side lives in standin/web/oauth_views.py."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Iterable

# config/initializers/doorkeeper.rb: default_scopes, optional_scopes (order as the metadata endpoint lists them).
DEFAULT_SCOPES = ["read"]
OPTIONAL_SCOPES = [
    "profile", "write",
    "write:accounts", "write:blocks", "write:bookmarks", "write:collections", "write:conversations",
    "write:favourites", "write:filters", "write:follows", "write:lists", "write:media", "write:mutes",
    "write:notifications", "write:reports", "write:statuses",
    "read:accounts", "read:blocks", "read:bookmarks", "read:collections", "read:favourites", "read:filters",
    "read:follows", "read:lists", "read:mutes", "read:notifications", "read:search", "read:statuses",
    "follow", "push",
    "admin:read", "admin:read:accounts", "admin:read:reports", "admin:read:domain_allows",
    "admin:read:domain_blocks", "admin:read:ip_blocks", "admin:read:email_domain_blocks",
    "admin:read:canonical_email_blocks",
    "admin:write", "admin:write:accounts", "admin:write:reports", "admin:write:domain_allows",
    "admin:write:domain_blocks", "admin:write:ip_blocks", "admin:write:email_domain_blocks",
    "admin:write:canonical_email_blocks",
]
ALL_SCOPES = DEFAULT_SCOPES + OPTIONAL_SCOPES
OOB = "urn:ietf:wg:oauth:2.0:oob"
GRANT_EXPIRES_IN = 600  # Doorkeeper default authorization_code_expires_in: 10 minutes

# Doorkeeper's English error descriptions (config/locales/doorkeeper.en.yml of the gem).
ERRORS = {
    "invalid_request": "The request is missing a required parameter, includes an unsupported parameter value, "
                       "or is otherwise malformed.",
    "invalid_client": "Client authentication failed due to unknown client, no client authentication included, "
                      "or unsupported authentication method.",
    "invalid_grant": "The provided authorization grant is invalid, expired, revoked, does not match the "
                     "redirection URI used in the authorization request, or was issued to another client.",
    "unsupported_grant_type": "The authorization grant type is not supported by the authorization server.",
    "invalid_scope": "The requested scope is invalid, unknown, or malformed.",
    "invalid_redirect_uri": "The requested redirect uri is malformed or doesn't match client redirect URI.",
    "unsupported_response_type": "The authorization server does not support this response type.",
    "access_denied": "The resource owner or authorization server denied the request.",
    "invalid_code_challenge_method": "The code challenge method must be S256.",
    "unauthorized_client": "The client is not authorized to perform this request using this method.",
}


def new_secret() -> str:
    """Doorkeeper::OAuth::Helpers::UniqueToken: SecureRandom.urlsafe_base64(32) -> 43 characters."""
    return secrets.token_urlsafe(32)


def split_scopes(s: str | None) -> list[str]:
    return [x for x in (s or "").split() if x]


def scopes_known(scopes: Iterable[str]) -> bool:
    return all(s in ALL_SCOPES for s in scopes)


def scopes_allowed(requested: list[str], app_scopes: list[str]) -> bool:
    """Doorkeeper ScopeChecker.valid?: every requested scope must be a server scope AND listed literally on the
    app (enforce_configured_scopes). 'read' on the app does not allow 'read:statuses'."""
    return bool(requested) and scopes_known(requested) and all(s in app_scopes for s in requested)


def same_scopes(a: str | None, b: str | None) -> bool:
    return sorted(set(split_scopes(a))) == sorted(set(split_scopes(b)))


def pkce_s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def pkce_ok(challenge: str | None, method: str | None, verifier: str | None) -> bool:
    """Doorkeeper 5.9.2 AuthorizationCodeRequest#validate_code_verifier: without a verifier the grant must have
    no challenge; a verifier for a grant without one fails (its method is neither S256 nor plain)."""
    if not verifier:
        return not challenge
    if not challenge:
        return False
    if (method or "plain") == "S256":
        expected = pkce_s256(verifier)
    else:  # 'plain' is accepted by 4.3 only (pkce_code_challenge_methods ['S256'] since 4.4)
        expected = verifier
    return hmac.compare_digest(expected, challenge)


def challenge_methods(is_43: bool) -> list[str]:
    return ["plain", "S256"] if is_43 else ["S256"]


def redirect_uris(app_redirect_uri: str) -> list[str]:
    return [u for u in app_redirect_uri.replace("\r", "").split("\n") if u.strip()]


def redirect_uri_ok(requested: str | None, app_redirect_uri: str) -> bool:
    return bool(requested) and requested in redirect_uris(app_redirect_uri)


def valid_redirect_uri(uri: str) -> bool:
    """Doorkeeper RedirectUriValidator + forbid_redirect_uri (data/vbscript/javascript schemes)."""
    from urllib.parse import urlsplit
    if uri == OOB:
        return True
    try:
        p = urlsplit(uri)
    except ValueError:
        return False
    if not p.scheme or p.scheme.lower() in ("data", "vbscript", "javascript"):
        return False
    if p.fragment:
        return False
    if p.scheme in ("http", "https") and not p.netloc:
        return False
    return True


# ---------------------------------------------------------------- SQL helpers

def create_app(conn, name: str, redirect_uri: str, scopes: str, website: str | None = None,
               owner_id: int | None = None) -> dict:
    return conn.execute(
        "INSERT INTO oauth_applications (name, uid, secret, redirect_uri, scopes, website, owner_type, owner_id, "
        "created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now(), now()) RETURNING *",
        (name, new_secret(), new_secret(), redirect_uri, scopes, website, "User" if owner_id else None,
         owner_id)).fetchone()


def app_by_uid(conn, uid: str | None) -> dict | None:
    if not uid:
        return None
    return conn.execute("SELECT * FROM oauth_applications WHERE uid = %s", (uid,)).fetchone()


def authenticate_client(conn, uid: str | None, secret: str | None) -> dict | None:
    app = app_by_uid(conn, uid)
    if app is None or secret is None or not hmac.compare_digest(app["secret"], secret):
        return None
    return app


def matching_token(conn, app_id: int, user_id: int | None, scopes: str) -> dict | None:
    """Doorkeeper::AccessToken.matching_token_for: newest non-revoked token with the same scope set."""
    rows = conn.execute(
        "SELECT * FROM oauth_access_tokens WHERE application_id = %s AND resource_owner_id IS NOT DISTINCT FROM %s "
        "AND revoked_at IS NULL ORDER BY created_at DESC, id DESC", (app_id, user_id)).fetchall()
    for r in rows:
        if same_scopes(r["scopes"], scopes):
            return r
    return None


def find_or_create_token(conn, app_id: int, user_id: int | None, scopes: str) -> dict:
    """reuse_access_token: hand back a matching token instead of minting a new one; tokens never expire."""
    tok = matching_token(conn, app_id, user_id, scopes)
    if tok:
        return tok
    return conn.execute(
        "INSERT INTO oauth_access_tokens (token, scopes, application_id, resource_owner_id, created_at) "
        "VALUES (%s, %s, %s, %s, now()) RETURNING *", (new_secret(), scopes, app_id, user_id)).fetchone()


def create_grant(conn, app_id: int, user_id: int, redirect_uri: str, scopes: str, challenge: str | None,
                 method: str | None) -> dict:
    return conn.execute(
        "INSERT INTO oauth_access_grants (token, expires_in, redirect_uri, created_at, scopes, application_id, "
        "resource_owner_id, code_challenge, code_challenge_method) VALUES (%s, %s, %s, now(), %s, %s, %s, %s, %s) "
        "RETURNING *", (new_secret(), GRANT_EXPIRES_IN, redirect_uri, scopes, app_id, user_id,
                        challenge or None, (method or None) if challenge else None)).fetchone()


def grant_by_code(conn, code: str) -> dict | None:
    """AccessGrant.by_token: any grant with this code, of any app, spent or expired (with `accessible`)."""
    return conn.execute(
        "SELECT *, (revoked_at IS NULL AND created_at + make_interval(secs => expires_in) > now()) AS accessible "
        "FROM oauth_access_grants WHERE token = %s", (code,)).fetchone()


def token_row(conn, token: str | None) -> dict | None:
    if not token:
        return None
    return conn.execute("SELECT * FROM oauth_access_tokens WHERE token = %s", (token,)).fetchone()


def revoke_user_access(conn, user_id: int) -> None:
    """User#revoke_access!: revoke every grant and token of the user."""
    conn.execute("UPDATE oauth_access_grants SET revoked_at = now() WHERE resource_owner_id = %s "
                 "AND revoked_at IS NULL", (user_id,))
    conn.execute("UPDATE oauth_access_tokens SET revoked_at = now() WHERE resource_owner_id = %s "
                 "AND revoked_at IS NULL", (user_id,))
