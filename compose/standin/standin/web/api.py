"""REST API handlers: apps, accounts, instance (app/controllers/api/v1/*, api/v2/instances_controller.rb)."""
from __future__ import annotations

import json

from aiohttp import web

from .. import oauth, serializers
from ..accounts import registrations_mode
from ..config import DISCLAIMER
from .base import api_handler, authorize_if_got_token, ctx, json_response, require_user


async def params(request: web.Request) -> dict:
    """Rails params: query string merged with a form or JSON body."""
    out: dict = dict(request.query)
    if request.can_read_body:
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


# ---------------------------------------------------------------- apps (api/v1/apps_controller.rb)

def _validate_app(name: str, redirect_uri: str, scopes: list[str], website: str | None) -> list[str]:
    """Doorkeeper::Application validations plus Mastodon's (app/lib/application_extension.rb)."""
    errs = []
    if not name:
        errs.append("Name can't be blank")
    elif len(name) > 60:
        errs.append("Name is too long (maximum is 60 characters)")
    if not redirect_uri:
        errs.append("Redirect URI can't be blank")
    else:
        if len(redirect_uri) > 2000:
            errs.append("Redirect URI is too long (maximum is 2000 characters)")
        for uri in redirect_uri.split("\n"):
            if not oauth.valid_redirect_uri(uri):
                errs.append("Redirect URI must be an absolute URI.")
                break
    if website and len(website) > 2000:
        errs.append("Website is too long (maximum is 2000 characters)")
    if not oauth.scopes_known(scopes) or not scopes:
        errs.append("Scopes doesn't match those configured on the server.")
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
    name = str(p.get("client_name") or "").strip()
    scopes_str = str(p.get("scopes") or "read")
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


INSTANCE_CACHE = "max-age=300, public, stale-while-revalidate=30, stale-if-error=86400"


@api_handler(cache=INSTANCE_CACHE, vary="Accept, Origin")
async def instance_v2(request: web.Request) -> web.Response:
    c = ctx(request)
    mode, _ = await c.db(_instance_facts)
    return json_response(serializers.instance_v2(c.cfg, mode, 0))


@api_handler(cache=INSTANCE_CACHE, vary="Accept, Origin")
async def instance_v1(request: web.Request) -> web.Response:
    c = ctx(request)
    mode, users = await c.db(_instance_facts)
    resp = json_response(serializers.instance_v1(c.cfg, mode, users))
    resp.headers["Deprecation"] = "@1668384000"  # api/v1/instances_controller.rb: deprecate_api '2022-11-14'
    return resp


async def nodeinfo(request: web.Request) -> web.Response:
    """GET /nodeinfo/2.0: NodeInfo::Serializer (app/serializers/node_info/serializer.rb) with its adapter's
    camelCase keys; WellKnown::NodeInfoController#show caches it 30 minutes, publicly."""
    c = ctx(request)
    mode, users = await c.db(_instance_facts)
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
