"""The pool (and the `bulk` flow): many accounts with a token each from ONE `bin/rails runner` run.

About 17 s for 50 accounts against some 375 s for 50 `tootctl accounts create` (reference section 13).
The script (scripts/bulk_accounts.rb) and this module share a fixed JSON contract, which the offline
stand-in implements as well.
"""

from __future__ import annotations

import json
import secrets

from .. import server_commands
from ..errors import SandboxError, command_failed
from .credentials import USER_SCOPES, scope_key
from .oauth import OOB
from .tootctl import Executor

POOL_APP = "sandbox-pool"
BULK_SCOPES = USER_SCOPES  # what pool and seed accounts' tokens carry


def pool_username(number: int) -> str:
    """The name of the pool's account `number` (from 1), whether `up` made it or a lease refill: pool_01 … pool_99,
    pool_100 …. `pool_NN`, not `pool-NN`: local usernames allow only [a-z0-9_] (app/models/account.rb)."""
    return f"pool_{number:02d}"


def pool_usernames(size: int) -> list[str]:
    """The pool `up` makes: its first `size` accounts."""
    return [pool_username(i) for i in range(1, size + 1)]


def new_password() -> str:
    return secrets.token_hex(16)  # 32 hex, like tootctl's SecureRandom.hex


def make_spec(accounts: list[dict], password: str, email_domain: str, app_name: str = POOL_APP,
              scopes: str = BULK_SCOPES) -> dict:
    """The script's input: accounts are {"username", "email", "role"}."""
    return {
        "app": {"name": app_name, "scopes": scope_key(scopes), "redirect_uri": OOB},
        "password": password,
        "email_domain": email_domain,
        "accounts": [{"username": a["username"], "email": a["email"], "role": a.get("role")} for a in accounts],
    }


def parse_output(stdout: str) -> dict:
    """The script's answer, wherever its result line is among log lines."""
    out = server_commands.runner_result("bulk_accounts", stdout)
    if out is None:
        raise SandboxError(f"the bulk_accounts script printed no `{server_commands.RESULT_PREFIX.strip()}` line")
    if not isinstance(out, dict) or "app" not in out or "accounts" not in out:
        raise SandboxError("the bulk_accounts script's result lacks `app` or `accounts`")
    return out


def run_bulk(stack: Executor, spec: dict) -> dict:
    service, argv = server_commands.rails_runner("bulk_accounts")
    proc = stack.exec(service, argv, input=json.dumps(spec))
    if proc.returncode != 0:
        raise command_failed(f"the bulk_accounts script failed (exit {proc.returncode})", proc.returncode, proc.stdout,
                             proc.stderr, ruby=True, hint="see `mastodon-sandbox logs web`")
    out = parse_output(proc.stdout)
    wanted = [a["username"] for a in spec["accounts"]]
    got = [a.get("username") for a in out["accounts"]]
    if got != wanted:
        raise SandboxError(f"the bulk_accounts script answered for {got}, not {wanted}")
    return out
