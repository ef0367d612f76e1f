"""What a sandbox is: its name, server, Mastodon version, address and storage, fixed at creation.

Settings come from the command line or `SANDBOX_*` environment variables when a sandbox is created,
and from its saved `config.json` afterwards: a domain cannot change once Mastodon holds data, so
`up` on an existing sandbox keeps what it was created with (a newer version is the one exception:
an upgrade, which Mastodon's migrations handle).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .errors import SandboxError

SERVERS = ("official", "source", "standin")
S3_BACKENDS = ("minio", "seaweedfs", "local")
# The roles Mastodon seeds (config/roles.yml, db/seeds/03_roles.rb); others are made by an admin first.
DEFAULT_ROLES = ("Owner", "Admin", "Moderator")
MAX_POOL_SIZE = 500
# Local usernames: /\A[a-z0-9_]+\z/i, at most 30 characters (app/models/account.rb, UsernameValidator).
USERNAME_RE = re.compile(r"[A-Za-z0-9_]{1,30}")
# A host name of dot-separated labels with a letter in its last one (a domain Mastodon can mail).
EMAIL_DOMAIN_RE = re.compile(r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
REGISTRATION_MODES = ("none", "approved", "open")
# A sandbox's name is its state folder's name and ends its compose project's, mastodon-sandbox-NAME (Compose
# allows lower-case letters, digits, - and _, starting with a letter or digit): nothing that makes a path.
SANDBOX_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
# A sandbox's own domain: one DNS label under localhost, the only names the sandbox CAs may vouch for
# (sandbox/tls.py). No port: remote mentions name a host without one (Account::MENTION_RE,
# app/models/account.rb), so a federating instance is served on 443 of a loopback address of its own.
HOSTNAME_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.localhost")
LOOPBACK_RE = re.compile(r"127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})")


def check_hostname(hostname: str, port: int = 443) -> None:
    """A sandbox's own domain, one line when it cannot be one."""
    if not hostname:
        return
    if ":" in hostname:
        raise SandboxError(f"bad domain {hostname!r}: a sandbox's own domain carries no port (Mastodon's mentions, "
                           "@user@host, cannot name one); it is served on 443 of a loopback address of its own")
    if not HOSTNAME_RE.fullmatch(hostname):
        raise SandboxError(f"bad domain {hostname!r}: the sandbox CA vouches only for names under localhost; "
                           "use NAME.localhost (letters, digits and dashes)")
    if port != 443:
        raise SandboxError(f"a sandbox with its own domain ({hostname}) is served on port 443 of its own address: leave --port out")


def group_network(group: str) -> str:
    """The Docker network a federation group's members share (sandbox/federation/group.py makes it)."""
    return f"mastodon-sandbox-group-{group}"


def check_group_name(group: str) -> str:
    if not SANDBOX_NAME_RE.fullmatch(group):
        raise SandboxError(f"bad group name {group!r}: use 1-40 lower-case letters, digits, - and _, starting with a letter or digit")
    return group


def check_name(name: str) -> str:
    """`name` when it can name a sandbox; one line otherwise. Every command checks it (State and SandboxConfig
    do), reading ones too, so that no name walks into another folder."""
    if not isinstance(name, str) or not SANDBOX_NAME_RE.fullmatch(name):
        shown = repr(name) if len(repr(name)) <= 50 else repr(name)[:40] + "..."
        raise SandboxError(f"bad sandbox name {shown}: use 1-40 lower-case letters, digits, - and _, starting with a letter or digit")
    return name


@dataclass(frozen=True)
class MastodonRelease:
    """One pinned Mastodon release and the differences the harness must handle."""

    version: str  # e.g. "4.6.5"
    # OTP_SECRET was removed in 4.4.0 (mastodon/mastodon CHANGELOG.md 4.4.0, #34743).
    needs_otp_secret: bool
    # The password grant was removed in 4.4.0 (#30960); the harness still asks the server
    # (grant_types_supported), this only tells the stand-in what to offer.
    password_grant: bool
    # How long Rails trusts a database connection used that recently without checking it (seconds): a
    # connection a snapshot's swap ended must not be used sooner, or the query fails with a 500 instead of
    # reconnecting. activerecord 8.1.3 (Mastodon 4.6.5): 2 s, `verify_timeout` in abstract_adapter.rb
    # `with_raw_connection`; activerecord 7.1.6 (4.3.23) checks every connection it hands out: 0. 4.4 and
    # 4.5 are not checked here: 2 s, the longer wait, is assumed.
    db_verify_timeout: float = 2.0

    @property
    def series(self) -> str:
        return ".".join(self.version.split(".")[:2])

    @property
    def tag(self) -> str:
        return f"v{self.version}"

    def key(self) -> tuple[int, ...]:
        return tuple(int(p) for p in self.version.split("."))


# The newest patch release of each supported series (mastodon/mastodon CHANGELOG.md).
RELEASES: dict[str, MastodonRelease] = {
    r.series: r
    for r in (
        MastodonRelease("4.6.5", needs_otp_secret=False, password_grant=False),
        MastodonRelease("4.5.15", needs_otp_secret=False, password_grant=False),
        MastodonRelease("4.4.22", needs_otp_secret=False, password_grant=False),
        MastodonRelease("4.3.24", needs_otp_secret=True, password_grant=True, db_verify_timeout=0.0),
    )
}
# What the source server builds: the releases whose source, gems and git gem a source folder holds
# (sandbox/images/source.py SOURCE_RECIPES). No 4.3.24 source could be had, so 4.3 is 4.3.23 there.
SOURCE_RELEASES: dict[str, MastodonRelease] = {
    r.series: r
    for r in (
        MastodonRelease("4.6.5", needs_otp_secret=False, password_grant=False),
        MastodonRelease("4.3.23", needs_otp_secret=True, password_grant=True, db_verify_timeout=0.0),
    )
}
DEFAULT_VERSION = "4.6.5"


def release(version: str, server: str = "official") -> MastodonRelease:
    """The pinned release for '4.6', '4.6.5' or 'v4.6.5' on a server; an unknown version is an error."""
    table = SOURCE_RELEASES if server == "source" else RELEASES
    v = version.strip().lstrip("v")
    series = ".".join(v.split(".")[:2])
    rel = table.get(series)
    if rel is None or (v.count(".") == 2 and v != rel.version):
        known = ", ".join(r.version for r in table.values())
        where = " on the source server" if server == "source" else ""
        raise SandboxError(f"unknown Mastodon version {version!r}{where}: choose one of {known} (or a series such as {rel.series if rel else '4.6'})")
    return rel


@dataclass(frozen=True)
class Account:
    username: str
    role: str | None = None  # a Mastodon UserRole name: Owner, Admin, Moderator


DEFAULT_ACCOUNTS = (Account("admin", "Owner"), Account("alice"), Account("bob"))
# Before 4.4, tootctl checks Setting.reserved_usernames too (config/settings.yml; 4.4 bypasses it for
# tootctl): `admin` cannot be created there, so a 4.3 sandbox's Owner is `owner`.
RESERVED_BEFORE_4_4 = ("admin", "support", "help", "root", "webmaster", "administrator", "mod", "moderator")
DEFAULT_ACCOUNTS_4_3 = (Account("owner", "Owner"), Account("alice"), Account("bob"))


def default_accounts(version: str, server: str = "official") -> tuple[Account, ...]:
    return DEFAULT_ACCOUNTS_4_3 if release(version, server).key() < (4, 4) else DEFAULT_ACCOUNTS


@dataclass(frozen=True)
class SandboxConfig:
    name: str = "default"
    server: str = "official"
    version: str = DEFAULT_VERSION
    port: int = 443
    s3: str = "minio"
    email_domain: str = "example.test"
    registrations: str = "none"
    accounts: tuple[Account, ...] = ()  # empty: the version's defaults (default_accounts)
    pool_size: int = 8
    source_dir: str = ""  # the source server's folder (SANDBOX_MASTODON_SOURCE): README, "Mastodon from source"
    web_concurrency: int = 0  # Puma workers; 0 = one process (upstream's 2 workers cost ~300 MB more)
    max_threads: int = 5
    hostname: str = ""  # its own domain, e.g. b.localhost (served on address:443); empty: localhost[:port]
    group: str = ""  # the federation group it belongs to (sandbox/federation): one CA, one network
    address: str = "127.0.0.1"  # the loopback address its HTTPS port is published on

    def __post_init__(self) -> None:
        check_name(self.name)
        if self.server not in SERVERS:
            raise SandboxError(f"unknown server {self.server!r}: SANDBOX_SERVER is official, source or standin")
        if self.s3 not in S3_BACKENDS:
            raise SandboxError(f"unknown S3 backend {self.s3!r}: choose one of {', '.join(S3_BACKENDS)}")
        if self.registrations not in REGISTRATION_MODES:
            raise SandboxError(f"unknown registrations mode {self.registrations!r}: choose none, approved or open")
        if not 1 <= self.port <= 65535:
            raise SandboxError(f"bad port {self.port}: choose 1-65535")
        check_hostname(self.hostname, self.port)
        if self.group:
            check_group_name(self.group)
            if not self.hostname:
                raise SandboxError(f"a member of group {self.group!r} needs its own domain: add --domain NAME.localhost")
        match = LOOPBACK_RE.fullmatch(self.address)
        if not match or not all(0 <= int(n) <= 255 for n in match.groups()):
            raise SandboxError(f"bad address {self.address!r}: a sandbox listens on a loopback address, 127.0.0.1-127.255.255.254")
        if not self.accounts:  # release() also checks the version
            object.__setattr__(self, "accounts", default_accounts(self.version, self.server))
        else:
            release(self.version, self.server)
        if self.server == "source" and not self.source_dir:
            raise SandboxError(
                "the source server builds Mastodon from a folder: set SANDBOX_MASTODON_SOURCE (or --source) to one holding "
                "mastodon-vX.Y.Z.tar.gz, gems-X.Y.Z/, the webpush bundle and SHA256SUMS (README: Mastodon from source)"
            )

    @property
    def release(self) -> MastodonRelease:
        return release(self.version, self.server)

    @property
    def description(self) -> str:
        """What runs, in the words status, info and `make test` use."""
        v = self.release.version
        if self.server == "source":
            from .images.source import SOURCE_RECIPES  # the build recipe says how it differs (images/source.py)

            recipe = SOURCE_RECIPES.get(v)
            difference = recipe.difference if recipe else "no recipe for this version"
            return f"Mastodon {v} built from source (stock code; {difference})"
        if self.server == "standin":
            return f"the offline stand-in for Mastodon {v}: test equipment, not Mastodon"
        return f"official Mastodon images v{v}"

    @property
    def domain(self) -> str:
        """LOCAL_DOMAIN: Mastodon puts it in every URL, so a port other than 443 is part of it."""
        if self.hostname:
            return self.hostname
        return "localhost" if self.port == 443 else f"localhost:{self.port}"

    @property
    def host(self) -> str:
        """The domain without a port: the name its certificate is for."""
        return self.hostname or "localhost"

    @property
    def base_url(self) -> str:
        return f"https://{self.domain}"

    @property
    def project(self) -> str:
        """The compose project name: one per sandbox, so several run side by side."""
        return f"mastodon-sandbox-{self.name}"

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["accounts"] = [dataclasses.asdict(a) for a in self.accounts]
        return d

    @classmethod
    def from_json(cls, d: dict) -> "SandboxConfig":
        d = dict(d)
        d["accounts"] = tuple(Account(**a) for a in d.get("accounts", []))
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def check_settings(config: "SandboxConfig") -> None:
    """The settings a user gives, checked before anything is made (`up` runs this for a new sandbox and
    for changed settings; a saved sandbox is loaded as it was made). Each fault is one line."""
    if not 0 <= config.pool_size <= MAX_POOL_SIZE:
        raise SandboxError(f"bad pool size {config.pool_size}: choose 0-{MAX_POOL_SIZE}")
    if not EMAIL_DOMAIN_RE.fullmatch(config.email_domain):
        raise SandboxError(f"bad e-mail domain {config.email_domain!r}: use a domain such as example.test")
    for acct in config.accounts:
        if not USERNAME_RE.fullmatch(acct.username):
            raise SandboxError(f"bad username {acct.username!r}: Mastodon allows only letters, digits and underscores (at most 30)")
        if acct.role is not None and acct.role not in DEFAULT_ROLES:
            raise SandboxError(
                f"unknown role {acct.role!r} for {acct.username}: Mastodon's roles are {', '.join(DEFAULT_ROLES)}; a custom role "
                "is made by an admin (Administration > Roles), then given with `tootctl accounts modify NAME --role ROLE`"
            )
    reserved = [a.username for a in config.accounts if a.username.lower() in RESERVED_BEFORE_4_4]
    if reserved and config.release.key() < (4, 4):
        raise SandboxError(
            f"Mastodon {config.release.version} reserves the username {reserved[0]!r} (config/settings.yml reserved_usernames): "
            "choose another, e.g. --accounts owner:Owner,alice,bob"
        )
    if len({a.username.lower() for a in config.accounts}) != len(config.accounts):
        raise SandboxError("an account is named twice in the accounts setting")
    if config.server == "source" and not Path(config.source_dir).expanduser().is_dir():
        raise SandboxError(f"the Mastodon source folder {config.source_dir} does not exist (SANDBOX_MASTODON_SOURCE or --source)")


def parse_accounts(spec: str) -> tuple[Account, ...]:
    """'admin:Owner,alice,bob' -> accounts; a role follows a colon."""
    out = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        user, _, role = item.partition(":")
        out.append(Account(user, role or None))
    if not out:
        raise SandboxError("no accounts given: use a list such as admin:Owner,alice,bob")
    return tuple(out)


class BadValue(ValueError):
    """A setting's text that converts but is out of range; str() says what is allowed."""


def _port(raw: str) -> int:
    port = int(raw)
    if not 1 <= port <= 65535:
        raise BadValue("a port is 1-65535")
    return port


def _pool_size(raw: str) -> int:
    return int(raw)


def _folder(raw: str) -> str:
    return str(Path(raw).expanduser().resolve())


@dataclass(frozen=True)
class Setting:
    """One setting of a sandbox: its config field, its environment variable and its command-line option
    (one table, read by settings_from_env and by the CLI, so that the two can never disagree)."""

    field: str
    env: str
    flag: str
    convert: Callable[[str], Any]
    help: str
    choices: tuple[str, ...] | None = None


SETTINGS: tuple[Setting, ...] = (
    Setting("server", "SANDBOX_SERVER", "--server", str,
            "official Mastodon images (default), Mastodon built from source, or the offline stand-in", SERVERS),
    Setting("source_dir", "SANDBOX_MASTODON_SOURCE", "--source", _folder,
            "the source server's folder: Mastodon's source, gems and SHA256SUMS"),
    Setting("version", "SANDBOX_VERSION", "--version", str, "Mastodon version or series, e.g. 4.6.5 or 4.3"),
    Setting("port", "SANDBOX_PORT", "--port", _port,
            "HTTPS port on 127.0.0.1 (default 443; another makes the domain localhost:PORT)"),
    Setting("s3", "SANDBOX_S3", "--s3", str,
            "media storage (default minio; seaweedfs on the source server and the stand-in)", S3_BACKENDS),
    Setting("email_domain", "SANDBOX_EMAIL_DOMAIN", "--email-domain", str,
            "e-mail domain of the sandbox's accounts (default example.test)"),
    Setting("registrations", "SANDBOX_REGISTRATIONS", "--registrations", str,
            "who may sign up: none (registrations closed, the default, as on a fresh Mastodon), approved "
            "(sign-ups wait for a moderator) or open", REGISTRATION_MODES),
    Setting("accounts", "SANDBOX_ACCOUNTS", "--accounts", parse_accounts, "named accounts, e.g. admin:Owner,alice,bob"),
    Setting("pool_size", "SANDBOX_POOL_SIZE", "--pool-size", _pool_size,
            "extra accounts for test isolation (default 8)"),
    Setting("hostname", "SANDBOX_DOMAIN", "--domain", str,
            "the sandbox's own domain, NAME.localhost, served on 443 of a loopback address of its own (needed to federate)"),
    Setting("group", "SANDBOX_GROUP", "--group", str,
            "the federation group to join (made with its first member): one CA and one network for all of them"),
)
SETTINGS_BY_FIELD = {s.field: s for s in SETTINGS}


def convert_setting(setting: Setting, raw: str, given_as: str) -> Any:
    """A setting's value from text; a one-line error naming where it came from."""
    if setting.choices and raw not in setting.choices:
        raise SandboxError(f"bad value for {given_as}: {raw!r} (choose {', '.join(setting.choices)})")
    try:
        return setting.convert(raw)
    except BadValue as e:
        raise SandboxError(f"bad value for {given_as}: {raw!r} ({e})") from None
    except ValueError:
        raise SandboxError(f"bad value for {given_as}: {raw!r}") from None


def settings_from_env(environ: dict | None = None) -> dict:
    """The settings given by SANDBOX_* variables (empty values are ignored). SANDBOX_NAME is not one:
    it chooses the sandbox (the CLI's --name)."""
    environ = os.environ if environ is None else environ
    out = {}
    for setting in SETTINGS:
        raw = environ.get(setting.env, "").strip()
        if raw:
            out[setting.field] = convert_setting(setting, raw, setting.env)
    return out


def state_root(environ: dict | None = None) -> Path:
    """The state folder, holding one folder per sandbox: $SANDBOX_STATE_DIR (the CLI's --state-dir sets it),
    else ./.sandbox (git-ignored)."""
    environ = os.environ if environ is None else environ
    return Path(environ.get("SANDBOX_STATE_DIR") or Path.cwd() / ".sandbox").resolve()


def compose_dir() -> Path:
    """The compose files and image recipes: $SANDBOX_COMPOSE_DIR, else this checkout's compose/, else the
    copy an installed package carries (pyproject.toml ships compose/ as sandbox/_compose)."""
    override = os.environ.get("SANDBOX_COMPOSE_DIR")
    if override:
        return Path(override)
    here = Path(__file__).resolve().parent
    checkout = here.parent / "compose"
    return checkout if (checkout / "base.yml").is_file() else here / "_compose"


# --- the settings as command-line options (every command that takes some builds them from the table) ---

def add_setting_options(parser: argparse.ArgumentParser, *fields: str) -> None:
    """Command-line options for sandbox settings, from the one table in config.SETTINGS."""
    for field in fields:
        s = SETTINGS_BY_FIELD[field]
        metavar = "{" + ",".join(s.choices) + "}" if s.choices else field.upper()
        parser.add_argument(s.flag, dest=field, metavar=metavar, help=f"{s.help} (${s.env})")


def requested_settings(args: argparse.Namespace, *fields: str) -> dict:
    """Settings for `up` (or the `fields` named): SANDBOX_* variables, overridden by command-line options,
    both converted and checked the same way."""
    settings = settings_from_env()
    for field, setting in SETTINGS_BY_FIELD.items():
        raw = getattr(args, field, None)
        if raw is not None:
            settings[field] = convert_setting(setting, raw, setting.flag)
    return {k: v for k, v in settings.items() if not fields or k in fields}
