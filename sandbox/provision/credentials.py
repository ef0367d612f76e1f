"""credentials.json (accounts, apps, tokens) and the Mastodon.py `.secret` files, all 0600.

Layout of credentials.json:
  {"base_url": "https://localhost",
   "accounts": {"alice": {"username", "email", "password", "id", "role"}},
   "apps": {"<name>": {"name", "id", "client_id", "client_secret", "scopes": [...], "redirect_uris": [...]}},
   "tokens": {"<username or app:NAME>": {"<flow>": {"<scopes>": {"access_token", "scopes": [...], "app",
                                                                  "flow", "created_at"}}}}}
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
from pathlib import Path
from typing import Any

from ..state import State, write_private

FLOWS = ("code", "password-grant", "client", "bulk")
# What a user token carries unless asked otherwise: every user scope of Mastodon (config/initializers/doorkeeper.rb).
USER_SCOPES = "read write follow push"


def scope_key(scopes: str | list[str] | tuple[str, ...]) -> str:
    """Scopes as Mastodon writes them: space-separated, in the given order, no repeats."""
    items = scopes.split() if isinstance(scopes, str) else list(scopes)
    return " ".join(dict.fromkeys(items))


def app_owner(app_name: str) -> str:
    return f"app:{app_name}"


class Credentials:
    """The sandbox's saved accounts, apps and tokens; `save()` writes them back (0600)."""

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

    # accounts
    @property
    def accounts(self) -> dict[str, dict]:
        return self.data["accounts"]

    def account(self, username: str) -> dict | None:
        return self.accounts.get(username)

    def set_account(self, username: str, **fields: Any) -> dict:
        """Set some fields of an account (field by field, so concurrent writers of other fields keep theirs)."""
        self.put(("accounts", username, "username"), username)
        for k, v in fields.items():
            if v is not None or k == "role":
                self.put(("accounts", username, k), v)
        return self.accounts[username]

    # apps
    @property
    def apps(self) -> dict[str, dict]:
        return self.data["apps"]

    def app(self, name: str) -> dict | None:
        return self.apps.get(name)

    def set_app(self, record: dict) -> dict:
        return self.put(("apps", record["name"]), record)

    # tokens
    def token(self, owner: str, flow: str, scopes: str | list[str]) -> dict | None:
        return self.data["tokens"].get(owner, {}).get(flow, {}).get(scope_key(scopes))

    def set_token(self, owner: str, flow: str, scopes: str | list[str], access_token: str, app: str) -> dict:
        key = scope_key(scopes)
        rec = {"access_token": access_token, "scopes": key.split(), "app": app, "flow": flow,
               "created_at": int(time.time())}
        return self.put(("tokens", owner, flow, key), rec)

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

    def tokens_of(self, owner: str) -> list[dict]:
        return [rec for by_scope in self.data["tokens"].get(owner, {}).values() for rec in by_scope.values()]


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


def write_clientcred(state: State, base_url: str, app: dict) -> Path:
    """Mastodon.create_app(to_file=...)'s format: id, secret, base URL, client name."""
    path = clientcred_path(state, app["name"])
    write_private(path, f"{app['client_id']}\n{app['client_secret']}\n{base_url}\n{app['name']}\n")
    return path


def write_usercred(state: State, base_url: str, name: str, access_token: str, app: dict) -> Path:
    """Mastodon.log_in(to_file=...)'s format (persistable_login_credentials): token, base URL, id, secret."""
    path = usercred_path(state, name)
    write_private(path, f"{access_token}\n{base_url}\n{app['client_id']}\n{app['client_secret']}\n")
    return path
