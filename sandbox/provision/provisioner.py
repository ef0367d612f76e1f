"""Putting it together: accounts, apps and checked tokens for one sandbox, reused across runs.

Token flows, named the same everywhere (CLI, API, docs):
  code            OAuth authorization code + PKCE through the real sign-in and authorization pages
  password-grant  only where the server advertises it (grant_types_supported; Mastodon <= 4.3)
  client          client credentials: an app token, no user
  bulk            the bulk_accounts runner script (no HTTP sign-in: for the pool)
Sign-ins are limited to 25 per 5 minutes per IP, so named accounts get `code` tokens and the pool `bulk` ones.
Mastodon reuses a live token for the same app, user and scopes (reuse_access_token), so flows may hand back
the same string, and revoking it revokes it for every holder.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..config import Account as AccountSpec
from ..config import SandboxConfig
from ..errors import SandboxError
from ..handle import Sandbox
from ..state import State
from . import accounts as accounts_mod
from . import bulk
from .apps import DEFAULT_APP, app_for_scopes, app_name_for, app_is_known, ensure_app, supported_scopes
from .credentials import (FLOWS, USER_SCOPES, Account, Application, Credentials, Token, app_owner, scope_key, write_clientcred,
                          write_usercred)
from .http import Http, error_text, raise_if_rate_limited
from .oauth import OOB, client_credentials, code_flow, offers_grant, password_grant
from .tokens import TokenProblem, check_token
from .tootctl import Executor

ADMIN_SCOPES = "admin:read admin:write"
STAFF_ROLES = ("Owner", "Admin")
# A user-token check needs one of these (verify_credentials: doorkeeper_authorize! :read, :'read:accounts', :profile).
CHECKABLE = {"read", "read:accounts", "profile"}


class Provisioner:
    """Accounts, apps and tokens of one sandbox (`sandbox.stack` needs only `exec`: see tootctl.Executor)."""

    def __init__(self, sandbox: Sandbox, progress: Any = None, http: Http | None = None):
        self.config: SandboxConfig = sandbox.config
        self.state: State = sandbox.state
        self.stack: Executor = sandbox.stack
        self.progress = progress
        self.http = http or Http(self.config.base_url, self.state.ca_file)
        self.creds = Credentials.load(self.state)
        if self.creds.base_url != self.config.base_url:
            self.creds.set_base_url(self.config.base_url)
        self._app_checked = False

    def step(self, message: str) -> None:
        if self.progress is not None:
            self.progress.step(message)

    # --- who is who ----------------------------------------------------------------------------

    def named(self, username: str) -> AccountSpec | None:
        return next((a for a in self.config.accounts if a.username == username), None)

    def is_pool(self, username: str) -> bool:
        saved = self.creds.account(username)
        return username in bulk.pool_usernames(self.config.pool_size) or bool(saved and saved.pool)

    def role_of(self, username: str) -> str | None:
        acct = self.named(username) or self.creds.account(username)
        return acct.role if acct else None

    def default_scopes(self, username: str) -> str:
        """read write follow push, plus admin:read admin:write for Owner and Admin (where the server has them)."""
        scopes = USER_SCOPES
        if self.role_of(username) in STAFF_ROLES:
            scopes += " " + ADMIN_SCOPES
        known = set(supported_scopes(self.http))
        return scope_key([s for s in scopes.split() if s in known])

    def require_known(self, username: str) -> None:
        """Tokens only for an account the sandbox knows: saved, one of its named or pool accounts, or on the
        server. Making accounts is `accounts create`'s job, never a side effect of asking for a token."""
        accounts_mod.check_username(username)
        if self.creds.account(username) or self.named(username) or self.is_pool(username):
            return
        # app/controllers/api/v1/accounts/lookup_controller.rb: a local username, or 404.
        r = self.http.get("/api/v1/accounts/lookup", params={"acct": username})
        raise_if_rate_limited(r, f"looking up {username}")
        if r.status_code == 404:
            raise SandboxError(f"the sandbox has no account {username!r}: create it with `mastodon-sandbox accounts create {username}`")
        if r.status_code != 200:
            raise SandboxError(f"looking up {username} answered {r.status_code}: {error_text(r)}")

    def require_role_for(self, username: str, scopes: str) -> None:
        """Admin scopes only for an account with a role: Mastodon grants them to whoever asks, but its admin API
        answers 403 to a user whose role lacks the permission, and a plain user's has none (config/roles.yml;
        a Moderator may use some: manage_users, manage_reports)."""
        admin = [s for s in scopes.split() if s.startswith("admin:")]
        if admin and self.role_of(username) is None:
            staff = next((a.username for a in self.config.accounts if a.role in STAFF_ROLES), "an Owner or Admin")
            raise SandboxError(f"{username} has no role (a plain user), so {' '.join(admin)} would be refused by every admin "
                               f"endpoint: leave the admin scopes out, or ask for a token of {staff}")

    def default_flow(self, username: str) -> str:
        return "bulk" if self.is_pool(username) else "code"

    def choose_flow(self, username: str, flow: str | None) -> str:
        if flow is None:
            return self.default_flow(username)
        if flow not in FLOWS:
            raise SandboxError(f"unknown flow {flow!r}: choose one of {', '.join(FLOWS)}")
        if flow == "password-grant" and not offers_grant(self.http, "password"):
            raise SandboxError("this server does not offer the password grant; use --flow code")
        return flow

    # --- apps ----------------------------------------------------------------------------------

    def default_app(self) -> Application:
        """The sandbox's own app, registered with every scope the server supports, checked once a run.

        A saved one the server still knows is kept even if the server now supports more scopes (an upgrade):
        re-registering would orphan every token minted through it."""
        app = self.creds.app(DEFAULT_APP)
        if app is None or not (self._app_checked or app_is_known(self.http, app)):
            if app is not None:
                self.creds.forget_app(DEFAULT_APP)
            app = ensure_app(self.http, self.creds, DEFAULT_APP, " ".join(supported_scopes(self.http)))
        if not self._app_checked:
            write_clientcred(self.state, self.config.base_url, app)
        self._app_checked = True
        return app

    def app_for(self, scopes: str) -> Application:
        default = self.default_app()
        return default if set(scopes.split()) <= set(default.scopes) else app_for_scopes(self.http, self.creds, scopes)

    # --- accounts ------------------------------------------------------------------------------

    def ensure_account(self, username: str, role: str | None = None, *, reset_password: bool = False) -> Account:
        acct = self.named(username) or AccountSpec(username, role)
        rec = accounts_mod.ensure_account(self.config, self.stack, self.creds, acct, reset_password=reset_password)
        if reset_password:
            self.creds.drop_default(username)
            self.creds.save()
        return rec

    def need_account(self, username: str) -> Account:
        rec = self.creds.account(username)
        if not rec or not rec.password:
            raise SandboxError(
                f"the sandbox has no password for {username}: create it with `mastodon-sandbox accounts create {username}`"
                " (or `--reset-password` if it exists on the server)"
            )
        return rec

    # --- tokens --------------------------------------------------------------------------------

    def check(self, token: str, who: str, scopes: str, *, app_token: bool = False) -> dict:
        """verify_credentials for the token; a token that cannot read its own account is accepted when the
        server's only complaint is the scope (the token itself is then valid and live)."""
        try:
            return check_token(self.http, token, who, app_token=app_token)
        except TokenProblem as e:
            if e.kind == "scope" and not (CHECKABLE & set(scopes.split())):
                return {}
            raise

    def token(self, username: str, flow: str | None = None, scopes: str | None = None, *,
              redirect_uri: str = OOB, reuse: bool = True) -> Token:
        """A checked token for `username` by `flow` with exactly `scopes`: the saved one while it works,
        else a new one. For the client flow the token belongs to the app, not to `username`."""
        flow = self.choose_flow(username, flow)
        self.require_known(username)
        scopes = scope_key(scopes or self.default_scopes(username))
        if flow == "client":
            return self._client_token(scopes, reuse=reuse)
        self.require_role_for(username, scopes)
        saved = self.creds.token(username, flow, scopes)
        if reuse and saved:
            try:
                self._record_id(username, self.check(saved.access_token, username, scopes))
                app = self.creds.app(saved.app)
                if app:  # rewrite the .secret file too: the state folder may have lost it
                    self._maybe_default(username, flow, scopes, saved, app)
                self.creds.save()  # the account id, if it was new
                return saved
            except TokenProblem as e:
                if e.kind not in ("invalid", "revoked"):
                    raise
        if flow == "bulk":
            return self.bulk_tokens([username], scopes)[username]
        acct = self.need_account(username)
        app = self.app_for(scopes)
        self.step(f"minting a {flow} token for {username}")
        if flow == "code":
            got = code_flow(self.http, app, acct.email or "", acct.password or "", scopes, redirect_uri)
        else:
            got = password_grant(self.http, app, acct.email or "", acct.password or "", scopes)
        token_scopes = scope_key(got.get("scope") or scopes)
        self._record_id(username, self.check(got["access_token"], username, token_scopes))
        rec = self.creds.set_token(username, flow, scopes, got["access_token"], app.name, granted=token_scopes)
        self._maybe_default(username, flow, scopes, rec, app)
        self.creds.save()
        return rec

    def _client_token(self, scopes: str, *, reuse: bool) -> Token:
        app = self.app_for(scopes)
        owner = app_owner(app.name)
        saved = self.creds.token(owner, "client", scopes)
        if reuse and saved:
            try:
                self.check(saved.access_token, owner, scopes, app_token=True)
                return saved
            except TokenProblem as e:
                if e.kind not in ("invalid", "revoked"):
                    raise
        got = client_credentials(self.http, app, scopes)
        self.check(got["access_token"], owner, scopes, app_token=True)
        rec = self.creds.set_token(owner, "client", scopes, got["access_token"], app.name)
        self.creds.save()
        return rec

    def _record_id(self, username: str, account: dict) -> None:
        """`account`: what verify_credentials answered (the API's Account entity)."""
        saved = self.creds.account(username)
        if account.get("id") and saved is not None:
            self.creds.set_account(replace(saved, id=str(account["id"])))

    def _maybe_default(self, username: str, flow: str, scopes: str, rec: Token, app: Application) -> None:
        if flow == self.default_flow(username) and scopes == self.default_scopes(username):
            self.creds.set_default(username, flow, scopes)
            write_usercred(self.state, self.config.base_url, username, rec.access_token, app)

    # --- bulk ----------------------------------------------------------------------------------

    def bulk_tokens(self, usernames: list[str], scopes: str = bulk.BULK_SCOPES) -> dict[str, Token]:
        """Run the bulk script once for these accounts; save accounts, app and tokens."""
        scopes = scope_key(scopes)
        app_name = bulk.POOL_APP if scopes == scope_key(bulk.BULK_SCOPES) else app_name_for(scopes, "sandbox-bulk")
        password = self.creds.pool_password
        if not password:
            password = bulk.new_password()
            self.creds.set_pool_password(password)
            self.creds.save()  # before the run: accounts it creates get this password
        specs = []
        for name in usernames:
            accounts_mod.check_username(name)
            saved = self.creds.account(name)
            specs.append({"username": name, "email": (saved and saved.email) or accounts_mod.email_for(self.config, name),
                          "role": saved.role if saved else self.role_of(name)})
        self.step(f"creating {len(specs)} account(s) and tokens with one Rails runner (about 20 s)")
        out = bulk.run_bulk(self.stack, bulk.make_spec(specs, password, self.config.email_domain, app_name, scopes))
        a = out["app"]
        app = self.creds.set_app(Application(a["name"], str(a.get("id", "")), a["client_id"], a["client_secret"],
                                             tuple(scope_key(a["scopes"]).split()), (OOB,), "bulk"))
        write_clientcred(self.state, self.config.base_url, app)
        result: dict[str, Token] = {}
        for item in out["accounts"]:
            name = item["username"]
            known = self.creds.account(name) or Account(name, role=self.role_of(name))
            self.creds.set_account(replace(
                known, email=item.get("email") or known.email, id=str(item.get("id", "")),
                password=password if item.get("created") else known.password,
                pool=self.is_pool(name)))
            token_scopes = scope_key(item.get("scopes") or scopes)
            self.check(item["token"], name, token_scopes)
            rec = self.creds.set_token(name, "bulk", scopes, item["token"], app.name, granted=token_scopes)
            self._maybe_default(name, "bulk", scopes, rec, app)
            result[name] = rec
        self.creds.save()
        return result

    def ensure_pool(self) -> None:
        """The pool's accounts and tokens: saved ones are checked, the script runs only if one is missing."""
        names = bulk.pool_usernames(self.config.pool_size)
        if not names:
            return
        missing = []
        for name in names:
            saved = self.creds.token(name, "bulk", bulk.BULK_SCOPES)
            try:
                if not saved:
                    raise LookupError
                self.check(saved.access_token, name, bulk.BULK_SCOPES)
            except (LookupError, TokenProblem):
                missing.append(name)
        if missing:
            self.bulk_tokens(names)  # one boot for all: the script reuses what exists

    # --- the whole thing -----------------------------------------------------------------------

    def provision(self) -> None:
        self.step("reading the server's OAuth metadata")
        supported_scopes(self.http)
        missing = [a.username for a in self.config.accounts if not accounts_mod.has_password(self.creds, a.username)]
        if missing:
            self.step(f"creating the accounts {', '.join(missing)} with tootctl, in one Rails boot")
        accounts_mod.ensure_accounts(self.config, self.stack, self.creds, list(self.config.accounts))
        self.step("registering the sandbox's app (or reusing it)")
        self.default_app()
        for acct in self.config.accounts:
            self.token(acct.username)
        if self.config.pool_size:
            self.step(f"checking the pool of {self.config.pool_size} accounts")
            self.ensure_pool()
        self.creds.save()
