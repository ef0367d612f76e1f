"""Shared web plumbing: context, middlewares (host authorization, force_ssl, headers, sessions, errors),
JSON/HTML responses and bearer-token authentication."""
from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from typing import Any, Awaitable, Callable

from aiohttp import web

from .. import db, pages, ratelimit, session
from ..config import Config
from ..netutil import remote_ip, throttle_key_ip

CTX = web.AppKey("ctx", object) if hasattr(web, "AppKey") else "ctx"
JSON_CT = "application/json"

# Headers Rails/Mastodon put on every response (config/initializers/content_security_policy.rb and Rails
# default_headers); the stand-in keeps the security-relevant ones.
DEFAULT_HEADERS = {
    "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "X-XSS-Protection": "0",
    "Referrer-Policy": "same-origin",
}
HSTS = "max-age=63072000; includeSubDomains"  # ActionDispatch::SSL with hsts: default 2 years + subdomains


class Ctx:
    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="db")
        self._redis = None

    @property
    def redis(self):
        if self._redis is None:
            import redis.asyncio as aredis
            self._redis = aredis.Redis(host=self.cfg.redis_host, port=self.cfg.redis_port, db=self.cfg.redis_db,
                                       password=self.cfg.redis_password,
                                       socket_connect_timeout=5)
        return self._redis

    async def db(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run fn(conn, *args) on a worker thread with that thread's own connection."""
        loop = asyncio.get_running_loop()

        def call():
            import psycopg
            for attempt in (1, 2):
                conn = db.thread_conn(self.cfg)
                try:
                    return fn(conn, *args)
                except psycopg.OperationalError:
                    # The server dropped the connection (restart, or a database swapped under us by a sandbox
                    # reset): reconnect once, as ActiveRecord does, before giving up.
                    db.forget_thread_conn()
                    if attempt == 2:
                        raise
        return await loop.run_in_executor(self.executor, call)


def ctx(request: web.Request) -> Ctx:
    return request.app[CTX]


# ------------------------------------------------------------------ responses

def json_response(data: Any, status: int = 200, headers: dict | None = None) -> web.Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    resp = web.Response(text=body, status=status, content_type=JSON_CT, charset="utf-8")
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def html_response(text: str, status: int = 200) -> web.Response:
    resp = web.Response(text=text, status=status, content_type="text/html", charset="utf-8")
    resp.headers["Cache-Control"] = "private, no-store"
    resp.headers["Vary"] = "Accept"
    return resp


def redirect(location: str, status: int = 302) -> web.Response:
    resp = web.Response(status=status, content_type="text/html", charset="utf-8")
    resp.headers["Location"] = location
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


# ActionDispatch::Http::MimeNegotiation: an Accept header listing */* among other types is a browser's,
# and ignored (the format is then HTML); otherwise its first type is the request's format.
BROWSER_LIKE_ACCEPTS = re.compile(r",\s*\*/\*|\*/\*\s*,")


def request_format(request: web.Request | None) -> str:
    accept = request.headers.get("Accept", "") if request is not None else ""
    if not accept or BROWSER_LIKE_ACCEPTS.search(accept):
        return "text/html"
    return accept.split(",")[0].split(";")[0].strip().lower()


def error_page(code: int, request: web.Request | None = None) -> web.Response:
    """ApplicationController#respond_with_error: `format.any` renders errors/CODE in the error layout with
    the request's format as its Content-Type (real v4.6.5 answers `*/*` to `Accept: */*`), `format.json`
    renders {"error": <reason phrase>}."""
    fmt = request_format(request)
    if fmt == "application/json":
        resp = json_response({"error": HTTPStatus(code).phrase}, status=code)
        resp.headers["Cache-Control"] = "private, no-store"
        resp.headers["Vary"] = "Accept"
    else:
        resp = html_response(pages.error_page(code), status=code)
        if fmt == "*/*":
            resp.headers["Content-Type"] = "*/*; charset=utf-8"
    if request is not None and cors_path(request.path):
        resp.headers["Vary"] = ", ".join(filter(None, [resp.headers.get("Vary"), "Origin"]))
    return resp


# config/initializers/cors.rb: the paths Rack::Cors answers for, and so adds `Vary: Origin` to.
CORS_PATHS = re.compile(r"^/(\.well-known/.*|nodeinfo/.*|@[^/]+|users/[^/]+|api/.*|oauth/(token|revoke|userinfo))$")


def cors_path(path: str) -> bool:
    return bool(CORS_PATHS.match(path))


# ------------------------------------------------------------------ request facts

def forwarded_proto(request: web.Request) -> str:
    v = request.headers.get("X-Forwarded-Proto", "")
    if v:
        return v.split(",")[0].strip().lower()
    if request.headers.get("X-Forwarded-Ssl", "").lower() == "on":
        return "https"
    return request.scheme


def request_host(request: web.Request) -> str:
    xfh = request.headers.get("X-Forwarded-Host")
    if xfh:
        return xfh.split(",")[-1].strip()
    return request.headers.get("Host", "")


def client_ip(request: web.Request) -> str:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    addr = peer[0] if peer else None
    return remote_ip(addr, request.headers.get("X-Forwarded-For"), ctx(request).cfg.trusted_proxies)


def host_allowed(host: str, allowed_hosts: tuple[str, ...]) -> bool:
    """ActionDispatch::HostAuthorization: case-insensitive, optional port when the allowed host has none."""
    h = host.lower()
    for allowed in (a.lower() for a in allowed_hosts):
        if h == allowed:
            return True
        if ":" not in allowed:
            name, _, port = h.rpartition(":") if h.count(":") == 1 else (h, "", "")
            if name == allowed and port.isdigit():
                return True
    return False


# ------------------------------------------------------------------ middlewares

@web.middleware
async def host_and_ssl(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
    cfg = ctx(request).cfg
    # config/initializers/1_hosts.rb: host authorization, excluding exactly /health; blocked -> 403, empty body.
    if request.path != "/health" and not host_allowed(request_host(request), cfg.allowed_hosts):
        resp = web.Response(status=403, content_type="text/html", charset="UTF-8")
        if cors_path(request.path):  # Rack::Cors sits before host authorization (seen: `vary: Origin`)
            resp.headers["Vary"] = "Origin"
        return resp
    https = forwarded_proto(request) == "https"
    # config/environments/production.rb: force_ssl, redirect except for paths starting with /health.
    if not https and not request.path.startswith("/health"):
        host = request.headers.get("Host", cfg.local_domain)
        # ActionDispatch::SSL#redirection_status: 301 for GET/HEAD, else ssl_default_redirect_status, 308 under
        # config.load_defaults 8.1 (config/application.rb; the 7.1 defaults introduced 308).
        status = 301 if request.method in ("GET", "HEAD") else 308
        resp = web.Response(status=status, content_type="text/html", charset="utf-8")
        resp.headers["Location"] = f"https://{host}{request.path_qs}"
        return resp
    request["https"] = https
    started = time.monotonic()
    try:
        resp = await handler(request)
    except web.HTTPNotFound:
        resp = error_page(404, request)
    except web.HTTPMethodNotAllowed:
        resp = error_page(404, request)
    except Exception:  # noqa: BLE001  (Rails renders errors/500 and logs the exception)
        import logging
        logging.getLogger("standin.web").exception("error handling %s %s", request.method, request.path)
        resp = error_page(500)
    if not request.get("static_file"):
        # A file from public/ is answered by PublicFileServerMiddleware, ahead of Rack::Runtime,
        # ActionDispatch::RequestId and the controllers' default headers; only ActionDispatch::SSL comes first.
        for k, v in DEFAULT_HEADERS.items():
            resp.headers.setdefault(k, v)
        resp.headers.setdefault("X-Request-Id", str(uuid.uuid4()))
        resp.headers["X-Runtime"] = f"{time.monotonic() - started:.6f}"
    if https:
        resp.headers["Strict-Transport-Security"] = HSTS
    return resp


@web.middleware
async def sessions(request: web.Request, handler):
    """Load the signed session cookie; write it back (Secure; HttpOnly; SameSite=Lax) when it changed."""
    cfg = ctx(request).cfg
    data = session.load(request.cookies.get(session.SESSION_COOKIE), cfg.secret_key_base) or {}
    request["session"] = data
    before = json.dumps(data, sort_keys=True)
    resp = await handler(request)
    after = json.dumps(request["session"], sort_keys=True)
    if after != before or request.get("session_touch"):
        resp.set_cookie(session.SESSION_COOKIE, session.dump(request["session"], cfg.secret_key_base),
                        path="/", httponly=True, secure=True, samesite="Lax")
    return resp


# ------------------------------------------------------------------ sessions / CSRF helpers

def csrf_secret(request: web.Request) -> str:
    s = request["session"]
    if "_csrf_token" not in s:
        s["_csrf_token"] = session.new_csrf_secret()
    return s["_csrf_token"]


def form_token(request: web.Request) -> str:
    return session.masked_token(csrf_secret(request))


def csrf_ok(request: web.Request, form: dict) -> bool:
    given = form.get("authenticity_token") or request.headers.get("X-CSRF-Token")
    return session.valid_token(given, request["session"].get("_csrf_token"))


async def current_user(request: web.Request) -> dict | None:
    uid = request["session"].get("user_id")
    if not uid:
        return None

    def load(conn, uid, sid):
        # config/initializers/devise.rb (warden hooks): a session whose activation is gone (password change,
        # sign-out elsewhere) is signed out.
        return conn.execute("SELECT u.*, a.username FROM users u JOIN accounts a ON a.id = u.account_id "
                            "JOIN session_activations s ON s.user_id = u.id AND s.session_id = %s "
                            "WHERE u.id = %s", (sid, uid)).fetchone()
    user = await ctx(request).db(load, uid, request["session"].get("session_id"))
    if user is None:
        request["session"].pop("user_id", None)
        request["session"].pop("session_id", None)
    return user


# ------------------------------------------------------------------ API authentication and throttles

async def params(request: web.Request) -> dict:
    """Rails params: query string merged with a form or JSON body."""
    out: dict = dict(request.query)
    if request.body_exists:
        ct = request.content_type
        if ct == "application/json":
            try:
                body = json.loads(await request.text() or "{}")
                if isinstance(body, dict):
                    out.update(body)
            except ValueError:
                pass
        else:
            form = await request.post()
            for k in set(form.keys()):
                vals = form.getall(k)
                if k.endswith("[]"):
                    out[k[:-2]] = list(vals)
                else:
                    out[k] = vals[-1]
    return out


async def bearer(request: web.Request) -> str | None:
    """Mastodon's access_token_methods (config/initializers/doorkeeper.rb): the Authorization header, then the
    access_token and bearer_token parameters, which in Rails are the query and a form or JSON body merged."""
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    p = await params(request) if request.method != "GET" else dict(request.query)
    token = p.get("access_token") or p.get("bearer_token")
    return token if isinstance(token, str) else None


def _lookup(conn, token: str):
    return conn.execute(
        "SELECT t.*, u.confirmed_at, u.approved, u.disabled, u.account_id, u.role_id "
        "FROM oauth_access_tokens t LEFT JOIN users u ON u.id = t.resource_owner_id WHERE t.token = %s",
        (token,)).fetchone()


class ApiAuth:
    def __init__(self, token: dict | None, state: str):
        self.token, self.state = token, state  # state: 'none' | 'invalid' | 'revoked' | 'ok'

    @property
    def user_id(self) -> int | None:
        return self.token["resource_owner_id"] if self.token else None


async def api_auth(request: web.Request) -> ApiAuth:
    raw = await bearer(request)
    if not raw:
        return ApiAuth(None, "none")
    tok = await ctx(request).db(_lookup, raw)
    if tok is None:
        return ApiAuth(None, "invalid")
    if tok["revoked_at"] is not None:
        return ApiAuth(tok, "revoked")
    return ApiAuth(tok, "ok")


def doorkeeper_error(auth: ApiAuth) -> web.Response:
    msg = "The access token was revoked" if auth.state == "revoked" else "The access token is invalid"
    return json_response({"error": msg}, 401, {
        "WWW-Authenticate": f'Bearer realm="Doorkeeper", error="invalid_token", error_description="{msg}"'})


def throttled(h: ratelimit.Hit) -> web.Response:
    """Rack::Attack.throttled_responder (config/initializers/rack_attack.rb): JSON, for web pages too."""
    resp = web.Response(text=json.dumps({"error": "Too many requests"}), status=429)
    resp.headers["Content-Type"] = "application/json"
    resp.headers["Cache-Control"] = "no-cache"
    resp.headers["Vary"] = "Origin"
    resp.headers.update(h.headers())
    return resp


async def api_throttles(request: web.Request, auth: ApiAuth, ip: str, throttle_apps: bool) -> list[ratelimit.Hit]:
    """The throttles rack_attack.rb counts for an /api request, in its order. A token is found even when
    revoked (Doorkeeper::OAuth::Token.authenticate), and counts per token; the request is unauthenticated
    when no found token has a user (no token, an unknown one, an app token): then it counts per address."""
    c = ctx(request)
    tok = auth.token if auth.state in ("ok", "revoked") else None
    user_id = tok["resource_owner_id"] if tok else None
    plan = []
    if user_id:
        plan.append(("throttle_authenticated_api", str(user_id)))
    if tok:
        plan.append(("throttle_per_token_api", str(tok["id"])))
    if not user_id:
        plan.append(("throttle_unauthenticated_api", ip))
    if any(request.query.get(k) for k in ratelimit.PAGING_PARAMS):
        plan.append(("throttle_authenticated_paging", str(user_id)) if user_id else ("throttle_unauthenticated_paging", ip))
    if throttle_apps and request.method == "POST":
        plan.append(("throttle_oauth_application_registrations/ip", ip))
    return [await ratelimit.hit(c.redis, name, key) for name, key in plan]


def api_handler(throttle_apps: bool = False, cache: str = "private, no-store", vary: str = "Authorization, Origin"):
    """Wrap an Api::BaseController action: Rack::Attack throttles first, then X-RateLimit-* headers on the
    answer (app/controllers/concerns/api/rate_limit_headers.rb)."""
    def deco(fn):
        async def wrapped(request: web.Request):
            ip = throttle_key_ip(client_ip(request))
            auth = await api_auth(request)
            request["api_auth"] = auth
            hits = await api_throttles(request, auth, ip, throttle_apps)
            over = [h for h in hits if h.exceeded]
            if over:
                return throttled(over[0])
            resp = await fn(request)
            best = ratelimit.closest(hits)
            if best:
                resp.headers.update(best.headers())
            resp.headers.setdefault("Vary", vary)
            resp.headers.setdefault("Cache-Control", cache)
            return resp
        wrapped.__name__ = fn.__name__
        return wrapped
    return deco


def scopes_ok(token: dict, any_of: tuple[str, ...]) -> bool:
    have = (token.get("scopes") or "").split()
    return any(s in have for s in any_of)


def forbidden_scope(request: web.Request, any_of: tuple[str, ...]) -> web.Response:
    """Doorkeeper's ForbiddenTokenResponse (lib/doorkeeper/oauth/forbidden_token_response.rb): 403 with
    Mastodon's body (doorkeeper_forbidden_render_options). Doorkeeper 5.9.2 (Mastodon 4.6) adds its
    WWW-Authenticate, the description sanitised by ErrorResponse#sanitize_error_values (`"` becomes `_`);
    Doorkeeper 5.7.1 (Mastodon 4.3) deletes the header."""
    resp = json_response({"error": "This action is outside the authorized scopes"}, 403)
    if not ctx(request).cfg.is_43:
        desc = f'Access to this resource requires scope _{" ".join(any_of)}_.'
        resp.headers["WWW-Authenticate"] = f'Bearer realm="Doorkeeper", error="insufficient_scope", error_description="{desc}"'
    return resp


def authorize_if_got_token(request: web.Request, any_of: tuple[str, ...]) -> web.Response | None:
    """Api::BaseController#authorize_if_got_token!: doorkeeper_authorize! only when a token is found. An
    unknown token string finds none (Doorkeeper::OAuth::Token.authenticate) and the request goes on as
    anonymous; a revoked one is found and refused, a found one without the scopes is refused."""
    auth: ApiAuth = request["api_auth"]
    if auth.state == "revoked":
        return doorkeeper_error(auth)
    if auth.state == "ok" and not scopes_ok(auth.token, any_of):
        return forbidden_scope(request, any_of)
    return None


async def require_user(request: web.Request, any_of: tuple[str, ...]) -> tuple[dict | None, web.Response | None]:
    """doorkeeper_authorize!(*scopes) then require_user! (app/controllers/api/base_controller.rb)."""
    auth: ApiAuth = request["api_auth"]
    if auth.state != "ok":
        return None, doorkeeper_error(auth)
    if any_of and not scopes_ok(auth.token, any_of):
        return None, forbidden_scope(request, any_of)
    if auth.user_id is None:
        return None, json_response({"error": "This method requires an authenticated user"}, 422)
    from ..accounts import functional_error
    msg = functional_error(auth.token)
    if msg:
        return None, json_response({"error": msg}, 403)
    return auth.token, None
