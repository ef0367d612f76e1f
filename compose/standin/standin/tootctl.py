"""tootctl (lib/mastodon/cli/*.rb, Thor): the subset the sandbox uses, with the same arguments, output lines,
stderr messages and exit codes as Mastodon v4.6.5."""
from __future__ import annotations

import secrets
import sys
from dataclasses import dataclass, field

from . import accounts, config


class CliError(Exception):
    """Thor::Error: bin/tootctl prints the message on stderr and exits 1."""


@dataclass
class Spec:
    positional: list[str]                       # names; a trailing '?' marks an optional one
    options: dict[str, str] = field(default_factory=dict)  # name -> 'string' | 'boolean' | 'numeric'
    required: tuple[str, ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)


SPECS: dict[tuple[str, ...], Spec] = {
    ("accounts", "create"): Spec(["USERNAME"], {"email": "string", "confirmed": "boolean", "role": "string",
                                                "reattach": "boolean", "force": "boolean", "approve": "boolean"},
                                 required=("email",)),
    ("accounts", "modify"): Spec(["USERNAME"], {"role": "string", "remove_role": "boolean", "email": "string",
                                                "confirm": "boolean", "enable": "boolean", "disable": "boolean",
                                                "disable_2fa": "boolean", "approve": "boolean",
                                                "reset_password": "boolean"}),
    ("accounts", "delete"): Spec(["USERNAME?"], {"email": "string", "dry_run": "boolean"}),
    ("accounts", "approve"): Spec(["USERNAME?"], {"all": "boolean", "number": "numeric"}, aliases={"n": "number"}),
    ("settings", "registrations", "open"): Spec([]),
    ("settings", "registrations", "approved"): Spec([], {"require_reason": "boolean"},
                                                    aliases={"require_invite_text": "require_reason"}),
    ("settings", "registrations", "close"): Spec([]),
    ("cache", "clear"): Spec([]),
    ("version",): Spec([]),
}
NAMESPACES = {"accounts", "settings", "cache", "version", "settings registrations"}


def parse(argv: list[str]) -> tuple[tuple[str, ...], list[str], dict]:
    """Thor-style parsing: subcommand path, positional arguments, options (--x V, --x=V, --no-x, -n V)."""
    path: tuple[str, ...] = ()
    rest = list(argv)
    while rest and not rest[0].startswith("-"):
        cand = path + (rest[0],)
        if cand in SPECS or any(k[:len(cand)] == cand for k in SPECS):
            path = cand
            rest.pop(0)
            if path in SPECS:
                break
        else:
            break
    if path not in SPECS:
        if rest and not rest[0].startswith("-"):
            raise CliError(f'Could not find command "{rest[0]}".')
        raise CliError("usage: " + help_text(path))
    spec = SPECS[path]
    opts: dict = {}
    pos: list[str] = []
    i = 0
    while i < len(rest):
        a = rest[i]
        if a.startswith("-") and a != "-":
            name, _, val = a.lstrip("-").partition("=")
            name = name.replace("-", "_")
            negate = False
            if name not in spec.options and name not in spec.aliases and name.startswith("no_"):
                name, negate = name[3:], True
            name = spec.aliases.get(name, name)
            kind = spec.options.get(name)
            if kind is None:
                # Mastodon's Thor commands do not check_unknown_options!: an unknown switch stays an argument
                # (seen on v4.6.5: `accounts approve --bogus` looks up an account named --bogus).
                pos.append(a)
                i += 1
                continue
            if kind == "boolean":
                opts[name] = not negate if not val else val.lower() in ("true", "yes", "1")
            else:
                if not val:
                    if i + 1 >= len(rest) or rest[i + 1].startswith("--"):
                        raise CliError(f"No value provided for option '--{name.replace('_', '-')}'")
                    i += 1
                    val = rest[i]
                opts[name] = int(val) if kind == "numeric" else val
        else:
            pos.append(a)
        i += 1
    missing = [r for r in spec.required if r not in opts]
    if missing:
        raise CliError("No value provided for required options " +
                       ", ".join(f"'--{m.replace('_', '-')}'" for m in missing))
    needed = [p for p in spec.positional if not p.endswith("?")]
    if len(pos) < len(needed) or len(pos) > len(spec.positional):
        # Thor's arity error, as recorded on v4.6.5 (`version --bogus`, `accounts modify x --bogus=1`)
        cmd = " ".join(path)
        usage = " ".join([f"tootctl {cmd}"] + [f"[{p[:-1]}]" if p.endswith("?") else p for p in spec.positional])
        called = "with no arguments" if not pos else "with arguments [" + ", ".join(f'"{p}"' for p in pos) + "]"
        raise CliError(f'ERROR: "tootctl {cmd}" was called {called}\nUsage: "{usage}"')
    return path, pos, opts


def help_text(prefix: tuple[str, ...] = ()) -> str:
    lines = ["Commands:"]
    for k in SPECS:
        if k[:len(prefix)] == prefix:
            lines.append("  tootctl " + " ".join(k))
    return "\n".join(lines)


def format_errors(errors: list[tuple[str, str]]) -> str:
    """Mastodon::CLI::Base#report_errors."""
    return "".join(f"Failure/Error: {attr}\n    {typ}\n" for attr, typ in errors).rstrip("\n")


class Tootctl:
    def __init__(self, cfg: config.Config, out=None):
        self.cfg = cfg
        self.out = out or sys.stdout
        self._conn = None

    @property
    def conn(self):
        if self._conn is None:
            from .db import connect
            self._conn = connect(self.cfg)
        return self._conn

    def say(self, s: str) -> None:
        self.out.write(s + "\n")
        self.out.flush()

    def run(self, argv: list[str]) -> int:
        path, pos, opts = parse(argv)
        getattr(self, "cmd_" + "_".join(path))(*pos, **opts)
        return 0

    # ---- accounts (lib/mastodon/cli/accounts.rb)
    def cmd_accounts_create(self, username: str, email: str, confirmed: bool = False, role: str | None = None,
                            reattach: bool = False, force: bool = False, approve: bool = False) -> None:
        role_id = None
        if role:
            r = accounts.role_by_name(self.conn, role)
            if r is None:
                raise CliError("Cannot find user role with that name")
            role_id = r["id"]
        reattach_id = None
        if reattach:
            # Account.find_local(username) || Account.new: an account without a user is reused as it is
            existing = accounts.find_local(self.conn, username)
            if existing and existing["user_id"]:
                if not force:
                    self.say("The chosen username is currently in use")
                    self.say("Use --force to reattach it anyway and delete the other user")
                    return
                accounts.delete_local(self.conn, existing["id"], reserve_username=False)
            elif existing:
                reattach_id = existing["id"]
        try:
            created = accounts.create_local(self.cfg, self.conn, username, email, confirmed=confirmed,
                                            approve=approve, role_id=role_id, reattach_account_id=reattach_id)
        except accounts.ValidationFailed as e:
            raise CliError(format_errors(e.errors)) from None
        self.say("OK")
        self.say(f"New password: {created.password}")

    def cmd_accounts_modify(self, username: str, role: str | None = None, remove_role: bool = False,
                            email: str | None = None, confirm: bool = False, enable: bool = False,
                            disable: bool = False, disable_2fa: bool = False, approve: bool = False,
                            reset_password: bool = False) -> None:
        acct = accounts.find_local(self.conn, username)
        if acct is None or acct["user_id"] is None:
            raise CliError("No user with such username")
        uid = acct["user_id"]
        sets: dict = {}
        if role:
            r = accounts.role_by_name(self.conn, role)
            if r is None:
                raise CliError("Cannot find user role with that name")
            sets["role_id"] = r["id"]
        elif remove_role:
            sets["role_id"] = None
        if email:
            confirmed = accounts.user_by_id(self.conn, uid)["confirmed_at"] is not None
            errs = accounts.email_errors(self.cfg, self.conn, email, user_id=uid, confirmed=confirmed)
            if errs:
                raise CliError(format_errors(errs))
            accounts.request_email_change(self.cfg, self.conn, uid, email)
        if enable:
            sets["disabled"] = False
        if disable:
            sets["disabled"] = True
        if disable_2fa:
            sets["otp_required_for_login"] = False
        password = None
        if reset_password:
            password = secrets.token_hex(16)
            accounts.change_password(self.cfg, self.conn, uid, password)
        if approve:
            sets["approved"] = True  # `user.approved = true` then save (not approve!)
        if sets:
            cols = ", ".join(f"{k} = %s" for k in sets)
            self.conn.execute(f"UPDATE users SET {cols}, updated_at = now() WHERE id = %s", (*sets.values(), uid))
        if confirm:
            accounts.confirm(self.cfg, self.conn, uid)
        self.say("OK")
        if reset_password:
            self.say(f"New password: {password}")

    def cmd_accounts_delete(self, username: str | None = None, email: str | None = None,
                            dry_run: bool = False) -> None:
        if username and email:
            raise CliError("Use username or --email, not both")
        if not username and not email:
            raise CliError("No username provided")
        if username:
            acct = accounts.find_local(self.conn, username)
            if acct is None:
                raise CliError("No user with such username")
        else:
            acct = self.conn.execute("SELECT a.* FROM accounts a JOIN users u ON u.account_id = a.id "
                                     "WHERE u.email = %s", (email,)).fetchone()
            if acct is None:
                raise CliError("No user with such email")
        suffix = " (DRY RUN)" if dry_run else ""
        self.say(f"Deleting user with 0 statuses, this might take a while...{suffix}")
        if not dry_run:
            accounts.delete_local(self.conn, acct["id"])
        self.say(f"OK{suffix}")

    def cmd_accounts_approve(self, username: str | None = None, all: bool = False,  # noqa: A002
                             number: int | None = None) -> None:
        if number is not None and number < 0:
            raise CliError("Number must be positive")  # checked first (fail_with_message)
        if all:
            for row in self.conn.execute("SELECT id FROM users WHERE NOT approved").fetchall():
                accounts.approve(self.cfg, self.conn, row["id"])
        elif number is not None and number > 0:
            for row in self.conn.execute("SELECT id FROM users WHERE NOT approved ORDER BY created_at LIMIT %s",
                                         (number,)).fetchall():
                accounts.approve(self.cfg, self.conn, row["id"])
        elif username:
            acct = accounts.find_local(self.conn, username)
            if acct is None:
                raise CliError("No such account")
            if acct["user_id"]:
                accounts.approve(self.cfg, self.conn, acct["user_id"])
        elif number is not None and number < 0:
            raise CliError("Number must be positive")
        else:
            return  # lib/mastodon/cli/accounts.rb#approve: nothing asked, nothing said, exit 0
        self.say("OK")

    # ---- settings (lib/mastodon/cli/settings.rb)
    def cmd_settings_registrations_open(self) -> None:
        from .db import set_setting
        set_setting(self.conn, "registrations_mode", "open")
        self.say("OK")

    def cmd_settings_registrations_approved(self, require_reason: bool | None = None) -> None:
        from .db import set_setting
        set_setting(self.conn, "registrations_mode", "approved")
        # lib/mastodon/cli/settings.rb: the setting changes only when --require-reason/--no-require-reason is given
        if require_reason is not None:
            set_setting(self.conn, "require_invite_text", "true" if require_reason else "false")
        self.say("OK")

    def cmd_settings_registrations_close(self) -> None:
        from .db import set_setting
        set_setting(self.conn, "registrations_mode", "none")
        self.say("OK")

    # ---- cache (lib/mastodon/cli/cache.rb) and version
    def cmd_cache_clear(self) -> None:
        from .jobs import cache_clear
        cache_clear(self.cfg)
        self.say("OK")

    def cmd_version(self) -> None:
        self.say(self.cfg.version)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    cfg = config.load()
    if not argv or argv[0] in ("help", "-h", "--help"):
        print(help_text(tuple(argv[1:])))
        return 0
    if argv[0] in ("--version", "-v"):  # bin/tootctl: map %w(--version -v) => :version
        argv = ["version"]
    config.boot_check(cfg)
    try:
        return Tootctl(cfg).run(argv)
    except CliError as e:
        sys.stderr.write(str(e) + "\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
