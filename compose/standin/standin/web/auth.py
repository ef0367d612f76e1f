"""Browser side: Devise sign-in (auth/sessions_controller.rb) and Doorkeeper's authorization pages
(oauth/authorizations_controller.rb, app/views/oauth/authorizations/*)."""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode, urlsplit, urlunsplit

from aiohttp import web

from .. import accounts, oauth, pages, ratelimit, session
from ..netutil import throttle_key_ip
from .base import (client_ip, params, csrf_ok, ctx, current_user, error_page, form_token, html_response, json_response, throttled,
                   redirect)


async def form_params(request: web.Request) -> dict:
    """Rails params of a page's form: the query string plus a form or JSON body, values as text."""
    return {k: v if isinstance(v, str) or v is None else str(v) for k, v in (await params(request)).items()}


# ---------------------------------------------------------------- sign in / out

async def _already_signed_in(request: web.Request) -> web.Response | None:
    """Devise's require_no_authentication: a signed-in user is sent to after_sign_in_path_for."""
    if await current_user(request) is None:
        return None
    back = request["session"].pop("user_return_to", None)
    return redirect(back or f"{ctx(request).cfg.base_url}/")


async def sign_in_page(request: web.Request) -> web.Response:
    c = ctx(request)
    done = await _already_signed_in(request)
    if done is not None:
        return done
    request["session_touch"] = True
    return html_response(pages.sign_in(c.cfg.local_domain, form_token(request)))


async def sign_in(request: web.Request) -> web.Response:
    c = ctx(request)
    form = await form_params(request)
    # Rack::Attack counts in the middleware, before Rails' CSRF check: per address, and per e-mail given
    # (throttle_login_attempts/email, 25 an hour); a throttled sign-in answers the JSON responder's 429.
    hits = [await ratelimit.hit(c.redis, "throttle_login_attempts/ip", throttle_key_ip(client_ip(request)))]
    if form.get("user[email]"):
        hits.append(await ratelimit.hit(c.redis, "throttle_login_attempts/email", form["user[email]"]))
    over = [h for h in hits if h.exceeded]
    if over:
        return throttled(over[0])
    if not csrf_ok(request, form):
        # ApplicationController: rescue_from ActionController::InvalidAuthenticityToken -> 422 error page.
        return error_page(422, request)
    done = await _already_signed_in(request)
    if done is not None:
        return done
    email = (form.get("user[email]") or "").strip()
    password = form.get("user[password]") or ""

    def check(conn):
        u = conn.execute("SELECT * FROM users WHERE lower(email) = lower(%s)", (email,)).fetchone()
        if u and accounts.check_password(password, u["encrypted_password"]):
            sid = secrets.token_hex(16)
            conn.execute("INSERT INTO session_activations (session_id, user_id, ip, created_at, updated_at) "
                         "VALUES (%s, %s, %s, now(), now())", (sid, u["id"], client_ip(request)))
            conn.execute("UPDATE users SET sign_in_count = sign_in_count + 1, last_sign_in_at = current_sign_in_at,"
                         " current_sign_in_at = now() WHERE id = %s", (u["id"],))
            return u, sid
        return None, None
    user, sid = await c.db(check)
    if user is None:
        request["session_touch"] = True
        return html_response(pages.sign_in(c.cfg.local_domain, form_token(request), email=email,
                                            alert="Invalid e-mail address or password."))
    s = request["session"]
    back = s.pop("user_return_to", None)
    # Devise renews the CSRF token on sign-in (clean_up_csrf_token_on_authentication).
    s["_csrf_token"] = session.new_csrf_secret()
    s["user_id"] = user["id"]
    s["session_id"] = sid
    resp = redirect(back or f"{c.cfg.base_url}/")
    expires = datetime.now(timezone.utc) + timedelta(days=365)
    resp.set_cookie(session.SESSION_ID_COOKIE, session.dump({"session_id": sid}, c.cfg.secret_key_base, "sid"),
                    path="/", httponly=True, secure=True, samesite="Lax",
                    expires=expires.strftime("%a, %d %b %Y %H:%M:%S GMT"))
    return resp


async def sign_out(request: web.Request) -> web.Response:
    c = ctx(request)
    form = await form_params(request)
    if not csrf_ok(request, form):
        return error_page(422, request)
    request["session"].pop("user_id", None)
    sid = request["session"].pop("session_id", None)
    if sid:
        await c.db(lambda conn: conn.execute("DELETE FROM session_activations WHERE session_id = %s", (sid,)))
    return redirect(f"{c.cfg.base_url}/auth/sign_in")


async def home(request: web.Request) -> web.Response:
    from ..config import DISCLAIMER
    return html_response(pages.home(DISCLAIMER))


# ---------------------------------------------------------------- authorization

class PreAuthError(Exception):
    def __init__(self, name: str, missing: str | None = None):
        super().__init__(name)
        self.name, self.missing = name, missing

    @property
    def status(self) -> int:
        return 401 if self.name in ("invalid_client", "unauthorized_client") else 400


def pre_authorize(cfg, conn, p: dict) -> tuple[dict, list[str]]:
    """Doorkeeper::OAuth::PreAuthorization#validate, in its order (lib/doorkeeper/oauth/pre_authorization.rb,
    5.9.2 and 5.7.1 alike): client_id given, client known, redirect URI matching, response_type given and
    supported, response_mode, scopes, then the code challenge's method."""
    if not p.get("client_id"):
        raise PreAuthError("invalid_request", missing="client_id")
    app = oauth.app_by_uid(conn, p.get("client_id"))
    if app is None:
        raise PreAuthError("invalid_client")
    if not oauth.redirect_uri_allowed(p.get("redirect_uri"), app["redirect_uri"]):
        raise PreAuthError("invalid_redirect_uri")
    if not p.get("response_type"):
        raise PreAuthError("invalid_request", missing="response_type")
    if p.get("response_type") != "code":
        raise PreAuthError("unsupported_response_type")
    scopes = oauth.split_scopes(p.get("scope")) or list(oauth.DEFAULT_SCOPES)
    if not oauth.scopes_allowed(scopes, oauth.split_scopes(app["scopes"])):
        raise PreAuthError("invalid_scope")
    # validate_code_challenge_method: a challenge needs a method the server supports (none is assumed)
    if p.get("code_challenge") and p.get("code_challenge_method") not in oauth.CHALLENGE_METHODS:
        raise PreAuthError("invalid_code_challenge_method")
    return app, scopes


def error_redirect_or_json(cfg, name: str, p: dict, missing: str | None = None, status: int = 400) -> web.Response:
    """AuthorizationsController#redirect_or_render of an ErrorResponse: redirected to the client with
    error, error_description and state when redirectable (not invalid_redirect_uri or invalid_client, not
    out-of-band), else its body as JSON (blank values left out, as ErrorResponse#body does)."""
    body = {"error": name, "error_description": oauth.error_description(name, cfg.is_43, missing),
            "state": p.get("state")}
    body = {k: v for k, v in body.items() if v}
    uri = p.get("redirect_uri") or ""
    if name not in ("invalid_redirect_uri", "invalid_client") and uri and uri != oauth.OOB:
        return redirect(add_query(uri, body))
    # rendered by `render json:` in a Rails controller: Vary: Accept, and Mastodon's private, no-store
    return json_response(body, status, {"Vary": "Accept", "Cache-Control": "private, no-store"})


def add_query(uri: str, params: dict) -> str:
    parts = urlsplit(uri)
    q = parts.query + ("&" if parts.query else "") + urlencode({k: v for k, v in params.items() if v})
    return urlunsplit((parts.scheme, parts.netloc, parts.path, q, parts.fragment))


def _issue_code(cfg, conn, app, user_id: int, p: dict, scopes: list[str]) -> str:
    grant = oauth.create_grant(conn, app["id"], user_id, p["redirect_uri"], " ".join(scopes),
                               p.get("code_challenge"), p.get("code_challenge_method") or
                               ("plain" if p.get("code_challenge") else None))
    if p["redirect_uri"] == oauth.OOB:
        return f"{cfg.base_url}/oauth/authorize/native?code={grant['token']}"
    return add_query(p["redirect_uri"], {"code": grant["token"], "state": p.get("state")})


def _truthy(v) -> bool:
    # ActiveModel::Type::Boolean casting
    return v not in (None, "", "0", "f", "F", "false", "FALSE", "off", "OFF", False)


def require_functional(cfg, user: dict) -> web.Response | None:
    """ApplicationController#require_functional! (a before_action of every page, Doorkeeper's included, after
    the CSRF check): a signed-in user who may not use the site yet gets no authorization form and no code,
    but a redirect to finish signing up (/auth/setup) or to the account page (/auth/edit)."""
    if accounts.functional_error(user) is None:
        return None
    # 4.3.23 sends everyone to /auth/edit; 4.4+ sends the unconfirmed to /auth/setup.
    setup = user["confirmed_at"] is None and not cfg.is_43
    resp = redirect(f"{cfg.base_url}/auth/setup" if setup else f"{cfg.base_url}/auth/edit")
    # Rails renders the redirect inside respond_to's format.any: its type is the negotiated `*/*` (seen live).
    resp.headers["Content-Type"] = "*/*; charset=utf-8"
    resp.headers["Cache-Control"] = "no-cache"
    return resp


async def authorize(request: web.Request) -> web.Response:
    """GET|POST|DELETE /oauth/authorize (POST with _method=delete is DELETE, Rack::MethodOverride)."""
    c = ctx(request)
    p = await form_params(request)
    method = request.method
    if method == "POST" and (p.get("_method") or "").lower() == "delete":
        method = "DELETE"
    if method != "GET" and not csrf_ok(request, p):
        return error_page(422, request)
    user = await current_user(request)
    if user is None:
        # store_current_location + resource_owner_authenticator { current_user || redirect_to(new_user_session_url) }
        if method == "GET":
            request["session"]["user_return_to"] = f"{c.cfg.base_url}{request.path_qs}"
        return redirect(f"{c.cfg.base_url}/auth/sign_in")
    unfinished = require_functional(c.cfg, user)
    if unfinished is not None:
        return unfinished
    acct = f"{user['username']}@{c.cfg.local_domain}"

    if method == "DELETE":
        # #destroy: authorization.deny, with no validation of the request (CodeRequest#deny); a response type
        # without a strategy is an error page (InvalidTokenStrategy).
        if p.get("response_type") != "code":
            request["session_touch"] = True
            return html_response(pages.oauth_error(acct, oauth.ERRORS["unsupported_response_type"], form_token(request)),
                                 status=400)
        return error_redirect_or_json(c.cfg, "access_denied", p)

    def pre(conn):
        return pre_authorize(c.cfg, conn, p)
    try:
        app, scopes = await c.db(pre)
    except PreAuthError as e:
        if method == "POST":  # #create: redirect_or_render(pre_auth.error_response)
            return error_redirect_or_json(c.cfg, e.name, p, e.missing, e.status)
        request["session_touch"] = True
        return html_response(pages.oauth_error(acct, oauth.error_description(e.name, c.cfg.is_43, e.missing),
                                               form_token(request)), status=e.status)
    if method == "POST":
        return redirect(await c.db(lambda conn: _issue_code(c.cfg, conn, app, user["id"], p, scopes)))

    # GET: skip_authorization for superapps, or a matching token and no force_login -> immediate redirect.
    def matching(conn):
        return oauth.matching_token(conn, app["id"], user["id"], " ".join(scopes))
    if app["superapp"] or (not _truthy(p.get("force_login")) and await c.db(matching)):
        return redirect(await c.db(lambda conn: _issue_code(c.cfg, conn, app, user["id"], p, scopes)))
    request["session_touch"] = True
    shown = dict(p)
    shown["scope"] = " ".join(scopes)
    return html_response(pages.authorize(acct, app["name"], shown, scopes, form_token(request),
                                         form_token(request)))


async def native(request: web.Request) -> web.Response:
    c = ctx(request)
    user = await current_user(request)
    if user is None:
        request["session"]["user_return_to"] = f"{c.cfg.base_url}{request.path_qs}"
        return redirect(f"{c.cfg.base_url}/auth/sign_in")
    unfinished = require_functional(c.cfg, user)
    if unfinished is not None:
        return unfinished
    acct = f"{user['username']}@{c.cfg.local_domain}"
    request["session_touch"] = True
    return html_response(pages.native(acct, request.query.get("code", ""), form_token(request)))
