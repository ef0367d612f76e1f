"""`node ./streaming/index.js` -> the stand-in's streaming server on BIND:PORT (0.0.0.0:4000).

Part 1 answers health only; WebSocket and server-sent events come in part 2 (routes reserved below)."""
from __future__ import annotations

import os
import signal
import sys

from aiohttp import web

from . import config


async def health(request: web.Request) -> web.Response:
    # streaming/index.js: text/plain 'OK', Cache-Control private, no-store; Access-Control-Allow-Origin *.
    resp = web.Response(text="OK", content_type="text/plain")
    resp.headers["Cache-Control"] = "private, no-store"
    resp.headers["Access-Control-Allow-Origin"] = "*"
    return resp


async def not_yet(request: web.Request) -> web.Response:
    resp = web.json_response({"error": "The mastodon-sandbox stand-in does not implement streaming yet"},
                             status=501)
    return resp


async def not_found(request: web.Request) -> web.Response:
    # streaming/index.js answers unknown routes with a JSON 404
    return web.json_response({"error": "Not found"}, status=404)


def build(cfg: config.Config) -> web.Application:
    app = web.Application()
    r = app.router
    r.add_get("/api/v1/streaming/health", health)
    r.add_get("/api/v1/streaming", not_yet)          # WebSocket upgrade (part 2)
    r.add_get("/api/v1/streaming/{stream:.+}", not_yet)  # server-sent events (part 2)
    r.add_route("*", "/{tail:.*}", not_found)
    return app


def main() -> int:
    cfg = config.load()
    print(config.banner(cfg, "streaming"), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    web.run_app(build(cfg), host=os.environ.get("BIND", "0.0.0.0"), port=int(os.environ.get("PORT", "4000")),
                print=lambda s: print(f"[streaming] {s}", flush=True), handle_signals=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
