"""`node ./streaming/index.js` -> the stand-in's streaming server on BIND:PORT (0.0.0.0:4000).

Authentication and request routing follow Mastodon's streaming/index.js (v4.6.5): every WebSocket upgrade and
every server-sent-events request needs a non-revoked token of a user; refusals are answered as upstream does.
Streaming itself (frames, events) is part 2: an authenticated request gets 501 for now."""
from __future__ import annotations

import asyncio
import json
import sys
import uuid
from urllib.parse import parse_qs, urlsplit

from . import config

# streaming/index.js PUBLIC_CHANNELS: no scope is needed for these.
PUBLIC_CHANNELS = ("public", "public:media", "public:local", "public:local:media", "public:remote",
                   "public:remote:media", "hashtag", "hashtag:local")
UNEXPECTED = "An unexpected error occurred"  # streaming/errors.js UNEXPECTED_ERROR_MESSAGE
NOT_YET = "The mastodon-sandbox stand-in does not offer streaming events: real Mastodon does (SANDBOX_SERVER=source or official)"

# streaming/index.js accountFromToken: an INNER JOIN on users, so an app (client_credentials) token is as
# invalid as an unknown or revoked one. (The stand-in's users table has no chosen_languages, nor a devices table.)
# streaming/index.js accountFromToken (v4.6.5), its conditions whole: no revoked token, no disabled user,
# no suspended account.
TOKEN_SQL = ("SELECT oauth_access_tokens.id, oauth_access_tokens.resource_owner_id, users.account_id, "
             "oauth_access_tokens.scopes FROM oauth_access_tokens "
             "INNER JOIN users ON oauth_access_tokens.resource_owner_id = users.id "
             "INNER JOIN accounts ON accounts.id = users.account_id "
             "WHERE oauth_access_tokens.token = %s AND oauth_access_tokens.revoked_at IS NULL "
             "AND users.disabled IS FALSE AND accounts.suspended_at IS NULL LIMIT 1")


class StreamingError(Exception):
    """streaming/errors.js: AuthenticationError (401) and RequestError (400)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def auth_error(message: str) -> StreamingError:
    return StreamingError(401, message)


def request_error(message: str) -> StreamingError:
    return StreamingError(400, message)


def _first(query: dict, name: str) -> str | None:
    v = query.get(name)
    return v[0] if v else None


def is_truthy(value: str | None) -> bool:
    # streaming/utils.js isTruthy: FALSE_VALUES are false, anything else given is true.
    return value is not None and value not in ("", "0", "f", "F", "false", "FALSE", "off", "OFF")


def token_from(headers, query: dict) -> str:
    """streaming/index.js accountFromRequest: `Authorization` (minus a leading "Bearer "), else the
    access_token query parameter, else the whole Sec-WebSocket-Protocol header. Raises 'Missing access token'."""
    authorization = headers.get("Authorization") or ""
    access_token = _first(query, "access_token") or headers.get("Sec-WebSocket-Protocol") or ""
    if not authorization and not access_token:
        raise auth_error("Missing access token")
    if authorization:
        return authorization[7:] if authorization.startswith("Bearer ") else authorization
    return access_token


def channel_name(path: str, query: dict) -> str | None:
    """streaming/index.js channelNameFromPath (exact paths, no trailing slash)."""
    media = is_truthy(_first(query, "only_media"))
    return {
        "/api/v1/streaming/user": "user",
        "/api/v1/streaming/user/notification": "user:notification",
        "/api/v1/streaming/public": "public:media" if media else "public",
        "/api/v1/streaming/public/local": "public:local:media" if media else "public:local",
        "/api/v1/streaming/public/remote": "public:remote:media" if media else "public:remote",
        "/api/v1/streaming/hashtag": "hashtag",
        "/api/v1/streaming/hashtag/local": "hashtag:local",
        "/api/v1/streaming/direct": "direct",
        "/api/v1/streaming/list": "list",
    }.get(path)


def check_scopes(channel: str | None, scopes: list[str]) -> None:
    """streaming/index.js checkScopes."""
    if channel and channel in PUBLIC_CHANNELS:
        return
    required = ["read", "read:notifications" if channel == "user:notification" else "read:statuses"]
    if any(s in scopes for s in required):
        return
    raise auth_error("Access token does not have the required scopes")


def check_params(channel: str, query: dict) -> None:
    """The parameter errors of streaming/index.js channelNameToIds (before any subscription)."""
    if channel in ("hashtag", "hashtag:local") and not _first(query, "tag"):
        raise request_error("Missing tag name parameter")
    if channel == "list" and not _first(query, "list"):
        raise request_error("Missing list name parameter")


def is_upgrade(headers) -> bool:
    # Node's http server emits 'upgrade' (not 'request') for any request with Connection: upgrade + Upgrade.
    conn = [p.strip().lower() for p in headers.get("Connection", "").split(",")]
    return "upgrade" in conn and bool(headers.get("Upgrade"))


# ------------------------------------------------------------------ aiohttp server

def _lookup(cfg: config.Config, token: str) -> dict | None:
    import psycopg
    from . import db
    conn = db.thread_conn(cfg)
    try:
        return db.one(conn, TOKEN_SQL, (token,))
    except psycopg.OperationalError:  # connection dropped (database restarted or swapped by a reset): once more
        db.forget_thread_conn()
        conn = db.thread_conn(cfg)
        return db.one(conn, TOKEN_SQL, (token,))


async def account_from_request(request, query: dict) -> dict:
    token = token_from(request.headers, query)
    cfg = request.app["cfg"]
    row = await asyncio.get_running_loop().run_in_executor(None, _lookup, cfg, token)
    if row is None:
        raise auth_error("Invalid access token")
    return row


def express_headers(request) -> dict:
    # What every Express response of the streaming server carries (f1 "streaming health", f7 "sse open"):
    # X-Powered-By, X-Request-Id (pino-http), Access-Control-Allow-Origin (cors()). Cache-Control is set
    # only by the health route and the event stream (streaming/index.js writeHead in the health handler,
    # setHeader in streamToHttp): error answers carry none (seen on real v4.6.5).
    return {"X-Powered-By": "Express", "X-Request-Id": request["request_id"], "Access-Control-Allow-Origin": "*"}


NO_STORE = {"Cache-Control": "private, no-store"}


def chunked(resp):
    # Node's res.writeHead() stores the head before the body is known, so Express answers are chunked (as the
    # recorded "streaming health" is).
    resp.enable_chunked_encoding()
    return resp


def json_error(request, status: int, message: str):
    # streaming/index.js errorMiddleware: writeHead(status, {'Content-Type': 'application/json'}),
    # body JSON.stringify({ error }).
    from aiohttp import web
    headers = express_headers(request) | {"Content-Type": "application/json"}
    return chunked(web.Response(status=status, body=json.dumps({"error": message}, separators=(",", ":")).encode(),
                                headers=headers))


def upgrade_refusal(request, status: int, message: str):
    """streaming/index.js handleUpgrade: the response written by hand to the socket, then the socket closed.
    Recorded through nginx (f9 "ws bad token"): 401, text/plain, Content-Length 0, X-Request-Id,
    X-Error-Message."""
    from aiohttp import web
    reason = {400: "Bad Request", 401: "Unauthorized", 500: "Internal Server Error",
              501: "Not Implemented"}.get(status)
    resp = web.Response(status=status, reason=reason, headers={
        "Connection": "close", "Content-Type": "text/plain", "Content-Length": "0",
        "X-Request-Id": request["request_id"], "X-Error-Message": message})
    resp.force_close()
    return resp


async def health(request):
    # streaming/index.js: text/plain 'OK' (plus the Express headers, as recorded in f1 "streaming health").
    from aiohttp import web
    return chunked(web.Response(body=b"OK", headers=express_headers(request) | NO_STORE | {"Content-Type": "text/plain"}))


def express_not_found(request):
    # Express's finalhandler for a request no route takes.
    from aiohttp import web
    from html import escape
    body = ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n</head>\n'
            f'<body>\n<pre>Cannot {escape(request.method)} {escape(request.path)}</pre>\n</body>\n</html>\n')
    return web.Response(status=404, body=body.encode(), headers=express_headers(request) | {
        "Content-Security-Policy": "default-src 'none'", "X-Content-Type-Options": "nosniff",
        "Content-Type": "text/html; charset=utf-8"})


async def dispatch(request):
    from aiohttp import web
    request["request_id"] = request.headers.get("X-Request-Id") or str(uuid.uuid4())
    query = parse_qs(urlsplit(str(request.rel_url)).query, keep_blank_values=True)

    if is_upgrade(request.headers):
        # server.on('upgrade'): authenticate before anything else, whatever the path.
        try:
            await account_from_request(request, query)
        except StreamingError as e:
            return upgrade_refusal(request, e.status, e.message)
        except Exception as e:  # noqa: BLE001 - errors.js: anything else is a 500 with a generic message
            print(f"[streaming] upgrade: {e!r}", flush=True)
            return upgrade_refusal(request, 500, UNEXPECTED)
        return upgrade_refusal(request, 501, NOT_YET)

    path = request.path
    if path == "/favicon.ico" and request.method == "GET":
        return web.Response(status=404, headers=express_headers(request))
    if path == "/api/v1/streaming/health" and request.method in ("GET", "HEAD"):
        return await health(request)
    if request.method == "OPTIONS":
        # cors() answers the preflight itself.
        h = express_headers(request) | {"Access-Control-Allow-Methods": "GET,HEAD,PUT,PATCH,POST,DELETE",
                                        "Vary": "Access-Control-Request-Headers", "Content-Length": "0"}
        if request.headers.get("Access-Control-Request-Headers"):
            h["Access-Control-Allow-Headers"] = request.headers["Access-Control-Request-Headers"]
        return web.Response(status=204, headers=h)

    # api.use(authenticationMiddleware): unknown channel first (400), then the token (401), then the scopes.
    channel = channel_name(path, query)
    if not channel:
        return json_error(request, 400, "Unknown channel requested")
    try:
        row = await account_from_request(request, query)
        check_scopes(channel, (row["scopes"] or "").split(" "))
    except StreamingError as e:
        return json_error(request, e.status, e.message)
    except Exception as e:  # noqa: BLE001
        print(f"[streaming] {request.path}: {e!r}", flush=True)
        return json_error(request, 500, UNEXPECTED)
    if request.method not in ("GET", "HEAD"):
        return express_not_found(request)
    try:
        check_params(channel, query)
    except StreamingError as e:
        return json_error(request, e.status, e.message)
    return json_error(request, 501, NOT_YET)  # server-sent events: part 2


def build(cfg: config.Config):
    from aiohttp import web
    app = web.Application()
    app["cfg"] = cfg
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app


def main() -> int:
    from .serve import serve
    cfg = config.load()
    print(config.banner(cfg, "streaming"), flush=True)
    return serve(build(cfg), "streaming", 4000)


if __name__ == "__main__":
    sys.exit(main())
