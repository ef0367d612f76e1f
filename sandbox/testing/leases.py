"""Isolated accounts for tests, leased from the sandbox's pool under a lock held on the host (not in the
sandbox's Redis, which a reset would wipe): no two tests, in any process or xdist worker, ever get the
same account, and a used account is retired, never handed out again. An empty pool is refilled in bulk
(one Rails runner for many accounts); the ledger lives in the state folder and goes back with a snapshot."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace

from ..errors import SandboxError
from ..handle import Sandbox
from ..provision.bulk import BULK_SCOPES, pool_username  # what the pool's tokens carry; the pool's names
from ..provision.credentials import Credentials
from .settings import DEFAULT_REFILL


@dataclass(frozen=True)
class Lease:
    username: str
    id: str
    email: str
    # Kept out of its repr: pytest prints a failing test's arguments, and secrets never reach test output.
    token: str = field(repr=False)
    password: str | None = field(repr=False)


def _ledger(sandbox: Sandbox) -> dict:
    path = sandbox.state.leases_file
    return json.loads(path.read_text()) if path.exists() else {"retired": {}}


def holder_of(sandbox: Sandbox, username: str) -> str | None:
    """The test (its node id) an account was leased to, or None when it never was."""
    return (_ledger(sandbox)["retired"].get(username) or {}).get("holder")


def _unretired(creds: Credentials, ledger: dict) -> list[str]:
    """The pool's accounts with a token that no test has had."""
    return sorted(name for name, acct in creds.accounts.items()
                  if acct.pool and name not in ledger["retired"] and creds.token(name, "bulk", BULK_SCOPES))


def fresh_names(taken: set[str], count: int) -> list[str]:
    """The first `count` pool names no account has: a refill goes on with the pool's own numbering."""
    fresh, number = [], 1
    while len(fresh) < count:
        if pool_username(number) not in taken:
            fresh.append(pool_username(number))
        number += 1
    return fresh


def _free(sandbox: Sandbox, count: int, refill: int) -> tuple[list[str], Credentials, dict]:
    """The pool's free accounts (under the leases lock), grown in one bulk run by `refill` accounts (or
    what is missing, if more) when fewer than `count` are free; with the credentials and the ledger."""
    from ..provision.provisioner import Provisioner

    ledger = _ledger(sandbox)
    creds = Credentials.load(sandbox.state)
    free = _unretired(creds, ledger)
    if len(free) < count:
        prov = Provisioner(sandbox)
        fresh = fresh_names(set(creds.accounts), max(refill, count - len(free)))
        prov.bulk_tokens(fresh)
        for name in fresh:
            prov.creds.set_account(replace(prov.creds.account(name), pool=True))
        prov.creds.save()
        creds = Credentials.load(sandbox.state)
        free = _unretired(creds, ledger)
    return free, creds, ledger


def ensure_free(sandbox: Sandbox, count: int, refill: int = DEFAULT_REFILL) -> int:
    """Grow the pool now so that at least `count` accounts are free (before a timed or parallel run)."""
    with sandbox.state.lock("leases"):
        return len(_free(sandbox, count, refill)[0])


def lease(sandbox: Sandbox, count: int = 1, holder: str = "", refill: int = DEFAULT_REFILL) -> list[Lease]:
    """`count` accounts no test has had before, with a working token each; when the pool runs short it
    grows by `refill` accounts (or what is missing, if more) in one bulk run."""
    if count < 1:
        raise SandboxError("lease at least one account")
    with sandbox.state.lock("leases"):
        free, creds, ledger = _free(sandbox, count, refill)
        chosen = free[:count]
        for name in chosen:
            ledger["retired"][name] = {"holder": holder, "pid": os.getpid()}
        sandbox.state.write_json(sandbox.state.leases_file, ledger)
    out = []
    for name in chosen:
        acct = creds.account(name)
        out.append(Lease(name, acct.id or "", acct.email or "", creds.token(name, "bulk", BULK_SCOPES).access_token,
                         acct.password))
    return out
