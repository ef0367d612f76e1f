"""Isolated accounts for tests, leased from the sandbox's pool under a lock held on the host (not in the
sandbox's Redis, which a reset would wipe): no two tests, in any process or xdist worker, ever get the
same account, and a used account is retired, never handed out again. An empty pool is refilled in bulk
(one Rails runner for many accounts); the ledger lives in the state folder and goes back with a snapshot."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from ..errors import SandboxError
from ..handle import Sandbox
from ..provision.bulk import BULK_SCOPES  # what the pool's tokens carry
from .settings import DEFAULT_REFILL



@dataclass(frozen=True)
class Lease:
    username: str
    id: str
    email: str
    token: str
    password: str | None


def _ledger(sandbox: Sandbox) -> dict:
    path = sandbox.state.leases_file
    return json.loads(path.read_text()) if path.exists() else {"retired": {}}


def _pool_names(creds) -> list[str]:
    return sorted(n for n, rec in creds.accounts.items() if rec.get("pool"))


def _free(sandbox: Sandbox, count: int, refill: int) -> tuple[list[str], object, dict]:
    """The pool's free accounts (under the leases lock), grown in one bulk run by `refill` accounts (or
    what is missing, if more) when fewer than `count` are free; with the credentials and the ledger."""
    from ..provision.credentials import Credentials
    from ..provision.provisioner import Provisioner

    ledger = _ledger(sandbox)
    creds = Credentials.load(sandbox.state)
    free = [n for n in _pool_names(creds) if n not in ledger["retired"] and creds.token(n, "bulk", BULK_SCOPES)]
    if len(free) < count:
        prov = Provisioner(sandbox)
        taken = set(creds.accounts)
        fresh, i = [], 1
        while len(fresh) < max(refill, count - len(free)):
            name = f"pool_{i:03d}"
            if name not in taken:
                fresh.append(name)
            i += 1
        prov.bulk_tokens(fresh)
        for name in fresh:
            prov.creds.set_account(name, pool=True)
        prov.creds.save()
        creds = Credentials.load(sandbox.state)
        free = [n for n in _pool_names(creds) if n not in ledger["retired"] and creds.token(n, "bulk", BULK_SCOPES)]
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
        rec = creds.account(name) or {}
        out.append(Lease(name, str(rec.get("id", "")), rec.get("email", ""), creds.token(name, "bulk", BULK_SCOPES)["access_token"],
                         rec.get("password")))
    return out
