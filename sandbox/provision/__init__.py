"""The provisioning layer: after `up`, an admin, named test accounts, a pool, registered apps and working
tokens, all saved in the state folder (credentials.json and Mastodon.py .secret files) and reused.

Entry points for the rest of the project:
  provision(sandbox, progress=None)                 called by `up` once the server is app-ready; idempotent
  env_exports(state)                                variables for `mastodon-sandbox env`
  cli.add_commands(subparsers)                      `accounts list|create`, `token USER`
"""

from __future__ import annotations

from typing import Any

from ..handle import Sandbox
from ..state import State
from .credentials import Credentials, clientcred_path
from .provisioner import Provisioner

__all__ = ["provision", "env_exports", "Provisioner"]


def provision(sandbox: Sandbox, progress: Any = None) -> None:
    """Accounts (tootctl), the sandbox's app, a checked token per named account (code flow) and the pool
    (one runner). Re-running reuses everything saved and resets nothing."""
    Provisioner(sandbox, progress).provision()


def env_exports(state: State) -> dict[str, str]:
    """MASTODON_* variables from the saved credentials (no network): the API base URL, the default app's
    client id and secret, alice's (or the first non-staff account's) token as MASTODON_ACCESS_TOKEN, the
    Owner's as MASTODON_ADMIN_ACCESS_TOKEN, and MASTODON_ACCESS_TOKEN_<USER> for each named account."""
    creds = Credentials.load(state)
    out: dict[str, str] = {}
    config = state.load_config() if state.exists() else None
    base = creds.base_url or (config.base_url if config else None)
    if base:
        out["MASTODON_API_BASE_URL"] = base
    app = creds.app("mastodon-sandbox")
    if app:
        out["MASTODON_CLIENT_ID"] = app.client_id
        out["MASTODON_CLIENT_SECRET"] = app.client_secret
        out["MASTODON_CLIENT_SECRET_FILE"] = str(clientcred_path(state, app.name))
    saved = creds.accounts
    named = [a.username for a in config.accounts] if config else sorted(n for n, a in saved.items() if not a.pool)
    tokens = {name: tok.access_token for name in named if (tok := creds.default_token(name))}
    for name, token in tokens.items():
        out[f"MASTODON_ACCESS_TOKEN_{name.upper()}"] = token
    roles = {a.username: a.role for a in config.accounts} if config else {n: a.role for n, a in saved.items()}
    user = "alice" if "alice" in named else next((n for n in named if not roles.get(n)), None)
    admin = next((n for n in named if roles.get(n) == "Owner"), None) or next(
        (n for n in named if roles.get(n) == "Admin"), None)
    if user in tokens:
        out["MASTODON_ACCESS_TOKEN"] = tokens[user]
    if admin in tokens:
        out["MASTODON_ADMIN_ACCESS_TOKEN"] = tokens[admin]
    return out
