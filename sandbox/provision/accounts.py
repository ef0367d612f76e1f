"""Named accounts: created with tootctl, their passwords captured and saved, reused on every run."""

from __future__ import annotations

from dataclasses import replace

from .. import server_commands
from ..config import Account as AccountSpec
from ..config import SandboxConfig
from ..errors import SandboxError
from .credentials import Account, Credentials
from .tootctl import Executor, TootctlResult, run, run_batch

# Local usernames must match /\A[a-z0-9_]+\z/i, at most 30 characters (app/models/account.rb).
USERNAME_OK = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def check_username(username: str) -> None:
    if not username or len(username) > 30 or not set(username.lower()) <= USERNAME_OK:
        raise SandboxError(
            f"bad username {username!r}: Mastodon allows only letters, digits and underscores (at most 30)"
        )


def email_for(config: SandboxConfig, username: str) -> str:
    return f"{username}@{config.email_domain}"


def has_password(creds: Credentials, username: str) -> bool:
    saved = creds.account(username)
    return bool(saved and saved.password)


def ensure_account(
    config: SandboxConfig, stack: Executor, creds: Credentials, account: AccountSpec, *, reset_password: bool = False
) -> Account:
    """The saved record of `account`, creating it with tootctl if the state has none.

    Existing credentials are reused untouched; `reset_password` runs `tootctl accounts modify --reset-password`,
    which also revokes every token of the account (User#change_password! -> revoke_access!)."""
    check_username(account.username)
    rec = creds.account(account.username)
    email = email_for(config, account.username)
    if rec and rec.password and not reset_password:
        return rec
    if reset_password:
        return reset_account_password(stack, creds, account.username, email=email, role=account.role)
    result = run(stack, server_commands.accounts_create(account.username, email, account.role))
    return _save_created(creds, account, email, result)


def ensure_accounts(config: SandboxConfig, stack: Executor, creds: Credentials, accounts: list[AccountSpec]) -> list[Account]:
    """Every account the state has no password for, created by tootctl in ONE Rails boot (tootctl_batch);
    saved ones are reused untouched. Each is saved as soon as its answer is read."""
    for account in accounts:
        check_username(account.username)
    missing = [a for a in accounts if not has_password(creds, a.username)]
    if len(missing) > 1:
        commands = [server_commands.accounts_create(a.username, email_for(config, a.username), a.role) for a in missing]
        failures = []
        for account, result in zip(missing, run_batch(stack, commands)):
            try:
                _save_created(creds, account, email_for(config, account.username), result)
            except SandboxError as e:
                failures.append(str(e))
        if failures:
            raise SandboxError("; ".join(failures))
    return [ensure_account(config, stack, creds, a) for a in accounts]


def _save_created(creds: Credentials, account: AccountSpec, email: str, result: TootctlResult) -> Account:
    if not result.ok:
        if "username taken" in (result.error or ""):
            raise SandboxError(
                f"the account {account.username} exists on the server but the sandbox has no password for it: "
                f"run `mastodon-sandbox accounts create {account.username} --reset-password` (this revokes its tokens)"
            )
        raise SandboxError(f"creating the account {account.username} failed: {result.error}")
    if not result.password:
        raise SandboxError(f"tootctl created {account.username} but printed no `New password:` line: check the web service logs")
    known = creds.account(account.username) or Account(account.username)
    rec = creds.set_account(replace(known, email=email, password=result.password, role=account.role))
    creds.save()  # at once: the password exists nowhere else
    return rec


def reset_account_password(stack: Executor, creds: Credentials, username: str, email: str | None = None,
                           role: str | None = None) -> Account:
    result = run(stack, server_commands.accounts_reset_password(username))
    if not result.ok or not result.password:
        raise SandboxError(f"resetting the password of {username} failed: {result.error or 'no `New password:` line'}")
    known = creds.account(username) or Account(username, role=role)
    rec = creds.set_account(replace(known, password=result.password, email=known.email or email))
    # The server revoked every token of the account: forget them, so nothing hands out a dead token.
    creds.drop_tokens(username)
    creds.save()
    return rec


def list_accounts(creds: Credentials) -> list[Account]:
    accounts = creds.accounts
    return [accounts[name] for name in sorted(accounts)]
