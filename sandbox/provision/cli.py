"""`mastodon-sandbox accounts list|create` and `mastodon-sandbox token USER`.

Each handler takes the parsed arguments and returns an exit code; problems are SandboxErrors (one line).
Only `token` prints a secret, because printing it is its job.
"""

from __future__ import annotations

import argparse
import sys

from ..handle import Sandbox
from .accounts import has_password, list_accounts
from .apps import loopback_uri
from .credentials import FLOWS, Credentials, usercred_path
from .oauth import OOB
from .provisioner import Provisioner


def add_commands(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """`common` is the CLI's parent parser with the options every command takes (--name)."""
    accounts = subparsers.add_parser("accounts", help="the sandbox's accounts")
    sub = accounts.add_subparsers(dest="accounts_command", required=True)

    p = sub.add_parser("list", parents=[common], help="saved accounts (no passwords)")
    p.set_defaults(func=cmd_accounts_list)

    p = sub.add_parser("create", parents=[common], help="create an account with tootctl (or reuse the saved one)")
    p.add_argument("username", metavar="USERNAME", help="the new account's username (letters, digits, _)")
    p.add_argument("--role", help="a Mastodon role name: Owner, Admin, Moderator")
    p.add_argument("--reset-password", action="store_true",
                   help="give it a new password (tootctl accounts modify --reset-password); revokes its tokens")
    p.set_defaults(func=cmd_accounts_create)

    p = subparsers.add_parser("token", parents=[common], help="print a working access token for an account")
    p.add_argument("username", metavar="USERNAME", help="the account: a named one (alice), a pool or seed account")
    p.add_argument("--flow", choices=FLOWS, help="code (default), password-grant (servers <= 4.3), client (app token), bulk")
    p.add_argument("--scopes", help="space- or comma-separated scopes (default: read write follow push, +admin for staff)")
    p.add_argument("--redirect", choices=("oob", "loopback"), default="oob", help="redirect URI kind for --flow code")
    p.add_argument("--new", action="store_true", help="mint a new token even if a saved one works")
    p.set_defaults(func=cmd_token)


def cmd_accounts_list(args: argparse.Namespace) -> int:
    state = Sandbox.open(args.name).state
    creds = Credentials.load(state)
    rows = list_accounts(creds)
    if not rows:
        print("no accounts saved yet: run `mastodon-sandbox up`", file=sys.stderr)
        return 0
    print(f"{'USERNAME':<16} {'ROLE':<10} {'ID':<20} {'EMAIL':<32} {'PASSWORD':<8} TOKENS")
    for r in rows:
        flows = sorted({t.flow for t in creds.tokens_of(r.username)})
        print(f"{r.username:<16} {r.role or '-':<10} {r.id or '-':<20} {r.email or '-':<32} "
              f"{'saved' if r.password else 'none':<8} {','.join(flows) or '-'}")
    print(f"passwords and tokens: {state.credentials_file}", file=sys.stderr)
    return 0


def cmd_accounts_create(args: argparse.Namespace) -> int:
    sandbox = Sandbox.open(args.name)
    state = sandbox.state
    prov = Provisioner(sandbox)
    existed = has_password(prov.creds, args.username)
    rec = prov.ensure_account(args.username, args.role, reset_password=args.reset_password)
    what = "password reset (its tokens were revoked)" if args.reset_password else ("reused" if existed else "created")
    if args.reset_password and prov.named(args.username):
        prov.token(args.username)  # the reset revoked its default token: mint the one `env` and the .secret file give
        what += "; its default token was minted again"
    print(f"{rec.username} <{rec.email}>: {what}; password saved in {state.credentials_file}")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    sandbox = Sandbox.open(args.name)
    state = sandbox.state
    prov = Provisioner(sandbox)
    scopes = " ".join(args.scopes.replace(",", " ").split()) if args.scopes else None
    redirect = loopback_uri() if args.redirect == "loopback" else OOB
    rec = prov.token(args.username, args.flow, scopes, redirect_uri=redirect, reuse=not args.new)
    print(rec.access_token)
    if prov.creds.default_token(args.username) == rec:  # the token the .secret file holds
        print(f"Mastodon.py: Mastodon(access_token={str(usercred_path(state, args.username))!r})", file=sys.stderr)
    return 0
