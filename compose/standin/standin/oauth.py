"""Doorkeeper as Mastodon configures it (config/initializers/doorkeeper.rb): scopes, apps, grants, tokens, PKCE.

Pure functions plus small SQL helpers; the HTTP side lives in standin/web/oauth_views.py."""
from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
import secrets
from typing import Iterable
from urllib.parse import urlsplit

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
    "invalid_redirect_uri": "The redirect uri included is not valid.",  # Mastodon's config/locales/doorkeeper.en.yml
    "unsupported_response_type": "The authorization server does not support this response type.",
    "access_denied": "The resource owner or authorization server denied the request.",
    # Doorkeeper 5.9.2's pluralised text with pkce_code_challenge_methods ['S256'] (v4.6.5); 4.3.23's own text
    # is in code_challenge_method_error.
    "invalid_code_challenge_method": "The code_challenge_method must be S256.",
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
    if method != "S256":
        return False  # no grant is made with another method (CHALLENGE_METHODS)
    return hmac.compare_digest(pkce_s256(verifier), challenge)


def error_description(name: str, is_43: bool, missing: str | None = None) -> str:
    """The error_description Doorkeeper gives, in Mastodon's wording (config/locales/doorkeeper.en.yml)."""
    if missing:
        return f"Missing required parameter: {missing}."
    if name == "invalid_code_challenge_method" and is_43:
        return "The code challenge method must be S256, plain is unsupported."
    return ERRORS[name]


# S256 only, on 4.3 too: v4.3.23 adds OauthPreAuthorizationExtension (app/lib/, validate
# code_challenge_method_s256) on top of Doorkeeper 5.7.1 and advertises %w(S256)
# (app/presenters/oauth_metadata_presenter.rb); 4.4+ configure pkce_code_challenge_methods ['S256'].
CHALLENGE_METHODS = ["S256"]


# What Ruby's URI (RFC 3986 parser) accepts in a URI; anything else raises URI::InvalidURIError.
URI_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")
URI_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):(.*)", re.DOTALL)


def redirect_uri_errors(value: str) -> list[str]:
    """Doorkeeper::RedirectUriValidator#validate_each (5.9.2) for whitespace-separated URIs, with Mastodon's
    forbid_redirect_uri (data, vbscript, javascript) and force_ssl_in_redirect_uri false. A URI that does
    not parse ends the validation (the rescue is around the whole loop)."""
    errs: list[str] = []
    for val in value.split():
        if val == OOB:
            continue
        if not URI_CHARS.fullmatch(val):
            return errs + ["must be a valid URI."]
        m = URI_SCHEME.fullmatch(val)
        scheme, rest = (m.group(1).lower(), m.group(2)) if m else (None, val)
        authority = rest.startswith("//")
        host = (urlsplit(val).hostname if scheme else urlsplit(val).netloc) if authority else None
        if scheme in ("data", "vbscript", "javascript"):
            errs.append("is forbidden by the server.")
        if "#" in val:
            errs.append("cannot contain a fragment.")
        if (scheme and rest and not rest.startswith("/")) or scheme == "localhost":  # opaque, or localhost:
            errs.append("must specify a scheme.")
        if scheme is None and not host:
            errs.append("must be an absolute URI.")
        if scheme in ("http", "https") and not host:
            errs.append("must be a valid URI.")
    return errs


def http_url(value: str) -> bool:
    """URLValidator: an http(s) URL with a host."""
    try:
        p = urlsplit(value)
    except ValueError:
        return False
    return p.scheme in ("http", "https") and bool(p.hostname) and " " not in value


def uri_matches(url: str, client_url: str) -> bool:
    """Doorkeeper::OAuth::Helpers::URIChecker.matches? (5.9.2): the client's query, if any, must match as a set
    (and is then ignored); loopback addresses match on any port (RFC 8252 section 7.3); the request's own
    query is ignored; the rest compares as Ruby's URI#== does (scheme and host case-insensitive)."""
    u, c = urlsplit(url), urlsplit(client_url)
    if c.query:
        if sorted(u.query.split("&")) != sorted(c.query.split("&")):
            return False

    def loopback(host):
        try:
            return ipaddress.ip_address(host or "").is_loopback
        except ValueError:
            return False

    def norm(p, drop_port):
        host = (p.hostname or "").lower()
        netloc = (f"[{host}]" if ":" in host else host) if drop_port else p.netloc.lower()
        path = p.path or ("/" if p.scheme in ("http", "https") and p.netloc else "")
        return (p.scheme.lower(), netloc, path)
    drop = loopback(u.hostname) and loopback(c.hostname)
    return norm(u, drop) == norm(c, drop)


def redirect_uri_allowed(requested: str | None, app_redirect_uri: str) -> bool:
    """URIChecker.valid_for_authorization?: a valid URI matching one of the app's."""
    if not requested:
        return False
    if requested == OOB:
        return OOB in app_redirect_uri.split()
    return not redirect_uri_errors(requested) and any(
        uri_matches(requested, other) for other in app_redirect_uri.split() if other != OOB)


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
