"""Doorkeeper's JSON endpoints: POST /oauth/token, POST /oauth/revoke, and the RFC 8414 metadata
(app/controllers/oauth/tokens_controller.rb, well_known/oauth_metadata_controller.rb,
app/presenters/oauth_metadata_presenter.rb)."""
from __future__ import annotations

import base64
from urllib.parse import unquote

from aiohttp import web

from .. import accounts, oauth
from .auth import form_params
from .base import ctx, json_response

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache", "Vary": "Accept, Origin"}


def oauth_error(name: str, status: int | None = None, missing: str | None = None, raised: bool = False) -> web.Response:
    """Doorkeeper's error answer from the token endpoint. `raised`: an error Doorkeeper raises rather than
    returns (a missing grant_type or code, an unsupported grant type) is written by handle_token_exception
    (lib/doorkeeper/helpers/controller.rb) as a bare response body, without `render`, so Rails adds no
    `Vary: Accept` (seen on v4.6.5)."""
    status = status or (401 if name == "invalid_client" else 400)
    # doorkeeper.en.yml: invalid_request.missing_param
    desc = f"Missing required parameter: {missing}." if missing else oauth.ERRORS[name]
    return json_response({"error": name, "error_description": desc}, status, {
        "Cache-Control": "no-store", "Vary": "Origin" if raised else "Accept, Origin",
        "WWW-Authenticate": f'Bearer realm="Doorkeeper", error="{name}", error_description="{desc}"'})


def client_credentials(request: web.Request, p: dict) -> tuple[str | None, str | None]:
    """client_secret_basic first, then client_secret_post (Doorkeeper's client_credentials_methods)."""
    auth = request.headers.get("Authorization", "")
    if auth[:6].lower() == "basic ":
        try:
            uid, _, secret = base64.b64decode(auth[6:].strip()).decode().partition(":")
            return unquote(uid), unquote(secret)
        except (ValueError, UnicodeDecodeError):
            return None, None
    return p.get("client_id"), p.get("client_secret")


def token_body(tok: dict) -> dict:
    return {"access_token": tok["token"], "token_type": "Bearer", "scope": tok["scopes"] or "",
            "created_at": int(tok["created_at"].timestamp())}


async def token(request: web.Request) -> web.Response:
    c = ctx(request)
    p = await form_params(request)
    grant_type = p.get("grant_type")
    flows = ["authorization_code", "client_credentials"] + (["password"] if c.cfg.password_grant else [])
    if not grant_type:
        return oauth_error("invalid_request", missing="grant_type", raised=True)
    if grant_type not in flows:
        return oauth_error("unsupported_grant_type", raised=True)
    uid, secret = client_credentials(request, p)
    # Doorkeeper::Request::AuthorizationCode#grant: a blank code is a missing parameter before anything else.
    if grant_type == "authorization_code" and not p.get("code"):
        return oauth_error("invalid_request", missing="code", raised=True)

    def run(conn):
        grant = oauth.grant_by_code(conn, p["code"]) if grant_type == "authorization_code" else None
        if grant_type == "authorization_code":
            # AuthorizationCodeRequest#validate_params, before the client: a PKCE grant needs its verifier,
            # then the redirect URI must be given.
            if grant and grant["code_challenge"] and not p.get("code_verifier"):
                return ("invalid_request", "code_verifier"), None
            if not p.get("redirect_uri"):
                return ("invalid_request", "redirect_uri"), None
        app = oauth.authenticate_client(conn, uid, secret)
        if app is None:
            return "invalid_client", None
        if grant_type == "client_credentials":
            scopes = oauth.split_scopes(p.get("scope")) or list(oauth.DEFAULT_SCOPES)
            if not oauth.scopes_allowed(scopes, oauth.split_scopes(app["scopes"])):
                return "invalid_scope", None
            return None, oauth.find_or_create_token(conn, app["id"], None, " ".join(scopes))
        if grant_type == "authorization_code":
            # then validate_grant (this client's, not spent or expired), the redirect URI, the verifier
            if grant is None or grant["application_id"] != app["id"] or not grant["accessible"]:
                return "invalid_grant", None
            if not oauth.redirect_uri_allowed(p.get("redirect_uri"), grant["redirect_uri"]):
                return "invalid_grant", None
            if not oauth.pkce_ok(grant["code_challenge"], grant["code_challenge_method"], p.get("code_verifier")):
                return "invalid_grant", None
            with conn.transaction():
                # the code is spent only on success (Doorkeeper revokes it when issuing the token)
                conn.execute("UPDATE oauth_access_grants SET revoked_at = now() WHERE id = %s", (grant["id"],))
                tok = oauth.find_or_create_token(conn, app["id"], grant["resource_owner_id"], grant["scopes"])
            return None, tok
        # password grant (Mastodon <= 4.3: resource_owner_from_credentials, login by e-mail)
        user = conn.execute("SELECT * FROM users WHERE lower(email) = lower(%s)", (p.get("username") or "",)
                            ).fetchone()
        if user is None or not accounts.check_password(p.get("password") or "", user["encrypted_password"]):
            return "invalid_grant", None
        scopes = oauth.split_scopes(p.get("scope")) or list(oauth.DEFAULT_SCOPES)
        if not oauth.scopes_allowed(scopes, oauth.split_scopes(app["scopes"])):
            return "invalid_scope", None
        return None, oauth.find_or_create_token(conn, app["id"], user["id"], " ".join(scopes))
    err, tok = await c.db(run)
    if isinstance(err, tuple):
        return oauth_error(err[0], missing=err[1])
    if err:
        return oauth_error(err)
    return json_response(token_body(tok), 200, NO_STORE)


async def revoke(request: web.Request) -> web.Response:
    c = ctx(request)
    p = await form_params(request)
    uid, secret = client_credentials(request, p)

    def run(conn):
        # Doorkeeper 5.9.2 app/controllers/doorkeeper/tokens_controller.rb: validate_presence_of_client (a
        # before_action) refuses unknown or wrong client credentials with the revocation error, 403; then an
        # unknown token is 200 and another client's token 403 (#authorized?).
        app = oauth.authenticate_client(conn, uid, secret)
        if app is None:
            return "unauthorized_client"
        tok = oauth.token_row(conn, p.get("token"))
        if tok is None:
            return None
        if tok["application_id"] != app["id"]:
            return "unauthorized_client"
        # OAuth::TokensController#revoke also drops the token's web push subscriptions (none here).
        conn.execute("UPDATE oauth_access_tokens SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL",
                     (tok["id"],))
        return None
    err = await c.db(run)
    if err == "unauthorized_client":
        # rendered without an ETag: Rack::ETag leaves `no-cache` (seen on v4.6.5)
        return json_response({"error": "unauthorized_client",
                              "error_description": "You are not authorized to revoke this token"}, 403,
                             {"Cache-Control": "no-cache", "Vary": "Accept, Origin"})
    return json_response({}, 200, {"Cache-Control": "max-age=0, private, must-revalidate",
                                   "Vary": "Accept, Origin"})


async def metadata(request: web.Request) -> web.Response:
    cfg = ctx(request).cfg
    base = cfg.base_url
    grants = ["authorization_code", "client_credentials"] + (["password"] if cfg.password_grant else [])
    body = {
        "issuer": f"{base}/", "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token", "revocation_endpoint": f"{base}/oauth/revoke",
        "userinfo_endpoint": f"{base}/oauth/userinfo", "scopes_supported": oauth.ALL_SCOPES,
        "response_types_supported": ["code"], "response_modes_supported": ["query", "fragment", "form_post"],
        "grant_types_supported": grants,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": oauth.CHALLENGE_METHODS,
        "service_documentation": "https://docs.joinmastodon.org/",
        "app_registration_endpoint": f"{base}/api/v1/apps",
    }
    if cfg.is_43:
        body.pop("userinfo_endpoint")  # GET /oauth/userinfo arrived in 4.4.0
    return json_response(body, 200, {"Cache-Control": "max-age=0, private, must-revalidate", "Vary": "Origin"})


async def nodeinfo_index(request: web.Request) -> web.Response:
    base = ctx(request).cfg.base_url
    return json_response({"links": [{"rel": "http://nodeinfo.diaspora.software/ns/schema/2.0",
                                     "href": f"{base}/nodeinfo/2.0"}]}, 200,
                         {"Cache-Control": "max-age=259200, public", "Vary": "Origin"})
