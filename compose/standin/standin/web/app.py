"""Routes of the stand-in's web process."""
from __future__ import annotations

from aiohttp import web

from .. import assets
from ..config import Config
from . import api, auth, oauth_api
from .base import CTX, Ctx, error_page, host_and_ssl, sessions


async def health(request: web.Request) -> web.Response:
    # app/controllers/health_controller.rb: plain OK, no DB or Redis check.
    resp = web.Response(text="OK", content_type="text/plain", charset="utf-8")
    resp.headers["Cache-Control"] = "max-age=0, private, must-revalidate"
    resp.headers["Vary"] = "Accept"
    return resp


async def static_file(request: web.Request) -> web.Response:
    # lib/public_file_server_middleware.rb: files under public/ (the thumbnail, icons, missing avatar/header)
    # with its Cache-Control and nosniff; anything else falls through to the 404 page as in Rails.
    body = assets.image(request.path)
    if body is None:
        return error_page(404, request)
    request["static_file"] = True
    resp = web.Response(body=body, content_type="image/png")
    resp.headers["Cache-Control"] = assets.CACHE_CONTROL
    resp.headers["Last-Modified"] = assets.LAST_MODIFIED
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


async def not_found(request: web.Request) -> web.Response:
    # config/routes.rb: match '*unmatched_route' -> application#raise_not_found -> errors/404 HTML page.
    return error_page(404, request)


class RailsRouter(web.UrlDispatcher):
    """Routes as Rails' router does: a trailing slash is ignored (`/api/v1/instance/` is
    `/api/v1/instance`), which clients rely on — Mastodon.py asks for `/api/v1/instance/`."""

    async def resolve(self, request: web.Request):
        path = request.rel_url.path
        if len(path) > 1 and path.endswith("/"):
            request = request.clone(rel_url=request.rel_url.with_path(path.rstrip("/")))
        return await super().resolve(request)


def build(cfg: Config) -> web.Application:
    app = web.Application(middlewares=[host_and_ssl, sessions], client_max_size=16 * 1024 * 1024, router=RailsRouter())
    app[CTX] = Ctx(cfg)
    r = app.router
    r.add_get("/health", health)
    r.add_get("/", auth.home)
    r.add_get("/auth/sign_in", auth.sign_in_page)
    r.add_post("/auth/sign_in", auth.sign_in)
    r.add_route("DELETE", "/auth/sign_out", auth.sign_out)
    r.add_post("/auth/sign_out", auth.sign_out)  # _method=delete (Rack::MethodOverride)
    r.add_route("GET", "/oauth/authorize", auth.authorize)
    r.add_route("POST", "/oauth/authorize", auth.authorize)
    r.add_route("DELETE", "/oauth/authorize", auth.authorize)
    r.add_get("/oauth/authorize/native", auth.native)
    r.add_post("/oauth/token", oauth_api.token)
    r.add_post("/oauth/revoke", oauth_api.revoke)
    r.add_get("/.well-known/oauth-authorization-server", oauth_api.metadata)
    r.add_get("/.well-known/nodeinfo", oauth_api.nodeinfo_index)
    r.add_get("/nodeinfo/2.0", api.nodeinfo)
    r.add_post("/api/v1/apps", api.create_app)
    r.add_get("/api/v1/apps/verify_credentials", api.verify_app)
    r.add_get("/api/v1/accounts/verify_credentials", api.verify_credentials)
    r.add_get("/api/v1/accounts/lookup", api.lookup)
    r.add_get("/api/v1/timelines/home", api.home_timeline)
    r.add_get("/api/v1/instance", api.instance_v1)
    r.add_get("/api/v2/instance", api.instance_v2)
    for path in assets.IMAGES:
        r.add_get(path, static_file)
    r.add_route("*", "/{tail:.*}", not_found)
    return app
