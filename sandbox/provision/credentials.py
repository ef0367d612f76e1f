"""credentials.json (accounts, apps, tokens) and the Mastodon.py `.secret` files, all 0600.

Layout of credentials.json (each record is a dataclass below, named and shaped as Mastodon's API names it):
  {"base_url": "https://localhost", "pool_password": "...",
   "accounts": {"alice": Account},
   "apps": {"<name>": Application},
   "tokens": {"<username or app:NAME>": {"<flow>": {"<scopes asked for>": Token}}},
   "defaults": {"alice": {"flow", "scopes"}}}      which token `env` exports and the `.secret` file holds
Client-credential tokens belong to an app, not an account: their owner key is `app:<app name>`.

The `.secret` files are in Mastodon.py's own formats (mastodon/authentication.py, 2.x):
  `<app>_clientcred.secret`  client_id, client_secret, api_base_url, client_name   (Mastodon.create_app(to_file=))
  `<user>_usercred.secret`   access_token, api_base_url, client_id, client_secret (Mastodon.log_in(to_file=))
so `Mastodon(client_id=path)` and `Mastodon(access_token=path)` work as its docs show.
"""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ..state import State, write_private

FLOWS = ("code", "password-grant", "client", "bulk")
# What a user token carries unless asked otherwise: every user scope of Mastodon (config/initializers/doorkeeper.rb).
USER_SCOPES = "read write follow push"
R = TypeVar("R", "Account", "Application")


def scope_key(scopes: str | list[str] | tuple[str, ...]) -> str:
    """Scopes as Mastodon writes them: space-separated, in the given order, no repeats."""
    items = scopes.split() if isinstance(scopes, str) else list(scopes)
    return " ".join(dict.fromkeys(items))


def app_owner(app_name: str) -> str:
    return f"app:{app_name}"


@dataclass(frozen=True)
class Account:
    """A saved account: the API's `username` and `id`, the admin API's `email` and `role` (a role name, None for
    a plain user), the password the sandbox signs in with, and whether it is a pool or seed account."""

    username: str
    id: str | None = None
    email: str | None = None
    password: str | None = field(default=None, repr=False)  # no secret in a repr: pytest prints arguments
    role: str | None = None
    pool: bool = False
    seed: bool = False

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Account":
        return cls(data["username"], data.get("id"), data.get("email"), data.get("password"), data.get("role"),
                   bool(data.get("pool")), bool(data.get("seed")))

    def to_json(self) -> dict[str, Any]:
        """As the file holds it: fields not known left out (writing a record never blanks what another writer
        saved), `role` always (null: a plain user), the pool and seed marks only when set."""
        out: dict[str, Any] = {"username": self.username, "role": self.role}
        out.update((k, v) for k, v in (("id", self.id), ("email", self.email), ("password", self.password)) if v is not None)
        out.update((k, True) for k in ("pool", "seed") if getattr(self, k))
        return out


@dataclass(frozen=True)
class Application:
    """A registered OAuth app, as POST /api/v1/apps answers it (CredentialApplication), and how the sandbox
    registered it: `source` is `api` (that endpoint) or `bulk` (the bulk runner script)."""

    name: str
    id: str
    client_id: str
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...]
    redirect_uris: tuple[str, ...]
    source: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Application":
        return cls(data["name"], data.get("id", ""), data["client_id"], data["client_secret"], tuple(data.get("scopes", ())),
                   tuple(data.get("redirect_uris", ())), data.get("source", ""))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "id": self.id, "client_id": self.client_id, "client_secret": self.client_secret,
                "scopes": list(self.scopes), "redirect_uris": list(self.redirect_uris), "source": self.source}


@dataclass(frozen=True)
class Token:
    """A saved access token: the API's `access_token` and `created_at`, the `scopes` the server granted, the
    flow that minted it and the name of the app it was minted through."""

    access_token: str = field(repr=False)
    scopes: tuple[str, ...]
    app: str
    flow: str
    created_at: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Token":
        return cls(data["access_token"], tuple(data.get("scopes", ())), data.get("app", ""), data.get("flow", ""),
                   data.get("created_at", 0))

    def to_json(self) -> dict[str, Any]:
        return {"access_token": self.access_token, "scopes": list(self.scopes), "app": self.app, "flow": self.flow,
                "created_at": self.created_at}


class Credentials:
    """The sandbox's saved accounts, apps and tokens; `save()` writes them back (0600).

    `data` is the file's JSON; the records go in and out as the dataclasses above."""

    def __init__(self, state: State, data: dict[str, Any] | None = None):
        self.state = state
        self.data: dict[str, Any] = data if data is not None else {}
        for key in ("accounts", "apps", "tokens", "defaults"):
            self.data.setdefault(key, {})
        # What this writer changed (paths into data), applied to the file's current content on save:
        # several processes (test workers, `up`) may save; none may undo another's work.
        self._changed: set[tuple[str, ...]] = set()
        self._dropped: set[tuple[str, ...]] = set()

    @classmethod
    def load(cls, state: State) -> "Credentials":
        return cls(state, state.read_json(state.credentials_file, default={}) or {})

    def put(self, path: tuple[str, ...], value: Any) -> Any:
        """Set data[path...] = value and remember to save it."""
        unchanged = _get(self.data, path) == value
        tree = self.data
        for p in path[:-1]:
            tree = tree.setdefault(p, {})
        tree[path[-1]] = value
        if not unchanged:
            self._changed.add(path)
        self._dropped.discard(path)
        return value

    def drop(self, path: tuple[str, ...]) -> None:
        _remove(self.data, path)
        self._dropped.add(path)
        self._changed = {c for c in self._changed if c[:len(path)] != path}

    @contextmanager
    def _locked(self):
        lock = self.state.dir / ".credentials.lock"
        lock.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)  # private like every file of the state folder
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def save(self) -> None:
        """Apply this writer's changes to the file as it is now (under a lock), then reload from it."""
        if not (self._changed or self._dropped) and self.state.credentials_file.exists():
            return
        with self._locked():
            disk = self.state.read_json(self.state.credentials_file, default={}) or {}
            for path in self._dropped:
                _remove(disk, path)
            for path in sorted(self._changed, key=len):
                value = _get(self.data, path)
                if value is not _MISSING:
                    tree = disk
                    for p in path[:-1]:
                        tree = tree.setdefault(p, {})
                    tree[path[-1]] = value
            self.state.write_json(self.state.credentials_file, disk)
        self._changed.clear()
        self._dropped.clear()
        fresh = Credentials(self.state, disk)
        self.data = fresh.data

    def _records(self, section: str, kind: type[R]) -> dict[str, R]:
        return {name: kind.from_json(rec) for name, rec in self.data[section].items()}

    def _record(self, section: str, name: str, kind: type[R]) -> R | None:
        rec = self.data[section].get(name)
        return kind.from_json(rec) if rec else None

    # the server and the pool
    @property
    def base_url(self) -> str | None:
        return self.data.get("base_url")

    def set_base_url(self, url: str) -> None:
        self.put(("base_url",), url)

    @property
    def pool_password(self) -> str | None:
        """The password of every account the bulk runner creates."""
        return self.data.get("pool_password")

    def set_pool_password(self, password: str) -> None:
        self.put(("pool_password",), password)

    # accounts
    @property
    def accounts(self) -> dict[str, Account]:
        return self._records("accounts", Account)

    def account(self, username: str) -> Account | None:
        return self._record("accounts", username, Account)

    def set_account(self, account: Account) -> Account:
        """Save an account field by field, so concurrent writers of its other fields keep theirs."""
        for key, value in account.to_json().items():
            self.put(("accounts", account.username, key), value)
        return account

    # apps
    @property
    def apps(self) -> dict[str, Application]:
        return self._records("apps", Application)

    def app(self, name: str) -> Application | None:
        return self._record("apps", name, Application)

    def set_app(self, app: Application) -> Application:
        self.put(("apps", app.name), app.to_json())
        return app

    def forget_app(self, name: str) -> None:
        """Forget an app the server no longer knows, and every token minted through it."""
        self.drop_tokens_of_app(name)
        self.drop(("apps", name))

    # tokens
    def token(self, owner: str, flow: str, scopes: str | list[str] | tuple[str, ...]) -> Token | None:
        """The token saved for `owner` by `flow` under the scopes asked for."""
        rec = self.data["tokens"].get(owner, {}).get(flow, {}).get(scope_key(scopes))
        return Token.from_json(rec) if rec else None

    def set_token(self, owner: str, flow: str, scopes: str | list[str], access_token: str, app: str,
                  granted: str | None = None) -> Token:
        """Save a token under the scopes asked for; `granted` is what the server granted, when it said."""
        key = scope_key(scopes)
        token = Token(access_token, tuple(scope_key(granted or key).split()), app, flow, int(time.time()))
        self.put(("tokens", owner, flow, key), token.to_json())
        return token

    def drop_tokens(self, owner: str) -> None:
        """Forget an owner's tokens (after a password reset revoked them on the server)."""
        self.drop(("tokens", owner))

    def drop_tokens_of_app(self, app_name: str) -> None:
        """Forget every token minted through an app (the server no longer knows the app)."""
        for owner, flows in list(self.data["tokens"].items()):
            for flow, by_scope in list(flows.items()):
                for key, rec in list(by_scope.items()):
                    if rec.get("app") == app_name:
                        self.drop(("tokens", owner, flow, key))

    def tokens_of(self, owner: str) -> list[Token]:
        return [Token.from_json(rec) for by_scope in self.data["tokens"].get(owner, {}).values() for rec in by_scope.values()]

    # which token `env` exports and the `.secret` file holds
    def default_token(self, username: str) -> Token | None:
        chosen = self.data["defaults"].get(username)
        return self.token(username, chosen["flow"], chosen["scopes"]) if chosen else None

    def set_default(self, username: str, flow: str, scopes: str) -> None:
        self.put(("defaults", username), {"flow": flow, "scopes": scopes})

    def drop_default(self, username: str) -> None:
        self.drop(("defaults", username))


_MISSING = object()


def _get(tree: Any, path: tuple[str, ...]) -> Any:
    for p in path:
        if not isinstance(tree, dict) or p not in tree:
            return _MISSING
        tree = tree[p]
    return tree


def _remove(tree: dict, path: tuple[str, ...]) -> None:
    *parents, last = path
    for p in parents:
        tree = tree.get(p, {})
        if not isinstance(tree, dict):
            return
    tree.pop(last, None)


def _secret_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def clientcred_path(state: State, app_name: str) -> Path:
    return state.secrets_dir / f"{_secret_name(app_name)}_clientcred.secret"


def usercred_path(state: State, username: str) -> Path:
    return state.secrets_dir / f"{_secret_name(username)}_usercred.secret"


def write_clientcred(state: State, base_url: str, app: Application) -> Path:
    """Mastodon.create_app(to_file=...)'s format: id, secret, base URL, client name."""
    path = clientcred_path(state, app.name)
    write_private(path, f"{app.client_id}\n{app.client_secret}\n{base_url}\n{app.name}\n")
    return path


def write_usercred(state: State, base_url: str, name: str, access_token: str, app: Application) -> Path:
    """Mastodon.log_in(to_file=...)'s format (persistable_login_credentials): token, base URL, id, secret."""
    path = usercred_path(state, name)
    write_private(path, f"{access_token}\n{base_url}\n{app.client_id}\n{app.client_secret}\n")
    return path
