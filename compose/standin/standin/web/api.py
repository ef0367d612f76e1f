"""REST API handlers: apps, accounts, instance (app/controllers/api/v1/*, api/v2/instances_controller.rb)."""
from __future__ import annotations

import json

from aiohttp import web

from .. import oauth, serializers
from ..accounts import reason_required, registrations_mode
from ..config import DISCLAIMER
from .base import api_handler, authorize_if_got_token, ctx, json_response, params, require_user




# ---------------------------------------------------------------- apps (api/v1/apps_controller.rb)

def _validate_app(name: str, redirect_uri: str, scopes: list[str], website: str | None) -> list[str]:
    """The validations of Doorkeeper::Application (Doorkeeper 5.9.2 orm/active_record/mixins/application.rb,
    in its order: name, redirect URIs, scopes), then Mastodon's (app/lib/application_extension.rb: lengths,
    website), with the attribute names of config/locales/doorkeeper.en.yml."""
    errs = []
    if not name.strip():
        errs.append("Application name can't be blank")
    if not redirect_uri.strip():
        errs.append("Redirect URI can't be blank")
    else:
        errs += [f"Redirect URI {e}" for e in oauth.redirect_uri_errors(redirect_uri)]
    if scopes and not oauth.scopes_known(scopes):
        errs.append("Scopes doesn't match those configured on the server.")
    if len(name) > 60:
        errs.append("Application name is too long (maximum is 60 characters)")
    if len(redirect_uri) > 2000:
        errs.append("Redirect URI is too long (maximum is 2000 characters)")
    if website:
        if not oauth.http_url(website):
            errs.append("Application website is not a valid URL")  # URLValidator (app/validators/url_validator.rb)
        if len(website) > 2000:
            errs.append("Application website is too long (maximum is 2000 characters)")
    return errs


@api_handler(throttle_apps=True)
async def create_app(request: web.Request) -> web.Response:
    p = await params(request)
    c = ctx(request)
    uris = p.get("redirect_uris")
    if isinstance(uris, list):
        redirect_uri = "\n".join(str(u) for u in uris)
    else:
        redirect_uri = str(uris or "")
    name = str(p.get("client_name") or "")
    # app_scopes_or_default: `params[:scopes] || default_scopes`, so an empty string stays empty
    scopes_str = str(p["scopes"]) if p.get("scopes") is not None else "read"
    scopes = oauth.split_scopes(scopes_str)
    website = p.get("website") or None
    errs = _validate_app(name, redirect_uri, scopes, website)
    if errs:
        return json_response({"error": "Validation failed: " + ", ".join(errs)}, 422)
    app = await c.db(oauth.create_app, name, redirect_uri, " ".join(scopes), website)
    return json_response(serializers.app_json(c.cfg, app, credentials=True))


@api_handler()
async def verify_app(request: web.Request) -> web.Response:
    from .base import doorkeeper_error
    auth = request["api_auth"]
    if auth.state != "ok":
        return doorkeeper_error(auth)
    c = ctx(request)
    app = await c.db(lambda conn, i: conn.execute("SELECT * FROM oauth_applications WHERE id = %s", (i,)).fetchone(),
                     auth.token["application_id"])
    return json_response(serializers.app_json(c.cfg, app, credentials=False))


# ---------------------------------------------------------------- accounts

def _account_and_role(conn, account_id: int):
    a = conn.execute("SELECT * FROM accounts WHERE id = %s", (account_id,)).fetchone()
    role = conn.execute("SELECT r.* FROM users u JOIN user_roles r ON r.id = u.role_id WHERE u.account_id = %s",
                        (account_id,)).fetchone()
    return a, role


@api_handler()
async def verify_credentials(request: web.Request) -> web.Response:
    # api/v1/accounts/credentials_controller.rb: doorkeeper_authorize! :profile, :read, :'read:accounts'
    tok, err = await require_user(request, ("profile", "read", "read:accounts"))
    if err is not None:
        return err
    c = ctx(request)
    a, role = await c.db(_account_and_role, tok["account_id"])
    return json_response(serializers.credential_account_json(c.cfg, a, role))


@api_handler(cache="max-age=15, public, stale-while-revalidate=30, stale-if-error=86400")
async def lookup(request: web.Request) -> web.Response:
    c = ctx(request)
    # app/controllers/api/v1/accounts/lookup_controller.rb: authorize_if_got_token! :read, :'read:accounts'
    refused = authorize_if_got_token(request, ("read", "read:accounts"))
    if refused is not None:
        refused.headers["Cache-Control"] = "private, no-store"  # cache_if_unauthenticated! runs in #show only
        return refused
    acct = request.query.get("acct", "").lstrip("@")
    username, _, domain = acct.partition("@")
    local = not domain or domain.lower() in (c.cfg.local_domain.lower(), c.cfg.host_only.lower())

    def find(conn):
        if not local:
            return None, None
        # ResolveAccountService -> Account.find_local: suspended (deleted) local accounts are found too
        row = conn.execute("SELECT id FROM accounts WHERE lower(username) = lower(%s) AND domain IS NULL",
                           (username,)).fetchone()
        return _account_and_role(conn, row["id"]) if row else (None, None)
    a, role = await c.db(find)
    if a is None:
        resp = json_response({"error": "Record not found"}, 404)
        resp.headers["Cache-Control"] = "private, no-store"
        return resp
    return json_response(serializers.account_json(c.cfg, a, role))


# ---------------------------------------------------------------- instance

def _instance_facts(conn):
    """The registration mode and InstancePresenter#user_count: confirmed users of accounts not suspended."""
    users = conn.execute("SELECT count(*) AS n FROM users u JOIN accounts a ON a.id = u.account_id "
                         "WHERE u.confirmed_at IS NOT NULL AND a.suspended_at IS NULL").fetchone()["n"]
    return registrations_mode(conn), users


# Rails.cache is Redis under the `cache:` namespace, entries living 10 minutes unless told
# (lib/mastodon/redis_configuration.rb); `tootctl cache clear` empties it.
CACHE_DEFAULT_TTL = 600


async def cached_user_count(c, users_now: int) -> int:
    """InstancePresenter#user_count: Rails.cache.fetch('user_count'), so a new account shows after 10 minutes."""
    key = "cache:user_count"
    got = await c.redis.get(key)
    if got is not None:
        return int(got)
    await c.redis.set(key, users_now, ex=CACHE_DEFAULT_TTL)
    return users_now


async def render_with_cache(c, key: str, build) -> str:
    """CacheConcern#render_with_cache: the rendered body is kept 3 minutes under the controller and action,
    so a changed setting (the registration mode) shows in the instance bodies only after that."""
    body = await c.redis.get(f"cache:{key}")
    if body is not None:
        return body.decode() if isinstance(body, bytes) else body
    body = await build()
    await c.redis.set(f"cache:{key}", body, ex=180)
    return body


def json_text_response(body: str) -> web.Response:
    return web.Response(text=body, content_type="application/json", charset="utf-8")


INSTANCE_CACHE = "max-age=300, public, stale-while-revalidate=30, stale-if-error=86400"


@api_handler(cache=INSTANCE_CACHE, vary="Accept, Origin")
async def instance_v2(request: web.Request) -> web.Response:
    c = ctx(request)

    async def build() -> str:
        mode, _ = await c.db(_instance_facts)
        body = serializers.instance_v2(c.cfg, mode, 0, await c.db(reason_required))
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return json_text_response(await render_with_cache(c, "api/v2/instances/show", build))


@api_handler(cache=INSTANCE_CACHE, vary="Accept, Origin")
async def instance_v1(request: web.Request) -> web.Response:
    c = ctx(request)

    async def build() -> str:
        mode, users = await c.db(_instance_facts)
        body = serializers.instance_v1(c.cfg, mode, await cached_user_count(c, users))
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    resp = json_text_response(await render_with_cache(c, "api/v1/instances/show", build))
    resp.headers["Deprecation"] = "@1668384000"  # api/v1/instances_controller.rb: deprecate_api '2022-11-14'
    return resp


async def nodeinfo(request: web.Request) -> web.Response:
    """GET /nodeinfo/2.0: NodeInfo::Serializer (app/serializers/node_info/serializer.rb) with its adapter's
    camelCase keys; WellKnown::NodeInfoController#show caches it 30 minutes, publicly."""
    c = ctx(request)
    mode, users = await c.db(_instance_facts)
    users = await cached_user_count(c, users)
    body = {"version": "2.0", "software": {"name": "mastodon", "version": c.cfg.version}, "protocols": ["activitypub"],
            "services": {"outbound": [], "inbound": []},
            "usage": {"users": {"total": users, "activeMonth": 0, "activeHalfyear": 0}, "localPosts": 0},
            "openRegistrations": mode != "none", "metadata": {"nodeName": "Mastodon", "nodeDescription": DISCLAIMER}}
    return json_response(body, 200, {"Cache-Control": "max-age=1800, public", "Vary": "Accept, Origin"})


@api_handler()
async def home_timeline(request: web.Request) -> web.Response:
    # api/v1/timelines/home_controller.rb: doorkeeper_authorize! :read, :'read:statuses'; require_user!.
    # Statuses are part 2: a functional user gets an empty page.
    tok, err = await require_user(request, ("read", "read:statuses"))
    if err is not None:
        return err
    return json_response([])
