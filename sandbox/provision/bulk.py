"""The pool (and the `bulk` flow): many accounts with a token each from ONE `bin/rails runner` run.

About 17 s for 50 accounts against some 375 s for 50 `tootctl accounts create` (reference section 13).
The script (scripts/bulk_accounts.rb) and this module share a fixed JSON contract, which the offline
stand-in implements as well.
"""

from __future__ import annotations

import json
import re
import secrets

from .. import server_commands
from ..errors import SandboxError
from .credentials import scope_key
from .oauth import OOB
from .tootctl import Executor

POOL_APP = "sandbox-pool"
BULK_SCOPES = "read write follow push"
OUTPUT_PREFIX = "SANDBOX-JSON "


def pool_usernames(size: int) -> list[str]:
    # `pool_NN`, not `pool-NN`: local usernames allow only [a-z0-9_] (app/models/account.rb).
    width = max(2, len(str(size)))
    return [f"pool_{i:0{width}d}" for i in range(1, size + 1)]


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
    """The `SANDBOX-JSON {...}` line, wherever it is among log lines."""
    for line in reversed((stdout or "").splitlines()):
        if line.startswith(OUTPUT_PREFIX):
            try:
                out = json.loads(line[len(OUTPUT_PREFIX):])
            except ValueError as e:
                raise SandboxError(f"the bulk_accounts script printed a damaged result line ({e})") from None
            if not isinstance(out, dict) or "app" not in out or "accounts" not in out:
                raise SandboxError("the bulk_accounts script's result lacks `app` or `accounts`")
            return out
    raise SandboxError("the bulk_accounts script printed no `SANDBOX-JSON` line")


def failure_line(output: str) -> str:
    """What failed, e.g. `alice: password too_short (RuntimeError)`: Ruby prints it first, after the raising
    location (`FILE:LINE:in `METHOD': `; the backtrace follows, indented with `from`); a Python traceback
    (a stand-in bug) ends with it."""
    lines = [ln.strip() for ln in (output or "").splitlines() if ln.strip()]
    if not lines:
        return "no output"
    if lines[0].startswith("Traceback"):
        return lines[-1]
    return re.sub(r"^.*?:\d+:in [`'][^']*': ", "", lines[0], count=1)


def run_bulk(stack: Executor, spec: dict) -> dict:
    service, argv = server_commands.rails_runner("bulk_accounts")
    proc = stack.exec(service, argv, input=json.dumps(spec))
    if proc.returncode != 0:
        raise SandboxError(f"the bulk_accounts script failed (exit {proc.returncode}): {failure_line(proc.stderr or proc.stdout)}"
                           " — see `mastodon-sandbox logs web`")
    out = parse_output(proc.stdout)
    wanted = [a["username"] for a in spec["accounts"]]
    got = [a.get("username") for a in out["accounts"]]
    if got != wanted:
        raise SandboxError(f"the bulk_accounts script answered for {got}, not {wanted}")
    return out
